"""SQL for IAM roles, access keys, STS sessions and OIDC providers, and what the identity stores share:
inserts refused by primary keys (``EntityAlreadyExists``, never a prior lookup) and named-entity reads.

:class:`~dockyard.metadata.iam_store.SqlIdentityStore` adds accounts, users and groups.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from dockyard.domain.identity import (
    AccessKey,
    DeleteConflict,
    EntityAlreadyExists,
    NoSuchEntity,
    OidcProvider,
    Role,
    Session,
)
from dockyard.metadata.base import SqlStore
from dockyard.metadata.iam_tables import (
    iam_access_keys,
    iam_attachments,
    iam_inline_policies,
    iam_oidc_providers,
    iam_roles,
    iam_sessions,
)
from dockyard.metadata.unit_sql import all_rows, changed, execute, first, rowcount

# The credential lookups every signed request makes, built once (values bound per call).
_KEY_BY_ID = select(iam_access_keys).where(iam_access_keys.c.access_key_id == bindparam("id"))
_SESSION_BY_ID = select(iam_sessions).where(iam_sessions.c.access_key_id == bindparam("id"))
_RESEAL_KEY = (
    update(iam_access_keys)
    .where(iam_access_keys.c.access_key_id == bindparam("key_id"))
    .values(secret=bindparam("sealed_secret"))
)
_RESEAL_SESSION = (
    update(iam_sessions)
    .where(iam_sessions.c.access_key_id == bindparam("key_id"))
    .values(secret=bindparam("sealed_secret"), token=bindparam("sealed_token"))
)


class IamSql(SqlStore):
    async def _insert_new(self, table: Any, what: str, **values: Any) -> None:
        try:
            await self._write_unit(execute, table.insert().values(**values))
        except IntegrityError:
            raise EntityAlreadyExists(f"{what} already exists.") from None

    async def _entity(self, table: Any, account_id: str, name: str) -> Any:
        """The row of one named user, group or role (the three share account, name and path columns)."""
        query = select(table).where(table.c.account_id == account_id, table.c.name == name)
        return await self._read_unit(first, query)

    async def _entities(self, table: Any, account_id: str, path_prefix: str) -> list[Any]:
        """An account's users, groups or roles under ``path_prefix``, by name (bytewise everywhere)."""
        query = (
            select(table)
            .where(table.c.account_id == account_id, table.c.path.startswith(path_prefix, autoescape=True))
            .order_by(self._lexical(table.c.name))
        )
        return await self._read_unit(all_rows, query)


