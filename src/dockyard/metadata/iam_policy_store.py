"""SQL store for IAM policies: inline policies, managed policies with versions, and attachments.

AWS managed policies are rows with ``account_id`` NULL, seeded by the identity service on start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from dockyard.domain.identity import (
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    ManagedPolicy,
    NoSuchEntity,
    PolicyVersion,
)
from dockyard.metadata.base import SqlStore
from dockyard.metadata.iam_tables import (
    iam_attachments,
    iam_inline_policies,
    iam_policies,
    iam_policy_versions,
)
from dockyard.metadata.unit_sql import all_rows, changed, execute, first, scalar

MAX_VERSIONS = 5


class SqlPolicyStore(SqlStore):
    # -- inline ---------------------------------------------------------------------------------------

    async def put_inline(self, account_id: str, kind: str, owner: str, name: str, document: str) -> None:
        values = {"account_id": account_id, "owner_kind": kind, "owner_name": owner, "policy_name": name}
        statement = (
            self._insert(iam_inline_policies)
            .values(**values, document=document)
            .on_conflict_do_update(index_elements=list(values), set_={"document": document})
        )
        await self._write_unit(execute, statement)

    async def get_inline(self, account_id: str, kind: str, owner: str, name: str) -> str | None:
        values = {"account_id": account_id, "kind": kind, "owner": owner, "name": name}
        document: str | None = await self._read_unit(scalar, _INLINE_DOCUMENT, values)
        return document

    async def delete_inline(self, account_id: str, kind: str, owner: str, name: str) -> bool:
        statement = delete(iam_inline_policies).where(
            _owner(iam_inline_policies, account_id, kind, owner),
            iam_inline_policies.c.policy_name == name,
        )
        return await self._write_unit(changed, statement)

    async def inline_policies(self, account_id: str, kind: str, owner: str) -> list[tuple[str, str]]:
        """``(name, document)`` pairs, by name."""
        query = (
            select(iam_inline_policies.c.policy_name, iam_inline_policies.c.document)
            .where(_owner(iam_inline_policies, account_id, kind, owner))
            .order_by(self._lexical(iam_inline_policies.c.policy_name))
        )
        return [(r[0], r[1]) for r in await self._read_unit(all_rows, query)]

    # -- managed --------------------------------------------------------------------------------------

    async def create_policy(self, policy: ManagedPolicy, document: str) -> None:
        try:
            await self._write_unit(_create_policy, policy, document)
        except IntegrityError:
            raise EntityAlreadyExists(
                f"A policy called {policy.name} already exists. Duplicate names are not allowed."
            ) from None

    async def get_policy(self, arn: str) -> ManagedPolicy | None:
        row = await self._read_unit(first, _POLICY_BY_ARN, {"arn": arn})
        return None if row is None else _policy(row)

    async def list_policies(
        self, account_id: str, scope: str = "All", only_attached: bool = False, path_prefix: str = "/"
    ) -> list[ManagedPolicy]:
        visible = {
            "All": or_(iam_policies.c.account_id.is_(None), iam_policies.c.account_id == account_id),
            "AWS": iam_policies.c.account_id.is_(None),
            "Local": iam_policies.c.account_id == account_id,
        }[scope]
        query = _policy_query().where(visible, iam_policies.c.path.startswith(path_prefix, autoescape=True))
        rows = await self._read_unit(all_rows, query.order_by(self._lexical(iam_policies.c.name)))
        policies = [_policy(r) for r in rows]
        return [p for p in policies if p.attachment_count] if only_attached else policies

    async def delete_policy(self, arn: str) -> None:
        await self._write_unit(_delete_policy, arn)

    async def create_version(
        self, arn: str, document: str, set_default: bool, now: datetime
    ) -> PolicyVersion:
        version = await self._write_unit(_create_version, arn, document, set_default, now)
        return PolicyVersion(arn, version, document, set_default, now)

    async def get_version(self, arn: str, version_id: str) -> PolicyVersion | None:
        r = await self._read_unit(first, _VERSION, {"arn": arn, "version_id": version_id})
        return (
            None
            if r is None
            else PolicyVersion(arn, r.version_id, r.document, r.default_version == r.version_id, r.created_at)
        )

    async def list_versions(self, arn: str) -> list[PolicyVersion]:
        query = (
            select(iam_policy_versions, iam_policies.c.default_version)
            .join(iam_policies, iam_policies.c.arn == iam_policy_versions.c.policy_arn)
            .where(iam_policy_versions.c.policy_arn == arn)
        )
        versions = [
            PolicyVersion(arn, r.version_id, r.document, r.default_version == r.version_id, r.created_at)
            for r in await self._read_unit(all_rows, query)
        ]
        return sorted(versions, key=lambda v: int(v.version_id.removeprefix("v")), reverse=True)

    async def delete_version(self, arn: str, version_id: str) -> None:
        await self._write_unit(_delete_version, arn, version_id)

    async def set_default_version(self, arn: str, version_id: str, now: datetime) -> None:
        await self._write_unit(_set_default_version, arn, version_id, now)

    # -- attachments ----------------------------------------------------------------------------------

    async def attach(self, arn: str, account_id: str, kind: str, owner: str) -> None:
        statement = (
            self._insert(iam_attachments)
            .values(policy_arn=arn, account_id=account_id, owner_kind=kind, owner_name=owner)
            .on_conflict_do_nothing()
        )
        await self._write_unit(execute, statement)

    async def detach(self, arn: str, account_id: str, kind: str, owner: str) -> bool:
        statement = delete(iam_attachments).where(
            iam_attachments.c.policy_arn == arn, _owner(iam_attachments, account_id, kind, owner)
        )
        return await self._write_unit(changed, statement)

    async def attached(self, account_id: str, kind: str, owner: str) -> list[tuple[str, str]]:
        """``(policy arn, policy name)`` of the managed policies attached to one owner."""
        query = (
            select(iam_policies.c.arn, iam_policies.c.name)
            .join(iam_attachments, iam_attachments.c.policy_arn == iam_policies.c.arn)
            .where(_owner(iam_attachments, account_id, kind, owner))
            .order_by(self._lexical(iam_policies.c.name))
        )
        return [(r[0], r[1]) for r in await self._read_unit(all_rows, query)]

    async def named_documents(self, account_id: str, owners: list[tuple[str, str]]) -> list[NamedDocument]:
        """The inline policies and the default versions of the attached managed policies of ``owners``
        (``(kind, name)`` pairs), owner by owner, inline first, each named as the policy simulator names
        its sources."""
        if not owners:
            return []
        inline = select(
            iam_inline_policies.c.owner_kind,
            iam_inline_policies.c.owner_name,
            iam_inline_policies.c.policy_name,
            iam_inline_policies.c.document,
        ).where(or_(*(_owner(iam_inline_policies, account_id, kind, name) for kind, name in owners)))
        managed = (
            select(
                iam_attachments.c.owner_kind,
                iam_attachments.c.owner_name,
                iam_policies.c.name,
                iam_policy_versions.c.document,
                iam_policies.c.account_id,
                iam_policies.c.arn,
            )
            .join(iam_policies, iam_policies.c.arn == iam_policy_versions.c.policy_arn)
            .join(iam_attachments, iam_attachments.c.policy_arn == iam_policies.c.arn)
            .where(
                iam_policy_versions.c.version_id == iam_policies.c.default_version,
                or_(*(_owner(iam_attachments, account_id, kind, name) for kind, name in owners)),
            )
        )
        inline_rows, managed_rows = await self._read_unit(_both, inline, managed)
        found: list[tuple[int, int, str, NamedDocument]] = []
        rank = {owner: index for index, owner in enumerate(owners)}
        for kind, owner, name, document in inline_rows:
            found.append((rank[(kind, owner)], 0, name, NamedDocument(kind, name, document)))
        for kind, owner, name, document, policy_account, arn in managed_rows:
            source = "aws-managed" if policy_account is None else "user-managed"
            found.append((rank[(kind, owner)], 1, name, NamedDocument(source, name, document, arn)))
        return [named for *_, named in sorted(found, key=lambda item: item[:3])]

    async def entities_for_policy(self, arn: str) -> list[tuple[str, str]]:
        """``(kind, name)`` of every user, group and role the policy is attached to."""
        query = (
            select(iam_attachments.c.owner_kind, iam_attachments.c.owner_name)
            .where(iam_attachments.c.policy_arn == arn)
            .order_by(iam_attachments.c.owner_kind, iam_attachments.c.owner_name)
        )
        return [(r[0], r[1]) for r in await self._read_unit(all_rows, query)]


@dataclass(frozen=True, slots=True)
class NamedDocument:
    """A policy document and where it comes from: ``source`` is ``user``/``group``/``role`` (inline) or
    ``aws-managed``/``user-managed``; ``name`` the policy's name; ``arn`` a managed policy's ARN."""

    source: str
    name: str
    document: str
    arn: str | None = None


def _owner(table: Any, account_id: Any, kind: Any, owner: Any) -> Any:
    return and_(table.c.account_id == account_id, table.c.owner_kind == kind, table.c.owner_name == owner)


def _policy_query() -> Any:
    count = (
        select(func.count())
        .select_from(iam_attachments)
        .where(iam_attachments.c.policy_arn == iam_policies.c.arn)
        .scalar_subquery()
        .label("attachment_count")
    )
    return select(iam_policies, count)


# Policy reads built once (values bound per call).
_INLINE_DOCUMENT = select(iam_inline_policies.c.document).where(
    _owner(iam_inline_policies, bindparam("account_id"), bindparam("kind"), bindparam("owner")),
    iam_inline_policies.c.policy_name == bindparam("name"),
)
_POLICY_BY_ARN = _policy_query().where(iam_policies.c.arn == bindparam("arn"))
_VERSION = (
    select(iam_policy_versions, iam_policies.c.default_version)
    .join(iam_policies, iam_policies.c.arn == iam_policy_versions.c.policy_arn)
    .where(
        iam_policy_versions.c.policy_arn == bindparam("arn"),
        iam_policy_versions.c.version_id == bindparam("version_id"),
    )
)


def _both(conn: Connection, first_query: Any, second_query: Any) -> tuple[list[Any], list[Any]]:
    return list(conn.execute(first_query).all()), list(conn.execute(second_query).all())


def _version_count(conn: Connection, arn: str) -> int:
    query = (
        select(func.count()).select_from(iam_policy_versions).where(iam_policy_versions.c.policy_arn == arn)
    )
    return int(conn.scalar(query) or 0)


def _create_policy(conn: Connection, policy: ManagedPolicy, document: str) -> None:
    conn.execute(
        iam_policies.insert().values(
            arn=policy.arn,
            account_id=policy.account_id,
            name=policy.name,
            path=policy.path,
            policy_id=policy.policy_id,
            default_version="v1",
            description=policy.description,
            next_version=2,
            created_at=policy.created_at,
            updated_at=policy.created_at,
        )
    )
    conn.execute(
        iam_policy_versions.insert().values(
            policy_arn=policy.arn, version_id="v1", document=document, created_at=policy.created_at
        )
    )


def _delete_policy(conn: Connection, arn: str) -> None:
    attached = conn.scalar(
        select(func.count()).select_from(iam_attachments).where(iam_attachments.c.policy_arn == arn)
    )
    if attached:
        raise DeleteConflict("Cannot delete a policy attached to entities.")
    if _version_count(conn, arn) > 1:
        raise DeleteConflict("Cannot delete a policy with non-default versions; delete them first.")
    conn.execute(delete(iam_policy_versions).where(iam_policy_versions.c.policy_arn == arn))
    if not conn.execute(delete(iam_policies).where(iam_policies.c.arn == arn)).rowcount:
        raise NoSuchEntity(f"Policy {arn} was not found.")


def _create_version(conn: Connection, arn: str, document: str, set_default: bool, now: datetime) -> str:
    """The new version's id."""
    row = conn.execute(select(iam_policies).where(iam_policies.c.arn == arn)).first()
    if row is None:
        raise NoSuchEntity(f"Policy {arn} was not found.")
    if _version_count(conn, arn) >= MAX_VERSIONS:
        raise LimitExceeded(f"A managed policy can have up to {MAX_VERSIONS} versions.")
    version = f"v{row.next_version}"
    conn.execute(
        iam_policy_versions.insert().values(
            policy_arn=arn, version_id=version, document=document, created_at=now
        )
    )
    changes: dict[str, Any] = {"next_version": row.next_version + 1, "updated_at": now}
    if set_default:
        changes["default_version"] = version
    conn.execute(update(iam_policies).where(iam_policies.c.arn == arn).values(**changes))
    return version


