"""SQL store for accounts, IAM users, groups, roles, access keys, STS sessions and OIDC providers.

Duplicates are refused by primary keys (``EntityAlreadyExists``), never by a prior lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.domain.identity import (
    AccessKey,
    Account,
    DeleteConflict,
    EntityAlreadyExists,
    Group,
    NoSuchEntity,
    OidcProvider,
    Role,
    Session,
    User,
)
from dockyard.metadata.base import SqlStore
from dockyard.metadata.iam_tables import (
    accounts,
    iam_access_keys,
    iam_attachments,
    iam_group_members,
    iam_groups,
    iam_inline_policies,
    iam_oidc_providers,
    iam_roles,
    iam_sessions,
    iam_users,
)


class SqlIdentityStore(SqlStore):
    async def _insert_new(self, table: Any, what: str, **values: Any) -> None:
        try:
            async with self._write() as conn:
                await conn.execute(table.insert().values(**values))
        except IntegrityError:
            raise EntityAlreadyExists(f"{what} already exists.") from None

    async def _entity(self, table: Any, account_id: str, name: str) -> Any:
        """The row of one named user, group or role (the three share account, name and path columns)."""
        query = select(table).where(table.c.account_id == account_id, table.c.name == name)
        async with self._read() as conn:
            return (await conn.execute(query)).first()

    async def _entities(self, table: Any, account_id: str, path_prefix: str) -> list[Any]:
        """An account's users, groups or roles under ``path_prefix``, by name (bytewise everywhere)."""
        query = (
            select(table)
            .where(table.c.account_id == account_id, table.c.path.startswith(path_prefix, autoescape=True))
            .order_by(self._lexical(table.c.name))
        )
        async with self._read() as conn:
            return list((await conn.execute(query)).all())

    # -- accounts -------------------------------------------------------------------------------------

    async def create_account(self, account: Account) -> None:
        await self._insert_new(
            accounts,
            f"Account {account.id}",
            id=account.id,
            alias=account.alias,
            created_at=account.created_at,
        )

    async def get_account(self, account_id: str) -> Account | None:
        async with self._read() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
        return None if row is None else Account(row.id, row.alias, row.created_at)

    async def list_accounts(self) -> list[Account]:
        async with self._read() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.created_at, accounts.c.id))).all()
        return [Account(r.id, r.alias, r.created_at) for r in rows]

    # -- users ----------------------------------------------------------------------------------------

    async def create_user(self, user: User) -> None:
        await self._insert_new(
            iam_users,
            f"User with name {user.name}",
            account_id=user.account_id,
            name=user.name,
            path=user.path,
            user_id=user.user_id,
            tags=user.tags or None,
            created_at=user.created_at,
        )

    async def get_user(self, account_id: str, name: str) -> User | None:
        row = await self._entity(iam_users, account_id, name)
        return None if row is None else _user(row)

    async def list_users(self, account_id: str, path_prefix: str = "/") -> list[User]:
        return [_user(r) for r in await self._entities(iam_users, account_id, path_prefix)]

    async def delete_user(self, account_id: str, name: str) -> None:
        async with self._write() as conn:
            for table, owner, what in (
                (iam_access_keys, iam_access_keys.c.user_name, "access keys"),
                (iam_group_members, iam_group_members.c.user_name, "group memberships"),
            ):
                count = await conn.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.account_id == account_id, owner == name)
                )
                if count:
                    raise DeleteConflict(f"Cannot delete entity, must remove {what} first.")
            await _refuse_if_policies(conn, account_id, "user", name)
            result = await conn.execute(
                delete(iam_users).where(iam_users.c.account_id == account_id, iam_users.c.name == name)
            )
            if not result.rowcount:
                raise NoSuchEntity(f"The user with name {name} cannot be found.")

    # -- groups ---------------------------------------------------------------------------------------

    async def create_group(self, group: Group) -> None:
        await self._insert_new(
            iam_groups,
            f"Group with name {group.name}",
            account_id=group.account_id,
            name=group.name,
            path=group.path,
            group_id=group.group_id,
            created_at=group.created_at,
        )

    async def get_group(self, account_id: str, name: str) -> Group | None:
        row = await self._entity(iam_groups, account_id, name)
        return None if row is None else _group(row)

    async def list_groups(self, account_id: str, path_prefix: str = "/") -> list[Group]:
        return [_group(r) for r in await self._entities(iam_groups, account_id, path_prefix)]

    async def delete_group(self, account_id: str, name: str) -> None:
        async with self._write() as conn:
            members = await conn.scalar(
                select(func.count())
                .select_from(iam_group_members)
                .where(iam_group_members.c.account_id == account_id, iam_group_members.c.group_name == name)
            )
            if members:
                raise DeleteConflict("Cannot delete entity, must remove users from group first.")
            await _refuse_if_policies(conn, account_id, "group", name)
            result = await conn.execute(
                delete(iam_groups).where(iam_groups.c.account_id == account_id, iam_groups.c.name == name)
            )
            if not result.rowcount:
                raise NoSuchEntity(f"The group with name {name} cannot be found.")

    async def add_member(self, account_id: str, group: str, user: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._insert(iam_group_members)
                .values(account_id=account_id, group_name=group, user_name=user)
                .on_conflict_do_nothing()
            )

    async def remove_member(self, account_id: str, group: str, user: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(iam_group_members).where(
                    iam_group_members.c.account_id == account_id,
                    iam_group_members.c.group_name == group,
                    iam_group_members.c.user_name == user,
                )
            )
        return bool(result.rowcount)

    async def group_members(self, account_id: str, group: str) -> list[User]:
        query = (
            select(iam_users)
            .join(
                iam_group_members,
                (iam_group_members.c.account_id == iam_users.c.account_id)
                & (iam_group_members.c.user_name == iam_users.c.name),
            )
            .where(iam_group_members.c.account_id == account_id, iam_group_members.c.group_name == group)
            .order_by(self._lexical(iam_users.c.name))
        )
        async with self._read() as conn:
            return [_user(r) for r in (await conn.execute(query)).all()]

    async def groups_for_user(self, account_id: str, user: str) -> list[Group]:
        query = (
            select(iam_groups)
            .join(
                iam_group_members,
                (iam_group_members.c.account_id == iam_groups.c.account_id)
                & (iam_group_members.c.group_name == iam_groups.c.name),
            )
            .where(iam_group_members.c.account_id == account_id, iam_group_members.c.user_name == user)
            .order_by(self._lexical(iam_groups.c.name))
        )
        async with self._read() as conn:
            return [_group(r) for r in (await conn.execute(query)).all()]

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
        async with self._write() as conn:
            result = await conn.execute(
                update(iam_roles)
                .where(iam_roles.c.account_id == account_id, iam_roles.c.name == name)
                .values(trust_policy=document)
            )
        if not result.rowcount:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")

    async def delete_role(self, account_id: str, name: str) -> None:
        async with self._write() as conn:
            await _refuse_if_policies(conn, account_id, "role", name)
            result = await conn.execute(
                delete(iam_roles).where(iam_roles.c.account_id == account_id, iam_roles.c.name == name)
            )
            if not result.rowcount:
                raise NoSuchEntity(f"The role with name {name} cannot be found.")
            await conn.execute(
                delete(iam_sessions).where(
                    iam_sessions.c.account_id == account_id, iam_sessions.c.role_name == name
                )
            )

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
        query = select(iam_access_keys).where(_key_owner(account_id, user_name))
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    query.order_by(iam_access_keys.c.created_at, iam_access_keys.c.access_key_id)
                )
            ).all()
        return [AccessKey(r.access_key_id, r.account_id, r.user_name, r.status, r.created_at) for r in rows]

    async def access_key_secret(self, access_key_id: str) -> tuple[AccessKey, bytes] | None:
        query = select(iam_access_keys).where(iam_access_keys.c.access_key_id == access_key_id)
        async with self._read() as conn:
            r = (await conn.execute(query)).first()
        if r is None:
            return None
        return AccessKey(r.access_key_id, r.account_id, r.user_name, r.status, r.created_at), bytes(r.secret)

    async def set_access_key_status(
        self, account_id: str, user_name: str | None, access_key_id: str, status: str
    ) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                update(iam_access_keys)
                .where(_key_owner(account_id, user_name), iam_access_keys.c.access_key_id == access_key_id)
                .values(status=status)
            )
        return bool(result.rowcount)

    async def delete_access_key(self, account_id: str, user_name: str | None, access_key_id: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(iam_access_keys).where(
                    _key_owner(account_id, user_name), iam_access_keys.c.access_key_id == access_key_id
                )
            )
        return bool(result.rowcount)

    async def reseal_all(self, transform: Callable[[bytes], bytes]) -> int:
        """Rewrite every sealed secret (key secrets, session secrets and tokens) through ``transform``, in
        one transaction (key rotation); how many rows were rewritten."""
        count = 0
        async with self._write() as conn:
            keys = (
                await conn.execute(select(iam_access_keys.c.access_key_id, iam_access_keys.c.secret))
            ).all()
            for key_id, sealed in keys:
                await conn.execute(
                    update(iam_access_keys)
                    .where(iam_access_keys.c.access_key_id == key_id)
                    .values(secret=transform(bytes(sealed)))
                )
            query = select(iam_sessions.c.access_key_id, iam_sessions.c.secret, iam_sessions.c.token)
            sessions = (await conn.execute(query)).all()
            for key_id, sealed, token in sessions:
                await conn.execute(
                    update(iam_sessions)
                    .where(iam_sessions.c.access_key_id == key_id)
                    .values(secret=transform(bytes(sealed)), token=transform(bytes(token)))
                )
            count = len(keys) + len(sessions)
        return count

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
        query = select(iam_sessions).where(iam_sessions.c.access_key_id == access_key_id)
        async with self._read() as conn:
            r = (await conn.execute(query)).first()
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
        async with self._write() as conn:
            result = await conn.execute(delete(iam_sessions).where(iam_sessions.c.expires_at < before))
        return int(result.rowcount or 0)

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
        async with self._read() as conn:
            row = (
                await conn.execute(select(iam_oidc_providers).where(iam_oidc_providers.c.arn == arn))
            ).first()
        return None if row is None else _oidc(row)

    async def list_oidc_providers(self, account_id: str) -> list[OidcProvider]:
        query = select(iam_oidc_providers).where(iam_oidc_providers.c.account_id == account_id)
        async with self._read() as conn:
            return [
                _oidc(r)
                for r in (await conn.execute(query.order_by(self._lexical(iam_oidc_providers.c.arn)))).all()
            ]

    async def update_oidc_provider(
        self, arn: str, client_ids: tuple[str, ...] | None = None, thumbprints: tuple[str, ...] | None = None
    ) -> bool:
        changes: dict[str, Any] = {}
        if client_ids is not None:
            changes["client_ids"] = list(client_ids)
        if thumbprints is not None:
            changes["thumbprints"] = list(thumbprints)
        async with self._write() as conn:
            result = await conn.execute(
                update(iam_oidc_providers).where(iam_oidc_providers.c.arn == arn).values(**changes)
            )
        return bool(result.rowcount)

    async def delete_oidc_provider(self, arn: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(delete(iam_oidc_providers).where(iam_oidc_providers.c.arn == arn))
        return bool(result.rowcount)


def _key_owner(account_id: str, user_name: str | None) -> Any:
    owner = iam_access_keys.c.user_name
    return and_(
        iam_access_keys.c.account_id == account_id,
        owner.is_(None) if user_name is None else owner == user_name,
    )


async def _refuse_if_policies(conn: Any, account_id: str, kind: str, name: str) -> None:
    for table, what in ((iam_inline_policies, "policies"), (iam_attachments, "attached policies")):
        count = await conn.scalar(
            select(func.count())
            .select_from(table)
            .where(table.c.account_id == account_id, table.c.owner_kind == kind, table.c.owner_name == name)
        )
        if count:
            raise DeleteConflict(f"Cannot delete entity, must delete {what} first.")


def _user(r: Any) -> User:
    return User(r.account_id, r.name, r.path, r.user_id, r.created_at, dict(r.tags or {}))


def _group(r: Any) -> Group:
    return Group(r.account_id, r.name, r.path, r.group_id, r.created_at)


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
