"""A simulated node agent speaking ``docs/ecs-agent-protocol.md``: it registers with bootstrap credentials,
polls, receives a task with credentials minted for its roles (which work: STS names the assumed role), and
reports it PENDING, RUNNING and STOPPED with an exit code."""

from __future__ import annotations

from typing import Any

import botocore.session

from .support import ACCOUNT, AGENT_ACTIONS, Agent, Creds, EcsServer, allow, trust, unique

TASKS = "ecs-tasks.amazonaws.com"
EC2 = "ec2.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32
TASK_DEFINITION = botocore.session.get_session().get_service_model("ecs").shape_for("TaskDefinition")


def _caller_arn(server: EcsServer, found: dict[str, Any]) -> str:
    identity = server.client("sts", Creds.of(found)).get_caller_identity()
    return str(identity["Arn"])


def _bootstrap(server: EcsServer, instance_role: str) -> Creds:
    policy = allow(*AGENT_ACTIONS)
    policy["Statement"].append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": instance_role})
    return server.user(policy)


def _task_family(server: EcsServer) -> tuple[str, str, str]:
    execution, task_role = server.role(TASKS), server.role(TASKS)
    family = unique("agent")
    server.client("ecs").register_task_definition(
        family=family,
        executionRoleArn=execution,
        taskRoleArn=task_role,
        containerDefinitions=[
            {"name": "app", "image": f"{ACCOUNT}.dkr.ecr.us-east-1.dockyard.localhost/app:1", "memory": 128},
            {"name": "sidecar", "image": "busybox", "memory": 64, "essential": False},
        ],
    )
    return family, execution, task_role


def _registered(server: EcsServer, cluster: str) -> Agent:
    """An agent registered with bootstrap credentials that, after its first poll, signs as its instance
    role (whose policy allows the agent's actions, as AmazonEC2ContainerServiceforEC2Role does)."""
    instance_role = server.role(EC2, policy=allow(*AGENT_ACTIONS))
    agent = Agent(server, _bootstrap(server, instance_role), cluster, role_arn=instance_role)
    registered = agent.register()
    assert registered["agentConnected"] is True
    assert agent.ecs.discover_poll_endpoint(cluster=cluster)["endpoint"] == server.url
    first = agent.poll()
    assert first["tasks"] == []
    assert first["instanceCredentials"]["RoleArn"] == instance_role
    name = instance_role.rsplit("/", 1)[-1]
    assert _caller_arn(server, first["instanceCredentials"]) == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{agent.instance_id}"
    )
    agent.creds = Creds.of(first["instanceCredentials"])  # from now on the agent signs as its instance role
    assert agent.poll()["instanceCredentials"] is None  # not due again for 45 minutes
    return agent


def test_an_agent_registers_and_gets_its_instance_role_credentials(server: EcsServer, cluster: str) -> None:
    agent = _registered(server, cluster)
    assert agent.creds.token is not None
    first = agent.arn
    assert agent.register()["containerInstanceArn"] == first  # as its instance role: no PassRole needed
    found = server.client("ecs").describe_container_instances(cluster=cluster, containerInstances=[agent.arn])
    assert found["containerInstances"][0]["agentConnected"] is True


def test_an_agent_receives_a_task_with_working_credentials(server: EcsServer, cluster: str) -> None:
    agent = _registered(server, cluster)
    family, execution, task_role = _task_family(server)
    ecs = server.client("ecs")
    task_arn = ecs.run_task(cluster=cluster, taskDefinition=family, startedBy="test")["tasks"][0]["taskArn"]
    sent = agent.poll()["tasks"]
    assert [t["taskArn"] for t in sent] == [task_arn]
    task = sent[0]
    assert (task["desiredStatus"], task["launchType"]) == ("RUNNING", "EC2")
    assert set(task["taskDefinition"]) <= set(TASK_DEFINITION.members)
    assert task["taskDefinition"]["taskDefinitionArn"].endswith(f":task-definition/{family}:1")
    assert isinstance(task["taskDefinition"]["registeredAt"], float)
    assert [o["name"] for o in task["overrides"]["containerOverrides"]] == ["app", "sidecar"]
    task_id = task_arn.rsplit("/", 1)[-1]
    for found, role in (
        (task["executionRoleCredentials"], execution),
        (task["taskRoleCredentials"], task_role),
    ):
        assert found["RoleArn"] == role
        assert (
            _caller_arn(server, found)
            == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[-1]}/{task_id}"
        )

    _runs_and_stops(server, cluster, agent, task_arn)


