"""Registry passwords and ``/v2/`` authorization over plain HTTP: the challenge, bad tokens, revocation,
no existence leaks, tokens across server processes and key rotation. Each negative test checks that
nothing changed."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dockyard.services.ecr_tokens import HmacTokenIssuer, TokenKeyRing
from identity.support import DOCKYARD, Creds, Server

from .conftest import ACCOUNT_A, ACCOUNT_B, Registry

pytestmark = pytest.mark.e2e
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def v2(
    registry: Registry,
    method: str,
    path: str,
    password: str | None = None,
    account: str = ACCOUNT_A,
    **kwargs: Any,
) -> httpx.Response:
    auth = None if password is None else ("AWS", password)
    headers = {"Accept": MANIFEST_ACCEPT, **kwargs.pop("headers", {})}
    url = f"http://{registry.host(account)}{path}"
    return httpx.request(method, url, auth=auth, headers=headers, timeout=30, trust_env=False, **kwargs)


def altered(password: str) -> str:
    """``password`` with its expiry moved a year on and its signature left as it was."""
    prefix, kid, body, mac = password.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["e"] += 365 * 86400
    encoded = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=")
    return f"{prefix}.{kid}.{encoded.decode()}.{mac}"


def state(registry: Registry) -> Any:
    """What a refused request must not change: A's repositories and their images."""
    a = registry.ecr(registry.roots[ACCOUNT_A])
    found = {}
    for repository in a.describe_repositories()["repositories"]:
        name = repository["repositoryName"]
        found[name] = sorted(
            (d["imageDigest"], tuple(sorted(d.get("imageTags", []))))
            for d in a.describe_images(repositoryName=name)["imageDetails"]
        )
    return found


def test_challenge_and_base_endpoint(registry: Registry) -> None:
    anonymous = v2(registry, "GET", "/v2/")
    assert anonymous.status_code == 401
    host = registry.host(ACCOUNT_A)
    assert (
        anonymous.headers["www-authenticate"] == f'Basic realm="https://{host}/",service="ecr.amazonaws.com"'
    )
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert v2(registry, "GET", "/v2/", registry.password(registry.roots[ACCOUNT_A])).status_code == 200
    assert v2(registry, "GET", "/v2/app/manifests/v1").status_code == 401


def test_get_authorization_token_shape(registry: Registry) -> None:
    data = registry.ecr(registry.roots[ACCOUNT_A]).get_authorization_token()["authorizationData"][0]
    assert data["proxyEndpoint"] == f"https://{ACCOUNT_A}.dkr.dockyard.localhost"
    remaining = data["expiresAt"] - datetime.now(UTC)
    assert timedelta(hours=11, minutes=59) < remaining <= timedelta(hours=12)
    assert base64.b64decode(data["authorizationToken"]).startswith(b"AWS:")


def test_expired_and_forged_tokens_are_refused(registry: Registry, seeded: str) -> None:
    before = state(registry)
    root = registry.roots[ACCOUNT_A]
    issuer = HmacTokenIssuer(TokenKeyRing.from_data_dir(registry.data_dir))
    principal = f"arn:aws:iam::{ACCOUNT_A}:root"
    expired = issuer.issue(ACCOUNT_A, principal, datetime.now(UTC) - timedelta(seconds=1), root.key)
    good = registry.password(root)
    body, _, mac = good.rpartition(".")
    forged = [
        f"{body}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",  # signature altered
        altered(good),  # claims altered (no longer match the signature)
        HmacTokenIssuer(TokenKeyRing.from_data_dir(registry.data_dir.parent / "elsewhere")).issue(
            ACCOUNT_A, principal, datetime.now(UTC) + timedelta(hours=1), root.key
        ),  # signed with a key the server does not have
    ]
    for password in [expired, *forged]:
        for method, path in [
            ("GET", "/v2/app/manifests/v1"),
            ("POST", "/v2/app/blobs/uploads/"),
            ("DELETE", f"/v2/app/manifests/{seeded}"),
            ("PUT", "/v2/app/manifests/forged"),
        ]:
            response = v2(registry, method, path, password)
            assert response.status_code == 401, (method, path, response.text)
            assert "www-authenticate" in response.headers
    assert "expired" in v2(registry, "GET", "/v2/", expired).json()["errors"][0]["message"]
    assert state(registry) == before


