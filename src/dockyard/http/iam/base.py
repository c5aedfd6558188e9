"""What every IAM handler shares: the services, per-operation authorisation, entity ARNs.

Every IAM operation is authorised as ``iam:<Operation>`` on the ARN of the entity it acts on (with the
entity's real path when it exists), or on ``*`` for the account-wide list operations, in the caller's own
account. Authorisation comes before existence, so a caller who may not act learns nothing of what exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dockyard.domain.identity import iam_arn, root_arn
from dockyard.http.aws.endpoint import Handler
from dockyard.http.aws.errors import AwsError
from dockyard.services.access import Access, Caller
from dockyard.services.identity import IdentityService

_WORD = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(operation: str) -> str:
    """``CreateOpenIDConnectProvider`` → ``create_open_id_connect_provider``."""
    return _WORD.sub("_", operation).lower()


class IamHandlers:
    """Base of the handler groups: subclasses list their ``OPERATIONS`` and define ``snake(op)`` methods."""

    OPERATIONS: tuple[str, ...] = ()

    def __init__(self, identity: IdentityService, access: Access) -> None:
        self.identity = identity
        self.access = access

    def handlers(self) -> dict[str, Handler[Caller]]:
        return {operation: getattr(self, snake(operation)) for operation in self.OPERATIONS}

    async def authorize(self, caller: Caller, operation: str, resource: str = "*") -> None:
        await self.access.require(caller, f"iam:{operation}", resource)

    async def entity_arn(self, caller: Caller, kind: str, name: str) -> str:
        """The ARN of the user, group or role ``name`` of the caller's account (path ``/`` if absent)."""
        lookups = {
            "user": self.identity.store.get_user,
            "group": self.identity.store.get_group,
            "role": self.identity.store.get_role,
        }
        entity = await lookups[kind](caller.account, name)
        return entity.arn if entity is not None else iam_arn(caller.account, kind, "/", name)

    async def authorize_on(self, caller: Caller, operation: str, kind: str, name: str) -> None:
        await self.authorize(caller, operation, await self.entity_arn(caller, kind, name))

    async def key_owner(self, caller: Caller, params: Mapping[str, Any], operation: str) -> str | None:
        """The user an access-key operation acts on: ``UserName``, else the caller itself (None: root)."""
        name: str | None = params.get("UserName")
        if name is None:
            if caller.is_root:
                await self.authorize(caller, operation, root_arn(caller.account))
                return None
            name = caller.principal.username
            if name is None:
                raise AwsError(
                    "ValidationError", "Must specify userName when calling with non-User credentials"
                )
        await self.authorize_on(caller, operation, "user", name)
        return name
