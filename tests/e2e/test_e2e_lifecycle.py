"""Lifecycle policies end to end: a real ``dockyard serve`` whose clock the test moves through simulated days
(``DOCKYARD_TEST_CLOCK_FILE``, test mode), images pushed with docker and skopeo on those days, the policy put
and previewed with the aws CLI, the run made by ``dockyard lifecycle run`` on the server's database, and the
survivors pulled back with docker and skopeo with their digests checked; the expired ones answer 404."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aws_profile import aws_cli_env
from dockyard.clock import TEST_CLOCK_FILE_ENV, TEST_MODE_ENV

from .support import (
    BIN_DIR,
    LocalImages,
    Registry,
    ServerProcess,
    Tool,
    hermetic_environ,
    oci_layout_manifest,
    run,
    server_problems,
    sha256,
    start_registry,
    stop,
    verify_dir_transport,
    verify_oci_layout,
)

pytestmark = pytest.mark.e2e
ACCOUNT = "444455556666"
REPO = "e2e/lifecycle"
DAY = 86400


@dataclass
class TimedRegistry:
    """The server, the file its clock's offset lives in, and its first account's root credentials."""

    server: ServerProcess
    clock_file: Path
    env: dict[str, str]  # the test-mode variables, for the dockyard commands run beside the server
    key: str
    secret: str

    @property
    def registry(self) -> Registry:
        return self.server.registry

    def at_day(self, day: float) -> None:
        """Move the server's clock ``day`` days from now (written whole, then renamed into place)."""
        staging = self.clock_file.with_suffix(".tmp")
        staging.write_text(str(day * DAY))
        os.replace(staging, self.clock_file)

    def dockyard(self, *args: str) -> Any:
        env = {**hermetic_environ(), **self.env}
        done = run([BIN_DIR / "dockyard", *args, "--data-dir", self.registry.data_dir], env=env)
        return json.loads(done.stdout)

    def aws(self, home: Path, *args: str) -> Any:
        env = aws_cli_env(home, self.registry.url, self.key, self.secret)
        return json.loads(run([BIN_DIR / "aws", "ecr", *args], env=env).stdout or "null")


@pytest.fixture
def timed(tmp_path: Path, sqlite_template: Path) -> Iterator[TimedRegistry]:
    root = tmp_path / "lifecycle"
    (root / "data").mkdir(parents=True)
    (root / "data" / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    env = {TEST_MODE_ENV: "1", TEST_CLOCK_FILE_ENV: os.fspath(root / "clock-offset")}
    init: list[str | Path] = [
        BIN_DIR / "dockyard",
        "admin",
        "init",
        "--account-id",
        ACCOUNT,
        "--json",
        "--data-dir",
        root / "data",
    ]
    created = json.loads(run(init, env=hermetic_environ()).stdout)
    server = start_registry(root, environ=env)
    timed = TimedRegistry(
        server, root / "clock-offset", env, created["access_key_id"], created["secret_access_key"]
    )
    try:
        yield timed
        assert server.process.poll() is None, "dockyard serve exited during the test"
        problems = server_problems(server.registry, 0)
        assert not problems, "\n".join(problems[:20])
    finally:
        server.registry.client.close()
        stop(server.process)


def skopeo_push(
    timed: TimedRegistry, skopeo: Tool, images: LocalImages, local: str, tag: str, *flags: str
) -> str:
    target = f"docker://{timed.registry.ref(REPO, tag)}"
    skopeo("copy", "--dest-tls-verify=false", *flags, images.ref(local), target)
    return timed.registry.manifest(REPO, tag).digest


def docker_build_push(timed: TimedRegistry, docker: Tool, base: str, label: str, context: Path) -> str:
    """A one-label image on ``base`` built by the legacy builder and pushed as ``dev``; its pushed digest."""
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nLABEL dockyard.test.build={label}\n")
    ref = timed.registry.ref(REPO, "dev")
    Tool(docker.argv, {**docker.env, "DOCKER_BUILDKIT": "0"})(
        "build", "--network", "none", "-t", ref, context
    )
    output = docker("push", ref).stdout
    match = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", output)
    assert match, output
    assert timed.registry.manifest(REPO, "dev").digest == match.group(1)
    return match.group(1)


POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "the two newest releases",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["prod-"],
                "countType": "imageCountMoreThan",
                "countNumber": 2,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 3,
            "description": "never reaches prod-2: rule 1 selected it",
            "selection": {
                "tagStatus": "any",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14,
            },
            "action": {"type": "expire"},
        },
    ]
}


