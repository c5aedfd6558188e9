"""Lifecycle policies never expire an image a running task uses: the digests agents report in their polls
are kept from a policy's preview and its run (the composition root's ``ecr_api`` wires the hook, so the
scheduled job and ``dockyard lifecycle run`` both honour it)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from dockyard.app import build_services, ecr_api
from dockyard.services.ecr import RegistryRef

from .support import ACCOUNT, Agent, EcsServer, unique

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EXPIRE_ALL_BUT_NEWEST = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                "action": {"type": "expire"},
            }
        ]
    }
)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push(server: EcsServer, repository: str, tag: str) -> str:
    """An image (config only) pushed over /v2/ (anonymous: the test server runs with auth none)."""
    config = json.dumps({"seed": unique(tag), "architecture": "amd64", "os": "linux"}).encode()
    uploaded = server.http.post(
        f"/v2/{repository}/blobs/uploads/", params={"digest": _digest(config)}, content=config
    )
    assert uploaded.status_code == 201, uploaded.text
    descriptor = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": _digest(config),
        "size": len(config),
    }
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor, "layers": []}
    ).encode()
    put = server.http.put(
        f"/v2/{repository}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.status_code == 201, put.text
    return _digest(manifest)


def _run_lifecycle(server: EcsServer, repository: str) -> list[str]:
    """Run the repository's policy as the scheduled job does; the digests expired."""

    async def run() -> list[str]:
        services = build_services(server.settings)
        try:
            report = await ecr_api(server.settings, services).lifecycle.run(repository, RegistryRef(ACCOUNT))
            return [expiry.digest for expiry in report.expired]
        finally:
            await services.close()

    return asyncio.run(run())


def test_an_image_a_running_task_uses_is_not_expired(
    server: EcsServer, ecs: Any, cluster: str, agent: Agent
) -> None:
    repository = unique("lifecycle")
    old, new = _push(server, repository, "old"), _push(server, repository, "new")
    ecr = server.client("ecr")
    ecr.put_lifecycle_policy(repositoryName=repository, lifecyclePolicyText=EXPIRE_ALL_BUT_NEWEST)
    family = unique("uses-old")
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "a", "image": "x", "memory": 8}]
    )
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    agent.poll([{"taskArn": task, "lastStatus": "RUNNING", "imageDigests": [old]}])

    ecr.start_lifecycle_policy_preview(repositoryName=repository)
    preview = ecr.get_lifecycle_policy_preview(repositoryName=repository)
    assert preview["previewResults"] == []
    assert _run_lifecycle(server, repository) == []
    kept = {d["imageDigest"] for d in ecr.describe_images(repositoryName=repository)["imageDetails"]}
    assert kept == {old, new}

    agent.poll([{"taskArn": task, "lastStatus": "STOPPED", "imageDigests": [old]}])  # no longer in use
    assert _run_lifecycle(server, repository) == [old]
    left = {d["imageDigest"] for d in ecr.describe_images(repositoryName=repository)["imageDetails"]}
    assert left == {new}