def _runs_and_stops(server: EcsServer, cluster: str, agent: Agent, task_arn: str) -> None:
    """The task's life as its agent reports it: PENDING (pulling), RUNNING, STOPPED with an exit code."""
    ecs = server.client("ecs")
    assert ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]["lastStatus"] == "PROVISIONING"
    report = {"taskArn": task_arn, "lastStatus": "PENDING", "imageDigests": [DIGEST]}
    assert agent.poll([report])["tasks"] == []  # known, in step, credentials fresh
    assert ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]["lastStatus"] == "PENDING"
    agent.submit(
        task_arn,
        "RUNNING",
        containers=[
            {"containerName": "app", "status": "RUNNING", "runtimeId": "c0ffee", "imageDigest": DIGEST}
        ],
        pullStartedAt=1_800_000_000,
        pullStoppedAt=1_800_000_005,
    )
    running = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    assert running["lastStatus"] == "RUNNING"
    assert "startedAt" in running
    assert running["pullStartedAt"].timestamp() == 1_800_000_000
    app = next(c for c in running["containers"] if c["name"] == "app")
    assert (app["lastStatus"], app["runtimeId"], app["imageDigest"]) == ("RUNNING", "c0ffee", DIGEST)

    agent.submit(
        task_arn,
        "STOPPED",
        reason="Essential container in task exited",
        containers=[{"containerName": "app", "status": "STOPPED", "exitCode": 1, "reason": "exit 1"}],
    )
    agent.submit(task_arn, "RUNNING")  # late, and ignored: states only move forward
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert (stopped["stopCode"], stopped["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert {c["name"]: (c["lastStatus"], c.get("exitCode")) for c in stopped["containers"]} == {
        "app": ("STOPPED", 1),
        "sidecar": ("STOPPED", None),
    }
    assert "stoppedAt" in stopped
    assert "executionStoppedAt" in stopped


def test_a_failed_pull_stops_the_task_as_failed_to_start(ecs: Any, cluster: str, agent: Agent) -> None:
    family = unique("pull")
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "a", "image": "x", "memory": 8}]
    )
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    agent.poll()
    agent.poll([{"taskArn": task, "lastStatus": "PENDING"}])
    reason = "CannotPullContainerError: User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized"
    agent.submit(task, "STOPPED", reason=reason)
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("TaskFailedToStart", reason)
    assert "startedAt" not in stopped


def test_stop_task_reaches_the_agent(ecs: Any, cluster: str, agent: Agent) -> None:
    family = unique("stop")
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "a", "image": "x", "memory": 8}]
    )
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    assert [t["taskArn"] for t in agent.poll()["tasks"]] == [task]
    agent.submit(task, "RUNNING")
    stopping = ecs.stop_task(cluster=cluster, task=task, reason="enough")["task"]
    assert (stopping["lastStatus"], stopping["desiredStatus"]) == ("RUNNING", "STOPPED")
    sent = agent.poll([{"taskArn": task, "lastStatus": "RUNNING"}])["tasks"]
    assert [(t["taskArn"], t["desiredStatus"]) for t in sent] == [(task, "STOPPED")]
    assert sent[0]["taskRoleCredentials"] is None
    agent.ecs.submit_container_state_change(
        cluster=cluster, task=task, containerName="a", status="STOPPED", exitCode=137
    )
    agent.submit(task, "STOPPED")
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "enough")
    assert stopped["containers"][0]["exitCode"] == 137
    assert agent.poll([{"taskArn": task, "lastStatus": "STOPPED"}])["tasks"] == []


def test_a_restarted_agent_keeps_its_instance_and_gets_credentials_again(
    server: EcsServer, cluster: str
) -> None:
    instance_role = server.role(EC2)
    agent = Agent(server, server.root, cluster, role_arn=instance_role)
    first = agent.register()["containerInstanceArn"]
    family, _, _ = _task_family(server)
    task = server.client("ecs").run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    answer = agent.poll()
    assert answer["instanceCredentials"] is not None
    assert len(answer["tasks"]) == 1
    running = [{"taskArn": task, "lastStatus": "RUNNING"}]
    assert agent.poll(running) == {"instanceCredentials": None, "tasks": []}
    assert agent.register()["containerInstanceArn"] == first  # same instance id: same container instance
    again = agent.poll(running)  # it found its containers by their labels; its credentials went with it
    assert again["instanceCredentials"] is not None
    assert [t["taskArn"] for t in again["tasks"]] == [task]
    assert again["tasks"][0]["taskRoleCredentials"] is not None
    listed = server.client("ecs").list_container_instances(cluster=cluster)["containerInstanceArns"]
    assert listed == [first]


def test_a_task_whose_roles_stopped_trusting_ecs_fails_to_start(
    server: EcsServer, cluster: str, agent: Agent
) -> None:
    family, execution, _ = _task_family(server)
    ecs = server.client("ecs")
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    server.client("iam").update_assume_role_policy(
        RoleName=execution.rsplit("/", 1)[-1], PolicyDocument=trust(EC2)
    )
    assert agent.poll()["tasks"] == []
    failed = ecs.describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]
    assert (failed["lastStatus"], failed["stopCode"]) == ("STOPPED", "TaskFailedToStart")
    assert failed["stoppedReason"].startswith(f"ECS was unable to assume the role '{execution}'")