def _delete_version(conn: Connection, arn: str, version_id: str) -> None:
    default = conn.scalar(select(iam_policies.c.default_version).where(iam_policies.c.arn == arn))
    if default is None:
        raise NoSuchEntity(f"Policy {arn} was not found.")
    if default == version_id:
        raise DeleteConflict("Cannot delete the default version of a policy.")
    result = conn.execute(
        delete(iam_policy_versions).where(
            iam_policy_versions.c.policy_arn == arn, iam_policy_versions.c.version_id == version_id
        )
    )
    if not result.rowcount:
        raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist.")


def _set_default_version(conn: Connection, arn: str, version_id: str, now: datetime) -> None:
    found = conn.scalar(
        select(func.count())
        .select_from(iam_policy_versions)
        .where(iam_policy_versions.c.policy_arn == arn, iam_policy_versions.c.version_id == version_id)
    )
    if not found:
        raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist.")
    conn.execute(
        update(iam_policies)
        .where(iam_policies.c.arn == arn)
        .values(default_version=version_id, updated_at=now)
    )


def _policy(r: Any) -> ManagedPolicy:
    return ManagedPolicy(
        r.arn,
        r.account_id,
        r.name,
        r.path,
        r.policy_id,
        r.default_version,
        r.created_at,
        r.updated_at,
        r.description,
        int(r.attachment_count or 0),
    )