class SqlCredentialStore(IamSql):
    # -- roles ----------------------------------------------------------------------------------------

    async def create_role(self, role: Role) -> None:
        await self._insert_new(
            iam_roles,
            f"Role with name {role.name}",
            account_id=role.account_id,
            name=role.name,
            path=role.path,
            role_id=role.role_id,
            trust_policy=role.trust_policy,
            description=role.description,
            max_session_duration=role.max_session_duration,
            tags=role.tags or None,
            created_at=role.created_at,
        )

    async def get_role(self, account_id: str, name: str) -> Role | None:
        row = await self._entity(iam_roles, account_id, name)
        return None if row is None else _role(row)

    async def list_roles(self, account_id: str, path_prefix: str = "/") -> list[Role]:
        return [_role(r) for r in await self._entities(iam_roles, account_id, path_prefix)]

    async def update_trust_policy(self, account_id: str, name: str, document: str) -> None:
        statement = (
            update(iam_roles)
            .where(iam_roles.c.account_id == account_id, iam_roles.c.name == name)
            .values(trust_policy=document)
        )
        if not await self._write_unit(changed, statement):
            raise NoSuchEntity(f"The role with name {name} cannot be found.")

    async def delete_role(self, account_id: str, name: str) -> None:
        await self._write_unit(_delete_role, account_id, name)

    # -- access keys ----------------------------------------------------------------------------------

    async def create_access_key(self, key: AccessKey, sealed_secret: bytes) -> None:
        await self._insert_new(
            iam_access_keys,
            f"Access key {key.access_key_id}",
            access_key_id=key.access_key_id,
            account_id=key.account_id,
            user_name=key.user_name,
            secret=sealed_secret,
            status=key.status,
            created_at=key.created_at,
        )

    async def list_access_keys(self, account_id: str, user_name: str | None) -> list[AccessKey]:
        query = (
            select(iam_access_keys)
            .where(_key_owner(account_id, user_name))
            .order_by(iam_access_keys.c.created_at, iam_access_keys.c.access_key_id)
        )
        rows = await self._read_unit(all_rows, query)
        return [AccessKey(r.access_key_id, r.account_id, r.user_name, r.status, r.created_at) for r in rows]

    async def access_key_secret(self, access_key_id: str) -> tuple[AccessKey, bytes] | None:
        r = await self._read_unit(first, _KEY_BY_ID, {"id": access_key_id})
        if r is None:
            return None
        return AccessKey(r.access_key_id, r.account_id, r.user_name, r.status, r.created_at), bytes(r.secret)

    async def set_access_key_status(
        self, account_id: str, user_name: str | None, access_key_id: str, status: str
    ) -> bool:
        statement = (
            update(iam_access_keys)
            .where(_key_owner(account_id, user_name), iam_access_keys.c.access_key_id == access_key_id)
            .values(status=status)
        )
        return await self._write_unit(changed, statement)

    async def delete_access_key(self, account_id: str, user_name: str | None, access_key_id: str) -> bool:
        statement = delete(iam_access_keys).where(
            _key_owner(account_id, user_name), iam_access_keys.c.access_key_id == access_key_id
        )
        return await self._write_unit(changed, statement)

    async def reseal_all(self, transform: Callable[[bytes], bytes]) -> int:
        """Rewrite every sealed secret (key secrets, session secrets and tokens) through ``transform``, in
        one transaction (key rotation); how many rows were rewritten. ``transform`` runs on the database
        writer's thread."""
        return await self._write_unit(_reseal_all, transform)

    # -- STS sessions ---------------------------------------------------------------------------------

    async def create_session(
        self, session: Session, sealed_secret: bytes, sealed_token: bytes, now: datetime
    ) -> None:
        await self._insert_new(
            iam_sessions,
            f"Session {session.access_key_id}",
            access_key_id=session.access_key_id,
            account_id=session.account_id,
            secret=sealed_secret,
            token=sealed_token,
            role_name=session.role_name,
            role_path=session.role_path,
            role_id=session.role_id,
            session_name=session.session_name,
            session_policy=session.session_policy,
            identity_provider=session.identity_provider,
            subject=session.subject,
            expires_at=session.expires_at,
            created_at=now,
        )

    async def session_secret(self, access_key_id: str) -> tuple[Session, bytes, bytes] | None:
        r = await self._read_unit(first, _SESSION_BY_ID, {"id": access_key_id})
        if r is None:
            return None
        session = Session(
            r.access_key_id,
            r.account_id,
            r.role_name,
            r.role_path,
            r.role_id,
            r.session_name,
            r.expires_at,
            r.session_policy,
            r.identity_provider,
            r.subject,
        )
        return session, bytes(r.secret), bytes(r.token)

    async def delete_expired_sessions(self, before: datetime) -> int:
        return await self._write_unit(
            rowcount, delete(iam_sessions).where(iam_sessions.c.expires_at < before)
        )

    # -- OIDC providers -------------------------------------------------------------------------------

    async def create_oidc_provider(self, provider: OidcProvider) -> None:
        await self._insert_new(
            iam_oidc_providers,
            f"Provider with url {provider.url}",
            arn=provider.arn,
            account_id=provider.account_id,
            url=provider.url,
            client_ids=list(provider.client_ids),
            thumbprints=list(provider.thumbprints),
            created_at=provider.created_at,
        )

    async def get_oidc_provider(self, arn: str) -> OidcProvider | None:
        row = await self._read_unit(first, select(iam_oidc_providers).where(iam_oidc_providers.c.arn == arn))
        return None if row is None else _oidc(row)

    async def list_oidc_providers(self, account_id: str) -> list[OidcProvider]:
        query = (
            select(iam_oidc_providers)
            .where(iam_oidc_providers.c.account_id == account_id)
            .order_by(self._lexical(iam_oidc_providers.c.arn))
        )
        return [_oidc(r) for r in await self._read_unit(all_rows, query)]

    async def update_oidc_provider(
        self, arn: str, client_ids: tuple[str, ...] | None = None, thumbprints: tuple[str, ...] | None = None
    ) -> bool:
        changes: dict[str, Any] = {}
        if client_ids is not None:
            changes["client_ids"] = list(client_ids)
        if thumbprints is not None:
            changes["thumbprints"] = list(thumbprints)
        statement = update(iam_oidc_providers).where(iam_oidc_providers.c.arn == arn).values(**changes)
        return await self._write_unit(changed, statement)

    async def delete_oidc_provider(self, arn: str) -> bool:
        return await self._write_unit(
            changed, delete(iam_oidc_providers).where(iam_oidc_providers.c.arn == arn)
        )


