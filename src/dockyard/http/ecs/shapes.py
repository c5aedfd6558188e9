"""ECS's records as the API shows them: members named as botocore's ``ecs`` model names them, and only
those its output shapes have (a task definition keeps the registered members the ``TaskDefinition`` shape
has; a container the ``Container`` shape's)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from dockyard.domain.ecs.arns import EcsArns
from dockyard.domain.ecs.records import ClusterCounts, ClusterRecord, TaskDefinitionRecord, TaskRecord
from dockyard.domain.ecs.taskdef import compatibilities
from dockyard.http.aws.model import service_model
from dockyard.services.ecs_instances import InstanceView
from dockyard.services.ecs_types import Failure
from dockyard.services.sts import TemporaryCredentials

Output = dict[str, Any]
_MODEL = service_model("ecs").botocore
TASK_DEFINITION_MEMBERS = frozenset(_MODEL.shape_for("TaskDefinition").members)
CONTAINER_MEMBERS = frozenset(_MODEL.shape_for("Container").members)
TAGS = "TAGS"


def failure(found: Failure) -> Output:
    return {"arn": found.arn, "reason": found.reason, "detail": found.detail}


def _resources(cpu: int, memory: int) -> list[Output]:
    return [
        {"name": name, "type": "INTEGER", "integerValue": value, "doubleValue": 0.0, "longValue": 0}
        for name, value in (("CPU", cpu), ("MEMORY", memory))
    ]


class Shapes:
    def __init__(self, region: str) -> None:
        self.region = region

    def arns(self, account: str) -> EcsArns:
        return EcsArns(self.region, account)

    def cluster(
        self, found: ClusterRecord, counts: ClusterCounts, include: Collection[str] = (TAGS,)
    ) -> Output:
        return {
            "clusterArn": self.arns(found.account_id).cluster(found.name),
            "clusterName": found.name,
            "status": found.status,
            "registeredContainerInstancesCount": counts.instances,
            "runningTasksCount": counts.running,
            "pendingTasksCount": counts.pending,
            "activeServicesCount": 0,
            "statistics": [],
            "tags": found.tags if TAGS in include else None,
            "settings": found.settings,
            "configuration": found.configuration,
            "capacityProviders": [],
            "defaultCapacityProviderStrategy": [],
        }

    def task_definition(self, found: TaskDefinitionRecord) -> Output:
        shown = {k: v for k, v in found.definition.items() if k in TASK_DEFINITION_MEMBERS}
        return {
            **shown,
            "taskDefinitionArn": self.arns(found.account_id).task_definition(found.family, found.revision),
            "revision": found.revision,
            "status": found.status,
            "compatibilities": compatibilities(found.definition),
            "requiresAttributes": [],
            "registeredAt": found.registered_at,
            "registeredBy": found.registered_by,
            "deregisteredAt": found.deregistered_at,
        }

    def instance(self, view: InstanceView, include: Collection[str] = ()) -> Output:
        found = view.record
        return {
            "containerInstanceArn": self.arns(found.account_id).container_instance(
                found.cluster_name, found.instance_id
            ),
            "ec2InstanceId": found.ec2_instance_id,
            "version": found.version,
            "versionInfo": found.version_info,
            "remainingResources": _resources(found.remaining_cpu, found.remaining_memory),
            "registeredResources": _resources(found.cpu, found.memory),
            "status": found.status,
            "agentConnected": view.connected,
            "runningTasksCount": view.counts.running,
            "pendingTasksCount": view.counts.pending,
            "attributes": found.attributes,
            "registeredAt": found.registered_at,
            "tags": found.tags if TAGS in include else None,
        }

    def task(self, found: TaskRecord, include: Collection[str] = ()) -> Output:
        arns = self.arns(found.account_id)
        task_arn = arns.task(found.cluster_name, found.task_id)
        shown: Output = {
            "taskArn": task_arn,
            "clusterArn": arns.cluster(found.cluster_name),
            "taskDefinitionArn": arns.task_definition(found.family, found.revision),
            "containerInstanceArn": arns.container_instance(found.cluster_name, found.instance_id),
            "overrides": self.overrides(found),
            "lastStatus": found.last_status,
            "desiredStatus": found.desired_status,
            "cpu": str(found.cpu),
            "memory": str(found.memory),
            "containers": [self.container(found, c, task_arn) for c in found.containers],
            "startedBy": found.started_by,
            "version": found.version,
            "stopCode": found.stop_code,
            "stoppedReason": found.stopped_reason,
            "createdAt": found.created_at,
            "group": found.group,
            "launchType": found.launch_type,
            "attributes": [],
            "tags": found.tags if TAGS in include else None,
        }
        return {**shown, **found.times}

    @staticmethod
    def overrides(found: TaskRecord) -> Output:
        given = dict(found.overrides)
        given.setdefault("containerOverrides", [{"name": c["name"]} for c in found.containers])
        given.setdefault("inferenceAcceleratorOverrides", [])
        return given

    def container(self, task: TaskRecord, container: Output, task_arn: str) -> Output:
        arn = self.arns(task.account_id).container(task.cluster_name, task.task_id, container["containerId"])
        shown = {k: v for k, v in container.items() if k in CONTAINER_MEMBERS}
        return {
            **shown,
            "containerArn": arn,
            "taskArn": task_arn,
            "networkBindings": [],
            "networkInterfaces": [],
        }


def credentials(found: TemporaryCredentials | None, role_arn: str | None) -> Output | None:
    """Credentials of ``role_arn`` as the poll carries them (contract §2)."""
    if found is None or role_arn is None:
        return None
    return {
        "AccessKeyId": found.access_key_id,
        "SecretAccessKey": found.secret_access_key,
        "Token": found.session_token,
        "Expiration": _iso(found.expiration),
        "RoleArn": role_arn,
    }


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