def test_token_of_a_deleted_user_stops_working(registry: Registry, seeded: str) -> None:
    iam = registry.iam()
    name = f"leaver-{time.time_ns()}"
    iam.create_user(UserName=name)
    iam.attach_user_policy(
        UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    password = registry.password(Creds.of(key))
    assert v2(registry, "GET", "/v2/app/manifests/v1", password).status_code == 200
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert v2(registry, "GET", "/v2/app/manifests/v1", password).status_code == 401
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.detach_user_policy(
        UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
    )
    iam.delete_user(UserName=name)
    response = v2(registry, "GET", "/v2/app/manifests/v1", password)
    assert response.status_code == 401
    assert "no longer valid" in response.json()["errors"][0]["message"]


def test_removing_a_policy_takes_effect_at_once(registry: Registry, seeded: str) -> None:
    iam = registry.iam()
    name = f"revoked-{time.time_ns()}"
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="pull", PolicyDocument=json.dumps(policy))
    password = registry.password(Creds.of(iam.create_access_key(UserName=name)["AccessKey"]))
    for _ in range(3):  # warm every cache
        assert v2(registry, "GET", "/v2/app/manifests/v1", password).status_code == 200
    iam.delete_user_policy(UserName=name, PolicyName="pull")
    response = v2(registry, "GET", "/v2/app/manifests/v1", password)  # the very next request, no waiting
    assert response.status_code == 403
    error = response.json()["errors"][0]
    assert error["code"] == "DENIED"
    assert error["message"] == (
        f"User: arn:aws:iam::{ACCOUNT_A}:user/{name} is not authorized to perform: ecr:BatchGetImage on "
        f"resource: arn:aws:ecr:us-east-1:{ACCOUNT_A}:repository/app because no identity-based policy "
        "allows the ecr:BatchGetImage action"
    )


def test_no_existence_leaks_and_mounts_from_unreadable_repositories(registry: Registry, seeded: str) -> None:
    """A caller who may push only to ``sandbox``: every question about ``app`` is DENIED, whether the
    repository, tag or blob exists or not; a mount from ``app`` becomes a plain upload session."""
    root = registry.ecr(registry.roots[ACCOUNT_A])
    if "sandbox" not in state(registry):
        root.create_repository(repositoryName="sandbox")
    before = state(registry)
    sandbox = f"arn:aws:ecr:us-east-1:{ACCOUNT_A}:repository/sandbox"
    creds = registry.user(
        inline={
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ecr:*", "Resource": sandbox},
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            ],
        }
    )
    password = registry.password(creds)
    manifest = v2(registry, "GET", "/v2/app/manifests/v1", registry.password(registry.roots[ACCOUNT_A]))
    blob = json.loads(manifest.content)["layers"][0]["digest"]
    missing = "sha256:" + "0" * 64
    for path in [
        "/v2/app/manifests/v1",
        "/v2/app/manifests/nope",
        "/v2/nothing-here/manifests/v1",
        f"/v2/app/blobs/{blob}",
        f"/v2/app/blobs/{missing}",
        "/v2/app/tags/list",
        "/v2/nothing-here/tags/list",
    ]:
        response = v2(registry, "GET", path, password)
        assert (response.status_code, response.json()["errors"][0]["code"]) == (403, "DENIED"), path
    answers = []
    for digest in (blob, missing):
        response = v2(registry, "POST", f"/v2/sandbox/blobs/uploads/?mount={digest}&from=app", password)
        assert response.status_code == 202, response.text  # not 201: nothing mounted, nothing revealed
        answers.append(
            sorted(k for k in response.headers if k not in ("date", "location", "docker-upload-uuid"))
        )
        assert v2(registry, "DELETE", response.headers["location"], password).status_code == 204
    assert answers[0] == answers[1]
    assert v2(registry, "HEAD", f"/v2/sandbox/blobs/{blob}", password).status_code == 404
    catalog = v2(registry, "GET", "/v2/_catalog", password).json()["repositories"]
    assert "app" not in catalog
    assert state(registry) == before


def test_cross_account_pull_without_a_policy_is_denied(registry: Registry, seeded: str) -> None:
    before = state(registry)
    password = registry.password(registry.roots[ACCOUNT_B])
    for path in ["/v2/app/manifests/v1", "/v2/app/tags/list", "/v2/nothing/manifests/v1"]:
        response = v2(registry, "GET", path, password, account=ACCOUNT_A)
        assert response.status_code == 403, path
        assert response.json()["errors"][0]["message"].startswith(
            f"User: arn:aws:iam::{ACCOUNT_B}:root is not authorized to perform: "
        )
    assert v2(registry, "GET", "/v2/_catalog", password).json()["repositories"] == []
    assert state(registry) == before


def test_tokens_work_on_every_process_and_survive_key_rotation(registry: Registry, seeded: str) -> None:
    """A second `dockyard serve` on the same data directory accepts the first one's passwords; after
    `dockyard admin rotate-token-keys` old passwords still work everywhere and new ones too."""
    other = Server(registry.data_dir, env={"DOCKYARD_AUTH": "iam"})
    try:
        old = registry.password(registry.roots[ACCOUNT_A])
        url = f"http://{ACCOUNT_A}.dkr.dockyard.localhost:{other.port}/v2/app/manifests/v1"

        def pull(password: str, base: str) -> int:
            response = httpx.get(
                base, auth=("AWS", password), headers={"Accept": MANIFEST_ACCEPT}, timeout=30
            )
            return response.status_code

        first = f"http://{registry.host(ACCOUNT_A)}/v2/app/manifests/v1"
        assert pull(old, url) == 200
        done = subprocess.run(
            [DOCKYARD, "admin", "rotate-token-keys", "--data-dir", str(registry.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "older keys still verify" in done.stdout
        time.sleep(1.1)  # processes look at the key file at most once a second
        new = registry.password(registry.roots[ACCOUNT_A])
        assert new.split(".")[1] != old.split(".")[1]
        for password in (old, new):
            assert pull(password, url) == 200
            assert pull(password, first) == 200
    finally:
        other.stop()