def refuse_if_policies(conn: Connection, account_id: str, kind: str, name: str) -> None:
    """``DeleteConflict`` while the user, group or role still has inline or attached policies."""
    for table, what in ((iam_inline_policies, "policies"), (iam_attachments, "attached policies")):
        count = conn.scalar(
            select(func.count())
            .select_from(table)
            .where(table.c.account_id == account_id, table.c.owner_kind == kind, table.c.owner_name == name)
        )
        if count:
            raise DeleteConflict(f"Cannot delete entity, must delete {what} first.")


def _delete_role(conn: Connection, account_id: str, name: str) -> None:
    refuse_if_policies(conn, account_id, "role", name)
    result = conn.execute(
        delete(iam_roles).where(iam_roles.c.account_id == account_id, iam_roles.c.name == name)
    )
    if not result.rowcount:
        raise NoSuchEntity(f"The role with name {name} cannot be found.")
    conn.execute(
        delete(iam_sessions).where(iam_sessions.c.account_id == account_id, iam_sessions.c.role_name == name)
    )


def _reseal_all(conn: Connection, transform: Callable[[bytes], bytes]) -> int:
    keys = conn.execute(select(iam_access_keys.c.access_key_id, iam_access_keys.c.secret)).all()
    sessions = conn.execute(
        select(iam_sessions.c.access_key_id, iam_sessions.c.secret, iam_sessions.c.token)
    ).all()
    resealed_keys = [{"key_id": key_id, "sealed_secret": transform(bytes(sealed))} for key_id, sealed in keys]
    resealed_sessions = [
        {"key_id": key_id, "sealed_secret": transform(bytes(sealed)), "sealed_token": transform(bytes(token))}
        for key_id, sealed, token in sessions
    ]
    if resealed_keys:
        conn.execute(_RESEAL_KEY, resealed_keys)
    if resealed_sessions:
        conn.execute(_RESEAL_SESSION, resealed_sessions)
    return len(keys) + len(sessions)


def _key_owner(account_id: str, user_name: str | None) -> Any:
    owner = iam_access_keys.c.user_name
    return and_(
        iam_access_keys.c.account_id == account_id,
        owner.is_(None) if user_name is None else owner == user_name,
    )


def _role(r: Any) -> Role:
    return Role(
        r.account_id,
        r.name,
        r.path,
        r.role_id,
        r.trust_policy,
        r.created_at,
        r.description,
        r.max_session_duration,
        dict(r.tags or {}),
    )


def _oidc(r: Any) -> OidcProvider:
    return OidcProvider(r.arn, r.account_id, r.url, tuple(r.client_ids), tuple(r.thumbprints), r.created_at)