def push_over_days(
    timed: TimedRegistry, images: LocalImages, skopeo: Tool, docker: Tool, tmp: Path
) -> dict[str, str]:
    """Releases pushed by skopeo, ``dev`` builds pushed by docker (each untagging the one before), each on
    its own simulated day; their digests by name."""
    pushed: dict[str, str] = {}
    timed.at_day(-20)
    pushed["prod-1"] = skopeo_push(timed, skopeo, images, "busybox", "prod-1")
    base = timed.registry.ref(REPO, "prod-1")
    docker("pull", base)  # the docker builds' base
    timed.at_day(-19)
    pushed["a"] = docker_build_push(timed, docker, base, "a", tmp / "a")  # untagged by day -12
    timed.at_day(-15)
    pushed["prod-2"] = skopeo_push(timed, skopeo, images, "busybox-3layer", "prod-2")
    timed.at_day(-12)
    pushed["b"] = docker_build_push(timed, docker, base, "b", tmp / "b")  # untagged by day -5
    timed.at_day(-10)
    pushed["prod-3"] = skopeo_push(timed, skopeo, images, "busybox-arm64", "prod-3")
    timed.at_day(-5)
    pushed["v2s2"] = skopeo_push(timed, skopeo, images, "busybox-3layer", "dev", "--format", "v2s2")
    timed.at_day(-2)
    pushed["c"] = docker_build_push(timed, docker, base, "c", tmp / "c")
    return pushed


def test_simulated_days_preview_run_and_survivors(
    timed: TimedRegistry, images: LocalImages, skopeo: Tool, docker: Tool, tmp_path: Path
) -> None:
    registry = timed.registry
    assert "TEST MODE" in registry.log_path.read_text()  # the server says its clock is the test's
    pushed = push_over_days(timed, images, skopeo, docker, tmp_path)
    timed.at_day(0)  # SigV4 checks the signing time against the server's clock: back to the present
    assert len(set(pushed.values())) == len(pushed)
    assert registry.tags(REPO) == ["dev", "prod-1", "prod-2", "prod-3"]

    home = tmp_path / "aws"
    home.mkdir()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY, indent=2))
    put = timed.aws(
        home, "put-lifecycle-policy", "--repository-name", REPO, "--lifecycle-policy-text", f"file://{policy}"
    )
    assert (put["registryId"], put["repositoryName"]) == (ACCOUNT, REPO)
    started = timed.aws(home, "start-lifecycle-policy-preview", "--repository-name", REPO)
    assert started["status"] == "COMPLETE"
    preview = timed.aws(home, "get-lifecycle-policy-preview", "--repository-name", REPO)
    expected = {pushed["prod-1"]: 1, pushed["a"]: 2, pushed["b"]: 2}
    assert {r["imageDigest"]: r["appliedRulePriority"] for r in preview["previewResults"]} == expected
    assert preview["summary"]["expiringImageTotalCount"] == len(expected)

    ran = timed.dockyard("lifecycle", "run", REPO, "--account", ACCOUNT, "--json")
    assert {row["digest"]: row["rule_priority"] for row in ran} == expected  # the preview, exactly
    assert timed.dockyard("lifecycle", "run", REPO, "--account", ACCOUNT, "--json") == []

    for digest in expected:
        assert registry.manifest_status(REPO, digest) == 404
    survivors = {name: d for name, d in pushed.items() if d not in expected}
    assert set(survivors) == {"prod-2", "prod-3", "v2s2", "c"}
    for digest in survivors.values():
        assert registry.verify_image(REPO, digest).digest == digest  # manifest and every blob re-hashed
    assert registry.tags(REPO) == ["dev", "prod-2", "prod-3"]
    pull_back(timed, skopeo, docker, survivors, tmp_path)


def pull_back(timed: TimedRegistry, skopeo: Tool, docker: Tool, survivors: dict[str, str], tmp: Path) -> None:
    """The survivors pulled by the clients: skopeo into an OCI layout and a directory, docker by digest
    after dropping its local copy; every digest checked."""
    registry = timed.registry
    layout = tmp / "pulled-oci"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.ref(REPO, 'prod-2')}", f"oci:{layout}:p")
    verify_oci_layout(layout)
    assert sha256(oci_layout_manifest(layout, "p")) == survivors["prod-2"]
    directory = tmp / "pulled-dir"  # the untagged schema 2 image, by digest, its manifest kept byte for byte
    skopeo(
        "copy",
        "--src-tls-verify=false",
        f"docker://{registry.ref(REPO, survivors['v2s2'])}",
        f"dir:{directory}",
    )
    verify_dir_transport(directory)
    assert sha256((directory / "manifest.json").read_bytes()) == survivors["v2s2"]
    dev = registry.ref(REPO, "dev")
    docker("rmi", dev)
    by_digest = registry.ref(REPO, survivors["c"])
    assert f"Digest: {survivors['c']}" in docker("pull", by_digest).stdout
    repo_digests = docker("image", "inspect", "--format", "{{json .RepoDigests}}", by_digest).stdout
    assert f"{registry.host}/{REPO}@{survivors['c']}" in json.loads(repo_digests)
    docker("rmi", by_digest, registry.ref(REPO, "prod-1"))
