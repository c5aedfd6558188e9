"""SQL store for IAM policies: inline policies, managed policies with versions, and attachments.

AWS managed policies are rows with ``account_id`` NULL, seeded by the identity service on start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
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

MAX_VERSIONS = 5


class SqlPolicyStore(SqlStore):
    # -- inline ---------------------------------------------------------------------------------------

    async def put_inline(self, account_id: str, kind: str, owner: str, name: str, document: str) -> None:
        values = {"account_id": account_id, "owner_kind": kind, "owner_name": owner, "policy_name": name}
        async with self._write() as conn:
            await conn.execute(
                self._insert(iam_inline_policies)
                .values(**values, document=document)
                .on_conflict_do_update(index_elements=list(values), set_={"document": document})
            )

    async def get_inline(self, account_id: str, kind: str, owner: str, name: str) -> str | None:
        query = select(iam_inline_policies.c.document).where(
            _owner(iam_inline_policies, account_id, kind, owner), iam_inline_policies.c.policy_name == name
        )
        async with self._read() as conn:
            document: str | None = await conn.scalar(query)
        return document

    async def delete_inline(self, account_id: str, kind: str, owner: str, name: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(iam_inline_policies).where(
                    _owner(iam_inline_policies, account_id, kind, owner),
                    iam_inline_policies.c.policy_name == name,
                )
            )
        return bool(result.rowcount)

    async def inline_policies(self, account_id: str, kind: str, owner: str) -> list[tuple[str, str]]:
        """``(name, document)`` pairs, by name."""
        query = (
            select(iam_inline_policies.c.policy_name, iam_inline_policies.c.document)
            .where(_owner(iam_inline_policies, account_id, kind, owner))
            .order_by(self._lexical(iam_inline_policies.c.policy_name))
        )
        async with self._read() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(query)).all()]

    # -- managed --------------------------------------------------------------------------------------

    async def create_policy(self, policy: ManagedPolicy, document: str) -> None:
        try:
            async with self._write() as conn:
                await conn.execute(
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
                await conn.execute(
                    iam_policy_versions.insert().values(
                        policy_arn=policy.arn,
                        version_id="v1",
                        document=document,
                        created_at=policy.created_at,
                    )
                )
        except IntegrityError:
            raise EntityAlreadyExists(
                f"A policy called {policy.name} already exists. Duplicate names are not allowed."
            ) from None

    async def get_policy(self, arn: str) -> ManagedPolicy | None:
        query = _policy_query().where(iam_policies.c.arn == arn)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
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
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(self._lexical(iam_policies.c.name)))).all()
        policies = [_policy(r) for r in rows]
        return [p for p in policies if p.attachment_count] if only_attached else policies

    async def delete_policy(self, arn: str) -> None:
        async with self._write() as conn:
            attached = await conn.scalar(
                select(func.count()).select_from(iam_attachments).where(iam_attachments.c.policy_arn == arn)
            )
            if attached:
                raise DeleteConflict("Cannot delete a policy attached to entities.")
            versions = await conn.scalar(
                select(func.count())
                .select_from(iam_policy_versions)
                .where(iam_policy_versions.c.policy_arn == arn)
            )
            if versions and versions > 1:
                raise DeleteConflict("Cannot delete a policy with non-default versions; delete them first.")
            await conn.execute(delete(iam_policy_versions).where(iam_policy_versions.c.policy_arn == arn))
            result = await conn.execute(delete(iam_policies).where(iam_policies.c.arn == arn))
            if not result.rowcount:
                raise NoSuchEntity(f"Policy {arn} was not found.")

    async def create_version(
        self, arn: str, document: str, set_default: bool, now: datetime
    ) -> PolicyVersion:
        async with self._write() as conn:
            row = (await conn.execute(select(iam_policies).where(iam_policies.c.arn == arn))).first()
            if row is None:
                raise NoSuchEntity(f"Policy {arn} was not found.")
            count = await conn.scalar(
                select(func.count())
                .select_from(iam_policy_versions)
                .where(iam_policy_versions.c.policy_arn == arn)
            )
            if count is not None and count >= MAX_VERSIONS:
                raise LimitExceeded(f"A managed policy can have up to {MAX_VERSIONS} versions.")
            version = f"v{row.next_version}"
            await conn.execute(
                iam_policy_versions.insert().values(
                    policy_arn=arn, version_id=version, document=document, created_at=now
                )
            )
            changes: dict[str, Any] = {"next_version": row.next_version + 1, "updated_at": now}
            if set_default:
                changes["default_version"] = version
            await conn.execute(update(iam_policies).where(iam_policies.c.arn == arn).values(**changes))
        return PolicyVersion(arn, version, document, set_default, now)

    async def get_version(self, arn: str, version_id: str) -> PolicyVersion | None:
        query = (
            select(iam_policy_versions, iam_policies.c.default_version)
            .join(iam_policies, iam_policies.c.arn == iam_policy_versions.c.policy_arn)
            .where(iam_policy_versions.c.policy_arn == arn, iam_policy_versions.c.version_id == version_id)
        )
        async with self._read() as conn:
            r = (await conn.execute(query)).first()
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
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        versions = [
            PolicyVersion(arn, r.version_id, r.document, r.default_version == r.version_id, r.created_at)
            for r in rows
        ]
        return sorted(versions, key=lambda v: int(v.version_id.removeprefix("v")), reverse=True)

    async def delete_version(self, arn: str, version_id: str) -> None:
        async with self._write() as conn:
            default = await conn.scalar(
                select(iam_policies.c.default_version).where(iam_policies.c.arn == arn)
            )
            if default is None:
                raise NoSuchEntity(f"Policy {arn} was not found.")
            if default == version_id:
                raise DeleteConflict("Cannot delete the default version of a policy.")
            result = await conn.execute(
                delete(iam_policy_versions).where(
                    iam_policy_versions.c.policy_arn == arn, iam_policy_versions.c.version_id == version_id
                )
            )
            if not result.rowcount:
                raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist.")

    async def set_default_version(self, arn: str, version_id: str, now: datetime) -> None:
        async with self._write() as conn:
            exists = await conn.scalar(
                select(func.count())
                .select_from(iam_policy_versions)
                .where(
                    iam_policy_versions.c.policy_arn == arn, iam_policy_versions.c.version_id == version_id
                )
            )
            if not exists:
                raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist.")
            await conn.execute(
                update(iam_policies)
                .where(iam_policies.c.arn == arn)
                .values(default_version=version_id, updated_at=now)
            )

    # -- attachments ----------------------------------------------------------------------------------

    async def attach(self, arn: str, account_id: str, kind: str, owner: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._insert(iam_attachments)
                .values(policy_arn=arn, account_id=account_id, owner_kind=kind, owner_name=owner)
                .on_conflict_do_nothing()
            )

    async def detach(self, arn: str, account_id: str, kind: str, owner: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(iam_attachments).where(
                    iam_attachments.c.policy_arn == arn, _owner(iam_attachments, account_id, kind, owner)
                )
            )
        return bool(result.rowcount)

    async def attached(self, account_id: str, kind: str, owner: str) -> list[tuple[str, str]]:
        """``(policy arn, policy name)`` of the managed policies attached to one owner."""
        query = (
            select(iam_policies.c.arn, iam_policies.c.name)
            .join(iam_attachments, iam_attachments.c.policy_arn == iam_policies.c.arn)
            .where(_owner(iam_attachments, account_id, kind, owner))
            .order_by(self._lexical(iam_policies.c.name))
        )
        async with self._read() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(query)).all()]

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
        async with self._read() as conn:
            inline_rows = (await conn.execute(inline)).all()
            managed_rows = (await conn.execute(managed)).all()
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
        async with self._read() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class NamedDocument:
    """A policy document and where it comes from: ``source`` is ``user``/``group``/``role`` (inline) or
    ``aws-managed``/``user-managed``; ``name`` the policy's name; ``arn`` a managed policy's ARN."""

    source: str
    name: str
    document: str
    arn: str | None = None


def _owner(table: Any, account_id: str, kind: str, owner: str) -> Any:
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
