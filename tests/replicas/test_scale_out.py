"""Issue 6's scale-out checks: three `dockyard serve` replicas on one fresh PostgreSQL database and one S3
(moto on loopback), blob GETs answered with 307s to presigned URLs.

- a chunked upload in 1 MiB chunks, each PATCH (and each status GET) on another replica;
- ``docker push`` through a round-robin HTTP proxy (``proxy.py``: every request to the next replica), then
  ``docker pull`` from one replica, following the presigned redirects;
- 20 concurrent pushers of images sharing their base layers, spread over the replicas;
- a replica SIGKILLed while a slow chunk is in flight on it: others keep pushing, the upload resumes on
  another replica at its last acknowledged size, and every image pulls with verified digests.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from e2e.support import LocalImages, Tool
from s3_target import S3Target

from .cluster import Cluster, login, registry_password, running_cluster
from .proxy import RoundRobinProxy
from .support import MIB, Pushed, Replicas, digest_of, pull_and_verify

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ANY_MANIFEST = f"{DOCKER_MANIFEST}, application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_target: S3Target) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory, s3_target, workers=(1, 1, 1), s3_part_size_mib="5") as running:
        yield running


@pytest.fixture(scope="module")
def authorization(cluster: Cluster) -> str:
    return login(cluster.urls[0], cluster.root)


def _range(response: httpx.Response) -> str:
    return response.headers["range"]


def _assert_redirected(url: str, authorization: str, repo: str, digest: str, s3: S3Target) -> None:
    """A blob GET on ``url`` answers 307 to a presigned URL of the S3 endpoint."""
    got = httpx.get(f"{url}/v2/{repo}/blobs/{digest}", headers={"Authorization": authorization})
    assert got.status_code == 307, got.text
    location = got.headers["location"]
    assert location.startswith(s3.endpoint_url), location
    assert "X-Amz-Signature=" in location


def test_a_chunked_upload_in_1_mib_chunks_each_patch_on_another_replica(
    cluster: Cluster, authorization: str, s3_target: S3Target
) -> None:
    urls, headers = cluster.urls, {"Authorization": authorization}
    repo, data = "scale/chunked", os.urandom(7 * MIB + 12345)  # 8 chunks; crosses a 5 MiB part
    started = httpx.post(f"{urls[0]}/v2/{repo}/blobs/uploads/", headers=headers)
    assert started.status_code == 202, started.text
    location, served = started.headers["location"], []
    for number, offset in enumerate(range(0, len(data), MIB)):
        url = urls[(number + 1) % len(urls)]  # never the replica of the previous request
        part = data[offset : offset + MIB]
        end = offset + len(part) - 1
        sent = httpx.patch(
            url + location,
            content=part,
            headers={**headers, "Content-Range": f"{offset}-{end}"},
            timeout=60,
        )
        assert sent.status_code == 202, sent.text
        assert _range(sent) == f"0-{end}"
        location = sent.headers["location"]
        served.append(url)
        status = httpx.get(urls[(number + 2) % len(urls)] + location, headers=headers)  # yet another one
        assert status.status_code == 204, status.text
        assert _range(status) == f"0-{end}"
    assert all(a != b for a, b in itertools.pairwise(served))
    assert set(served) == set(urls)
    digest = digest_of(data)
    finished = httpx.put(f"{urls[0]}{location}", params={"digest": digest}, headers=headers, timeout=60)
    assert finished.status_code == 201, finished.text
    for url in urls:
        _assert_redirected(url, authorization, repo, digest, s3_target)
        with httpx.Client(headers=headers, follow_redirects=True, timeout=60) as client:
            blob = client.get(f"{url}/v2/{repo}/blobs/{digest}")
        assert blob.status_code == 200
        assert digest_of(blob.content) == digest


def _push_layout(replicas: Replicas, layout: Path, tag: str, repo: str) -> str:
    """Push the image ``tag`` of an OCI layout blob by blob (requests alternating between replicas)."""
    index = json.loads((layout / "index.json").read_text())
    [descriptor] = [
        d
        for d in index["manifests"]
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]

    def blob(digest: str) -> bytes:
        return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()

    manifest = blob(descriptor["digest"])
    document = json.loads(manifest)
    for item in [document["config"], *document["layers"]]:
        data = blob(item["digest"])
        posted = replicas.request(
            "POST", f"/v2/{repo}/blobs/uploads/", params={"digest": item["digest"]}, content=data
        )
        assert posted.status_code == 201, posted.text
    put = replicas.request(
        "PUT",
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": descriptor["mediaType"]},
    )
    assert put.status_code == 201, put.text
    return digest_of(manifest)


def _pushed_digest(output: str) -> str:
    match = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", output)
    assert match, output
    return match.group(1)


@pytest.mark.e2e
def test_docker_push_through_a_round_robin_proxy_and_pull_from_a_replica(
    cluster: Cluster,
    authorization: str,
    docker: Tool,
    images: LocalImages,
    tmp_path: Path,
    s3_target: S3Target,
) -> None:
    password = registry_password(authorization)
    _push_layout(Replicas(cluster.urls, authorization), images.layout, "busybox-3layer", "scale/base")
    proxy = RoundRobinProxy(cluster.urls)
    with proxy.running() as url:
        host = url.removeprefix("http://")
        docker("login", "-u", "AWS", "--password-stdin", host, input_text=password)
        context = tmp_path / "context"
        context.mkdir()
        (context / "Dockerfile").write_text(
            f"FROM {host}/scale/base:busybox-3layer\n"  # pulled through the proxy (blob GETs: 307 to S3)
            'RUN ["/bin/busybox", "sh", "-c", "head -c 3000000 /dev/urandom > /app/random.bin"]\n'
        )
        ref = f"{host}/scale/docker:1"
        build = Tool(docker.argv, {**docker.env, "DOCKER_BUILDKIT": "0"})
        build("build", "--network", "none", "--pull", "-t", ref, context)
        first = len(proxy.log)
        pushed = _pushed_digest(docker("push", ref).stdout)
        requests = proxy.log[first:]
    uploads = [(index, method) for index, method, path in requests if "/blobs/uploads/" in path]
    assert {index for index, _, _ in requests} == {0, 1, 2}, requests
    assert {"POST", "PATCH", "PUT"} <= {method for _, method in uploads}, requests
    assert len({index for index, _ in uploads}) > 1, requests  # an upload's requests on several replicas

    other = cluster.replicas[2]
    assert pull_and_verify(other.url, authorization, "scale/docker", "1", ANY_MANIFEST) == pushed
    manifest = httpx.get(
        f"{other.url}/v2/scale/docker/manifests/1",
        headers={"Authorization": authorization, "Accept": ANY_MANIFEST},
    ).json()
    assert len(manifest["layers"]) == 4
    for layer in manifest["layers"]:
        _assert_redirected(other.url, authorization, "scale/docker", layer["digest"], s3_target)

    docker("login", "-u", "AWS", "--password-stdin", other.host, input_text=password)
    docker("rmi", ref, f"{host}/scale/base:busybox-3layer")
    pulled = docker("pull", f"{other.host}/scale/docker:1").stdout  # Docker verifies every digest
    assert f"Digest: {pushed}" in pulled
    docker("rmi", f"{other.host}/scale/docker:1")


def test_twenty_concurrent_pushers_of_overlapping_images(cluster: Cluster, authorization: str) -> None:
    base = [os.urandom(MIB + 17), os.urandom(64 * 1024)]  # every pusher uploads these at once
    urls = cluster.urls

    def push(number: int) -> Pushed:
        rotated = urls[number % len(urls) :] + urls[: number % len(urls)]
        replicas = Replicas(rotated, authorization)
        own = os.urandom(64 * 1024 + number)
        return replicas.push_layers(f"scale/crowd{number % 4}", f"t{number}", [*base, own], chunk=MIB)

    with ThreadPoolExecutor(20) as pool:
        pushed = list(pool.map(push, range(20)))
    for number, image in enumerate(pushed):
        url = urls[(number + 1) % len(urls)]
        assert pull_and_verify(url, authorization, image.repo, image.tag) == image.manifest
    for repo in {image.repo for image in pushed}:
        listed = httpx.get(f"{urls[0]}/v2/{repo}/tags/list", headers={"Authorization": authorization})
        assert sorted(listed.json()["tags"]) == sorted(i.tag for i in pushed if i.repo == repo)


def test_a_replica_killed_mid_upload_while_others_continue(cluster: Cluster, authorization: str) -> None:
    headers = {"Authorization": authorization}
    repo, data = "scale/killed", os.urandom(11 * MIB + 777)
    with cluster.extra_replica("victim") as victim:
        started = httpx.post(f"{cluster.urls[0]}/v2/{repo}/blobs/uploads/", headers=headers)
        assert started.status_code == 202, started.text
        first = httpx.patch(
            victim.url + started.headers["location"],
            content=data[:MIB],
            headers={**headers, "Content-Range": f"0-{MIB - 1}"},
            timeout=60,
        )
        assert first.status_code == 202, first.text
        location = first.headers["location"]

        # A slow chunk on the victim: 5.5 MiB at once (past a 5 MiB part), then a trickle until it dies.
        quick, slow_end = 6 * MIB + MIB // 2, 9 * MIB
        flowing, outcome = threading.Event(), []

        def body() -> Iterator[bytes]:
            yield data[MIB:quick]
            flowing.set()
            for offset in range(quick, slow_end, 16 * 1024):
                time.sleep(0.05)
                yield data[offset : min(offset + 16 * 1024, slow_end)]

        def slow_patch() -> None:
            try:
                outcome.append(
                    httpx.patch(
                        victim.url + location,
                        content=body(),
                        headers={**headers, "Content-Range": f"{MIB}-{slow_end - 1}"},
                        timeout=60,
                    ).status_code
                )
            except httpx.HTTPError as exc:
                outcome.append(type(exc).__name__)

        # Meanwhile another client pushes through the surviving replicas.
        others: list[Pushed] = []
        other = threading.Thread(
            target=lambda: others.append(
                Replicas(cluster.urls, authorization).push_image("scale/alive", "v1", 4 * MIB + 5, MIB)
            )
        )
        patching = threading.Thread(target=slow_patch)
        patching.start()
        other.start()
        assert flowing.wait(60)
        time.sleep(0.5)  # the victim is receiving (and may be uploading a part to S3)
        victim.kill()
        patching.join(60)
        other.join(120)
        assert outcome, "the slow PATCH did not end"
        assert outcome[0] != 202, outcome  # it was cut off

    # The upload goes on on the surviving replicas, from its last acknowledged size.
    urls = cluster.urls
    status = httpx.get(urls[1] + location, headers=headers)
    assert status.status_code == 204, status.text
    assert _range(status) == f"0-{MIB - 1}"
    for number, offset in enumerate(range(MIB, len(data), 2 * MIB)):
        part = data[offset : offset + 2 * MIB]
        sent = httpx.patch(
            urls[number % len(urls)] + location,
            content=part,
            headers={**headers, "Content-Range": f"{offset}-{offset + len(part) - 1}"},
            timeout=60,
        )
        assert sent.status_code == 202, sent.text
        location = sent.headers["location"]
    digest = digest_of(data)
    finished = httpx.put(f"{urls[2]}{location}", params={"digest": digest}, headers=headers, timeout=60)
    assert finished.status_code == 201, finished.text

    assert len(others) == 1, "the push on the surviving replicas failed"
    for url in urls:
        assert pull_and_verify(url, authorization, "scale/alive", "v1") == others[0].manifest
        with httpx.Client(headers=headers, follow_redirects=True, timeout=60) as client:
            blob = client.get(f"{url}/v2/{repo}/blobs/{digest}")
        assert blob.status_code == 200
        assert digest_of(blob.content) == digest
