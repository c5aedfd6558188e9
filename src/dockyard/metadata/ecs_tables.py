"""ECS's schema (migration 0012). Same ``MetaData`` as :mod:`dockyard.metadata.tables`::

ecs_clusters ─┬─< ecs_container_instances ─┐   (an agent's node: capacity, remaining resources, heartbeat)
              └─< ecs_tasks >──────────────┘   (placed on one instance; its state and containers)
ecs_task_definitions ─< ecs_tasks               (family:revision, the definition as registered)

Every name is scoped by account. Clusters and task definitions are never deleted, only made INACTIVE, as
ECS keeps them describable. A container instance's ``remaining_cpu``/``remaining_memory`` are what its
unstopped tasks leave; placement takes from them with a conditional update, and a task gives back what it
took when it stops (``resources_released`` makes that happen once).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from dockyard.metadata.tables import UTCDateTime, metadata

ecs_clusters = Table(
    "ecs_clusters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("configuration", JSON, nullable=True),
    UniqueConstraint("account_id", "name", name="uq_ecs_clusters_account_name"),
)

ecs_task_definitions = Table(
    "ecs_task_definitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("family", String(255), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("registered_by", String(2048), nullable=True),
    Column("deregistered_at", UTCDateTime(), nullable=True),
    UniqueConstraint("account_id", "family", "revision", name="uq_ecs_task_definitions_revision"),
)

ecs_container_instances = Table(
    "ecs_container_instances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance_id", String(36), nullable=False, unique=True),
    Column("cluster_id", ForeignKey("ecs_clusters.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("ec2_instance_id", String(255), nullable=False),
    Column("capacity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cpu", Integer, nullable=False),
    Column("memory", Integer, nullable=False),
    Column("remaining_cpu", Integer, nullable=False),
    Column("remaining_memory", Integer, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("version_info", JSON, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("role_arn", String(2048), nullable=True),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("deregistered_at", UTCDateTime(), nullable=True),
    Column("heartbeat_at", UTCDateTime(), nullable=False),
    Column("credentials_until", UTCDateTime(), nullable=True),
    Column("image_digests", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    # one ACTIVE registration per agent-chosen instance id in a cluster: a restarted agent gets it back
    Index(
        "ux_ecs_container_instances_active",
        "cluster_id",
        "ec2_instance_id",
        unique=True,
        sqlite_where=text("status = 'ACTIVE'"),
        postgresql_where=text("status = 'ACTIVE'"),
    ),
)

ecs_tasks = Table(
    "ecs_tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(36), nullable=False, unique=True),
    Column("account_id", String(12), nullable=False),
    Column("cluster_id", ForeignKey("ecs_clusters.id", ondelete="CASCADE"), nullable=False),
    Column(
        "container_instance_id", ForeignKey("ecs_container_instances.id", ondelete="CASCADE"), nullable=False
    ),
    Column("task_definition_id", ForeignKey("ecs_task_definitions.id", ondelete="CASCADE"), nullable=False),
    Column("launch_type", String(16), nullable=False),
    Column("overrides", JSON, nullable=False),
    Column("cpu", Integer, nullable=False),
    Column("memory", Integer, nullable=False),
    Column("resources_released", Boolean, nullable=False),
    Column("last_status", String(16), nullable=False),
    Column("desired_status", String(16), nullable=False),
    Column("stop_code", String(64), nullable=True),
    Column("stopped_reason", Text, nullable=True),
    Column("started_by", String(128), nullable=True),
    Column("group_name", String(255), nullable=True),
    Column("containers", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("pull_started_at", UTCDateTime(), nullable=True),
    Column("pull_stopped_at", UTCDateTime(), nullable=True),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("stopping_at", UTCDateTime(), nullable=True),
    Column("stopped_at", UTCDateTime(), nullable=True),
    Column("execution_stopped_at", UTCDateTime(), nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("credentials_until", UTCDateTime(), nullable=True),
    Column("version", Integer, nullable=False),
    Index("ix_ecs_tasks_instance", "container_instance_id", "last_status"),
    Index("ix_ecs_tasks_cluster", "cluster_id", "desired_status"),
)

# The wire names of the task timestamps, by column.
TASK_TIMES = {
    "pull_started_at": "pullStartedAt",
    "pull_stopped_at": "pullStoppedAt",
    "started_at": "startedAt",
    "stopping_at": "stoppingAt",
    "stopped_at": "stoppedAt",
    "execution_stopped_at": "executionStoppedAt",
}
