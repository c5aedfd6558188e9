"""Pure pieces of the agent: poll entries, image references, X-Registry-Auth, Docker's log frames and
the container create body."""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockyard.agent.containers import create_body
from dockyard.agent.docker import DockerClient, DockerError, ImageRef, RegistryAuth
from dockyard.agent.docker_frames import FrameDecoder, LogLine
from dockyard.agent.model import RoleCredentials, TaskSpec, TaskStates

from .fakes import role_credentials
from .support import container, task_entry


def test_role_credentials_keep_secrets_out_of_repr() -> None:
    found = RoleCredentials.from_wire(role_credentials("exec", "AKIDEXEC"))
    assert found is not None
    assert found.role_name == "exec"
    assert "secret-of" not in repr(found)
    assert "token-of" not in repr(found)
    assert RoleCredentials.from_wire(None) is None
    with pytest.raises(ValueError, match="Token"):
        RoleCredentials.from_wire({"AccessKeyId": "a", "SecretAccessKey": "b", "Expiration": 0})


def test_role_name_of_a_role_with_a_path() -> None:
    wire = {**role_credentials("x", "K"), "RoleArn": "arn:aws:iam::1:role/service/ecs/node"}
    assert RoleCredentials.from_wire(wire).role_name == "node"  # type: ignore[union-attr]


def test_overrides_apply_to_their_container() -> None:
    overrides = {
        "containerOverrides": [
            {
                "name": "app",
                "command": ["run", "fast"],
                "memory": 256,
                "environment": [{"name": "B", "value": "2"}],
            }
        ]
    }
    definitions = [
        container("app", "busybox", command=["run"], environment=[{"name": "A", "value": "1"}], memory=128),
        container("side", "busybox", essential=False, cpu=512),
    ]
    spec = TaskSpec.from_wire(task_entry("t", definitions, overrides=overrides))
    app, side = spec.containers()
    assert (app.command, app.memory, app.environment) == (["run", "fast"], 256, {"A": "1", "B": "2"})
    assert (side.essential, side.cpu, side.command, side.memory) == (False, 512, None, None)
    assert spec.task_id == "t"
    assert spec.execution_credentials is not None
    assert spec.task_credentials is None


@pytest.mark.parametrize(
    ("execution_role", "launch_type", "expected"),
    [(True, "EC2", True), (False, "EC2", False), (False, "FARGATE", True), (True, "FARGATE", True)],
)
def test_which_role_pulls(execution_role: bool, launch_type: str, expected: bool) -> None:
    spec = TaskSpec.from_wire(task_entry("t", [], execution_role=execution_role, launch_type=launch_type))
    assert spec.pulls_with_execution_role is expected


def test_stopped_tasks_are_reported_a_few_times_then_forgotten() -> None:
    states = TaskStates()
    states.set("a", "RUNNING", ["sha256:1"])
    states.set("b", "STOPPED")
    for _ in range(3):
        assert {t["taskArn"] for t in states.report()} == {"a", "b"}
    assert states.report() == [{"taskArn": "a", "lastStatus": "RUNNING", "imageDigests": ["sha256:1"]}]


@pytest.mark.parametrize(
    ("text", "name", "reference"),
    [
        ("busybox", "docker.io/library/busybox", "latest"),
        ("library/busybox:1.36", "docker.io/library/busybox", "1.36"),
        ("127.0.0.1:5000/e2e/base:3layer", "127.0.0.1:5000/e2e/base", "3layer"),
        ("localhost/app", "localhost/app", "latest"),
        (
            "111122223333.dkr.example.com/team/app@sha256:" + "a" * 64,
            "111122223333.dkr.example.com/team/app",
            "sha256:" + "a" * 64,
        ),
        ("host:5000/app:v1@sha256:" + "b" * 64, "host:5000/app", "sha256:" + "b" * 64),
    ],
)
def test_image_references(text: str, name: str, reference: str) -> None:
    ref = ImageRef.parse(text)
    assert (ref.name, ref.reference) == (name, reference)


def test_registry_auth_header_is_docker_base64url_json() -> None:
    auth = RegistryAuth("AWS", "p?>>a/s+s", "127.0.0.1:5000")
    decoded = json.loads(base64.urlsafe_b64decode(auth.header()))
    assert decoded == {"username": "AWS", "password": "p?>>a/s+s", "serveraddress": "127.0.0.1:5000"}
    assert "+" not in auth.header()
    assert "/" not in auth.header()
    assert "p?>>" not in repr(auth)


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_log_frames_split_anywhere_decode_the_same() -> None:
    body = (
        frame(1, b"2024-05-01T10:00:00.123456789Z hello\n")
        + frame(2, "2024-05-01T10:00:01Z oops \u00e9\n".encode())
        + frame(1, b"2024-05-01T10:00:02Z last")
    )
    expected = [
        LogLine("stdout", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC), "hello"),
        LogLine("stderr", datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC), "oops \u00e9"),
        LogLine("stdout", datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC), "last"),
    ]
    for cut in range(len(body) + 1):
        decoder = FrameDecoder()
        assert decoder.feed(body[:cut]) + decoder.feed(body[cut:]) == expected
        assert decoder.pending == 0
    bytewise = FrameDecoder()
    assert [line for byte in body for line in bytewise.feed(bytes([byte]))] == expected


def test_a_line_without_timestamp_keeps_its_text() -> None:
    assert FrameDecoder().feed(frame(1, b"no time here\n")) == [LogLine("stdout", None, "no time here")]


def test_create_body() -> None:
    spec = TaskSpec.from_wire(
        task_entry(
            "t",
            [
                container(
                    "app",
                    "127.0.0.1:5000/app:1",
                    memory=64,
                    memoryReservation=32,
                    cpu=0,
                    entryPoint=["/bin/sh", "-c"],
                    command=["echo hi"],
                    workingDirectory="/w",
                )
            ],
        )
    )
    [app] = spec.containers()
    body = create_body(spec, app, cluster="prod", digest="sha256:" + "c" * 64, extra_env={"X": "1"})
    assert body["Image"] == "127.0.0.1:5000/app@sha256:" + "c" * 64
    assert body["HostConfig"] == {
        "NetworkMode": "host",
        "CpuShares": 2,
        "Memory": 64 * 1024 * 1024,
        "MemoryReservation": 32 * 1024 * 1024,
    }
    assert (body["Entrypoint"], body["Cmd"], body["WorkingDir"], body["Env"]) == (
        ["/bin/sh", "-c"],
        ["echo hi"],
        "/w",
        ["X=1"],
    )
    assert body["Labels"]["com.amazonaws.ecs.task-arn"] == spec.arn
    assert body["Labels"]["com.amazonaws.ecs.container-name"] == "app"
    assert body["Labels"]["com.amazonaws.ecs.cluster"] == "prod"
    assert "User" not in body


async def test_an_unreachable_engine_is_a_docker_error(tmp_path: Path) -> None:
    client = DockerClient(f"unix://{tmp_path / 'absent.sock'}")
    try:
        with pytest.raises(DockerError) as caught:
            await client.negotiate()
        assert caught.value.status == 0
    finally:
        await client.close()


def test_docker_hosts() -> None:
    with pytest.raises(ValueError, match="unsupported Docker host"):
        DockerClient("ssh://node")
