"""ECS resource names: ARNs in the long format (the cluster's name inside task and container instance
ARNs, as ECS has written them since 2018) and the references the API accepts for each resource (a name or
id, or the full ARN)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.domain.ecs.errors import ClientError, InvalidParameter

_ARN = re.compile(r"^arn:aws:ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<kind>[a-z-]+)/(?P<rest>.+)\Z")
_ROLE_ARN = re.compile(
    r"^arn:aws:iam::(?P<account>\d{12}):role/(?:[\x21-\x7e]*/)?(?P<name>[\w+=,.@-]{1,64})\Z"
)
_FAMILY = re.compile(r"^[A-Za-z0-9_-]{1,255}\Z")
DEFAULT_CLUSTER = "default"


@dataclass(frozen=True, slots=True)
class EcsArns:
    """The ARNs of one account's ECS resources in one region."""

    region: str
    account: str

    def _arn(self, rest: str) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:{rest}"

    def cluster(self, name: str) -> str:
        return self._arn(f"cluster/{name}")

    def task_definition(self, family: str, revision: int | str) -> str:
        return self._arn(f"task-definition/{family}:{revision}")

    def container_instance(self, cluster: str, instance_id: str) -> str:
        return self._arn(f"container-instance/{cluster}/{instance_id}")

    def task(self, cluster: str, task_id: str) -> str:
        return self._arn(f"task/{cluster}/{task_id}")

    def container(self, cluster: str, task_id: str, container_id: str) -> str:
        return self._arn(f"container/{cluster}/{task_id}/{container_id}")


@dataclass(frozen=True, slots=True)
class TaskDefinitionRef:
    family: str
    revision: int | None  # None: the latest ACTIVE revision


def _parse(reference: str, kind: str, account: str) -> str | None:
    """The part after ``<kind>/`` of an ECS ARN of ``account``, or None when ``reference`` is no ARN."""
    if not reference.startswith("arn:"):
        return None
    match = _ARN.match(reference)
    if match is None or match["kind"] != kind:
        raise InvalidParameter(f"Invalid {kind} ARN: {reference}")
    if match["account"] != account:
        raise InvalidParameter(f"The {kind} ARN belongs to another account: {reference}")
    return match["rest"]


def cluster_name(reference: str | None, account: str) -> str:
    """The cluster a ``cluster`` parameter names (``default`` when absent)."""
    if not reference:
        return DEFAULT_CLUSTER
    return _parse(reference, "cluster", account) or reference


def task_definition_ref(reference: str, account: str) -> TaskDefinitionRef:
    """``family``, ``family:revision`` or a task definition ARN."""
    text = _parse(reference, "task-definition", account) or reference
    family, colon, revision = text.partition(":")
    if not colon:
        return TaskDefinitionRef(family, None)
    if not revision.isdigit() or int(revision) < 1:
        raise ClientError(f"Invalid revision number. Number: {revision}")
    return TaskDefinitionRef(family, int(revision))


def scoped_id(reference: str, kind: str, account: str) -> tuple[str | None, str]:
    """``(cluster name or None, id)`` of a task or container instance given by id or ARN (long format
    ``<kind>/<cluster>/<id>``, or the old ``<kind>/<id>``)."""
    rest = _parse(reference, kind, account)
    if rest is None:
        return None, reference
    cluster, slash, found = rest.rpartition("/")
    return (cluster if slash else None), found


def check_family(family: str) -> None:
    if _FAMILY.match(family) is None:
        raise ClientError(
            "Family must consist of up to 255 letters (uppercase and lowercase), numbers, hyphens, "
            "and underscores."
        )


def role_arn_account(role_arn: str) -> str | None:
    """The account of an IAM role ARN, or None when ``role_arn`` is not one."""
    match = _ROLE_ARN.match(role_arn)
    return None if match is None else match["account"]
