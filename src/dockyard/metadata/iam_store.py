"""SQL store for accounts, IAM users and groups; roles, access keys, STS sessions and OIDC providers come
from :class:`~dockyard.metadata.iam_credential_store.SqlCredentialStore`.

Duplicates are refused by primary keys (``EntityAlreadyExists``), never by a prior lookup.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from dockyard.domain.identity import (
    Account,
    DeleteConflict,
    Group,
    NoSuchEntity,
    User,
)
from dockyard.metadata.iam_credential_store import SqlCredentialStore, refuse_if_policies
from dockyard.metadata.iam_tables import (
    accounts,
    iam_access_keys,
    iam_group_members,
    iam_groups,
    iam_users,
)
from dockyard.metadata.unit_sql import all_rows, changed, execute, first


class SqlIdentityStore(SqlCredentialStore):
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
        row = await self._read_unit(first, select(accounts).where(accounts.c.id == account_id))
        return None if row is None else Account(row.id, row.alias, row.created_at)

    async def list_accounts(self) -> list[Account]:
        rows = await self._read_unit(
            all_rows, select(accounts).order_by(accounts.c.created_at, accounts.c.id)
        )
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
        await self._write_unit(_delete_user, account_id, name)

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
        await self._write_unit(_delete_group, account_id, name)

    async def add_member(self, account_id: str, group: str, user: str) -> None:
        statement = (
            self._insert(iam_group_members)
            .values(account_id=account_id, group_name=group, user_name=user)
            .on_conflict_do_nothing()
        )
        await self._write_unit(execute, statement)

    async def remove_member(self, account_id: str, group: str, user: str) -> bool:
        statement = delete(iam_group_members).where(
            iam_group_members.c.account_id == account_id,
            iam_group_members.c.group_name == group,
            iam_group_members.c.user_name == user,
        )
        return await self._write_unit(changed, statement)

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
        return [_user(r) for r in await self._read_unit(all_rows, query)]

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
        return [_group(r) for r in await self._read_unit(all_rows, query)]


def _delete_user(conn: Connection, account_id: str, name: str) -> None:
    for table, owner, what in (
        (iam_access_keys, iam_access_keys.c.user_name, "access keys"),
        (iam_group_members, iam_group_members.c.user_name, "group memberships"),
    ):
        count = conn.scalar(
            select(func.count()).select_from(table).where(table.c.account_id == account_id, owner == name)
        )
        if count:
            raise DeleteConflict(f"Cannot delete entity, must remove {what} first.")
    refuse_if_policies(conn, account_id, "user", name)
    result = conn.execute(
        delete(iam_users).where(iam_users.c.account_id == account_id, iam_users.c.name == name)
    )
    if not result.rowcount:
        raise NoSuchEntity(f"The user with name {name} cannot be found.")


def _delete_group(conn: Connection, account_id: str, name: str) -> None:
    members = conn.scalar(
        select(func.count())
        .select_from(iam_group_members)
        .where(iam_group_members.c.account_id == account_id, iam_group_members.c.group_name == name)
    )
    if members:
        raise DeleteConflict("Cannot delete entity, must remove users from group first.")
    refuse_if_policies(conn, account_id, "group", name)
    result = conn.execute(
        delete(iam_groups).where(iam_groups.c.account_id == account_id, iam_groups.c.name == name)
    )
    if not result.rowcount:
        raise NoSuchEntity(f"The group with name {name} cannot be found.")


def _user(r: Any) -> User:
    return User(r.account_id, r.name, r.path, r.user_id, r.created_at, dict(r.tags or {}))


def _group(r: Any) -> Group:
    return Group(r.account_id, r.name, r.path, r.group_id, r.created_at)
