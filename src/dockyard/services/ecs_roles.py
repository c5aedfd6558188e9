"""The IAM roles ECS uses on a caller's behalf: may the caller pass them, will they trust ECS, and their
credentials when a node needs them.

* ``iam:PassRole``: registering a task definition with an execution or task role, running a task (its
  definition's roles and any override), and registering a container instance with an instance role all
  need the caller to be allowed ``iam:PassRole`` on each role, evaluated like every other IAM action
  (``iam:PassedToService`` is the service principal the role is passed to). A refusal is IAM's own
  AccessDenied text.
* Trust: task and execution roles are assumed by ``ecs-tasks.amazonaws.com``, instance roles by
  ``ec2.amazonaws.com``; the role's trust policy must allow that principal ``sts:AssumeRole``
  (:meth:`~dockyard.services.sts.StsService.assume_role_for_service`).
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.domain.ecs.errors import ClientError
from dockyard.domain.iam.context import PrincipalType
from dockyard.domain.identity import AccessDenied
from dockyard.services.access import Access, Caller
from dockyard.services.sts import StsService, TemporaryCredentials

TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"
INSTANCE_PRINCIPAL = "ec2.amazonaws.com"


def unable_to_assume(role_arn: str, what: str = "task") -> ClientError:
    return ClientError(
        f"ECS was unable to assume the role '{role_arn}' that was provided for this {what}. "
        "Please verify that the role being passed has the proper trust relationship and permissions "
        "and that your IAM user has permissions to pass this role."
    )


class RoleGate:
    def __init__(self, access: Access, sts: StsService) -> None:
        self.access = access
        self.sts = sts

    async def pass_roles(self, caller: Caller, roles: Iterable[str], service: str) -> None:
        """AccessDenied (IAM's message) unless ``caller`` may pass every role in ``roles`` to ``service``."""
        for role in dict.fromkeys(roles):
            await self.access.require(caller, "iam:PassRole", role, keys={"iam:PassedToService": service})

    async def pass_instance_role(self, caller: Caller, role: str) -> None:
        """:meth:`pass_roles` for a container instance's role, except for a session of that very role: an
        agent that signs as its instance role re-registers without passing anything it does not hold."""
        principal = caller.principal
        if principal.type is PrincipalType.ASSUMED_ROLE and principal.entity_arn == role:
            return
        await self.pass_roles(caller, [role], INSTANCE_PRINCIPAL)

    async def check_trust(self, role_arn: str, service: str, what: str = "task") -> None:
        """ECS's ClientException unless ``role_arn`` exists and trusts ``service``."""
        if not await self.sts.service_may_assume(service, role_arn):
            raise unable_to_assume(role_arn, what)

    async def credentials(self, role_arn: str, service: str, session_name: str) -> TemporaryCredentials:
        """An hour's credentials of ``role_arn`` as ``service`` gets them; AccessDenied when its trust
        policy no longer allows it."""
        try:
            return await self.sts.assume_role_for_service(service, role_arn, session_name)
        except AccessDenied:
            raise unable_to_assume(role_arn) from None
