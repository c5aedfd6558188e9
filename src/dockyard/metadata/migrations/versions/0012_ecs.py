"""ECS: clusters, task definitions, container instances and tasks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

``ecs_clusters`` and ``ecs_task_definitions`` (family:revision) are made INACTIVE, never deleted;
``ecs_container_instances`` holds each node agent's registration: capacity, remaining resources (placement
takes from them with a conditional update), heartbeat, the instance role and the image digests its tasks
run (kept from lifecycle expiry); ``ecs_tasks`` each task, its instance, state and containers. Nothing caches
these tables, and the task and instance rows change on every poll: they are quiet (``notify.QUIET_TABLES``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("status = 'ACTIVE'")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    other = target.partition(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{other}"), ondelete="CASCADE"
    )


def _time(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ecs_clusters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _time("created_at", False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecs_clusters")),
        sa.UniqueConstraint("account_id", "name", name="uq_ecs_clusters_account_name"),
    )
    op.create_table(
        "ecs_task_definitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("family", sa.String(length=255), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        _time("registered_at", False),
        sa.Column("registered_by", sa.String(length=2048), nullable=True),
        _time("deregistered_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecs_task_definitions")),
        sa.UniqueConstraint("account_id", "family", "revision", name="uq_ecs_task_definitions_revision"),
    )
    _container_instances()
    _tasks()


def _container_instances() -> None:
    op.create_table(
        "ecs_container_instances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("ec2_instance_id", sa.String(length=255), nullable=False),
        sa.Column("capacity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _RESOURCES),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("version_info", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("role_arn", sa.String(length=2048), nullable=True),
        _time("registered_at", False),
        _time("deregistered_at"),
        _time("heartbeat_at", False),
        _time("credentials_until"),
        sa.Column("image_digests", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("ecs_container_instances", "cluster_id", "ecs_clusters.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecs_container_instances")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_ecs_container_instances_instance_id")),
    )
    op.create_index(
        "ux_ecs_container_instances_active",
        "ecs_container_instances",
        ["cluster_id", "ec2_instance_id"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )


_RESOURCES = ("cpu", "memory", "remaining_cpu", "remaining_memory")
_TASK_TIMES = (
    "pull_started_at",
    "pull_stopped_at",
    "started_at",
    "stopping_at",
    "stopped_at",
    "execution_stopped_at",
    "sent_at",
    "credentials_until",
)


def _tasks() -> None:
    op.create_table(
        "ecs_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("container_instance_id", sa.Integer(), nullable=False),
        sa.Column("task_definition_id", sa.Integer(), nullable=False),
        sa.Column("launch_type", sa.String(length=16), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("cpu", sa.Integer(), nullable=False),
        sa.Column("memory", sa.Integer(), nullable=False),
        sa.Column("resources_released", sa.Boolean(), nullable=False),
        sa.Column("last_status", sa.String(length=16), nullable=False),
        sa.Column("desired_status", sa.String(length=16), nullable=False),
        sa.Column("stop_code", sa.String(length=64), nullable=True),
        sa.Column("stopped_reason", sa.Text(), nullable=True),
        sa.Column("started_by", sa.String(length=128), nullable=True),
        sa.Column("group_name", sa.String(length=255), nullable=True),
        sa.Column("containers", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        _time("created_at", False),
        *(_time(name) for name in _TASK_TIMES),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("ecs_tasks", "cluster_id", "ecs_clusters.id"),
        _fk("ecs_tasks", "container_instance_id", "ecs_container_instances.id"),
        _fk("ecs_tasks", "task_definition_id", "ecs_task_definitions.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecs_tasks")),
        sa.UniqueConstraint("task_id", name=op.f("uq_ecs_tasks_task_id")),
    )
    op.create_index("ix_ecs_tasks_instance", "ecs_tasks", ["container_instance_id", "last_status"])
    op.create_index("ix_ecs_tasks_cluster", "ecs_tasks", ["cluster_id", "desired_status"])


def downgrade() -> None:
    op.drop_index("ix_ecs_tasks_cluster", table_name="ecs_tasks")
    op.drop_index("ix_ecs_tasks_instance", table_name="ecs_tasks")
    op.drop_table("ecs_tasks")
    op.drop_index("ux_ecs_container_instances_active", table_name="ecs_container_instances")
    op.drop_table("ecs_container_instances")
    op.drop_table("ecs_task_definitions")
    op.drop_table("ecs_clusters")
