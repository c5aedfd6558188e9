"""The pure pieces: registry host names, the credential scope the router reads, the server keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from starlette.requests import Request

from dockyard import crypto
from dockyard.domain.identity import RegistryHosts, account_for_host, registry_host
from dockyard.http.aws.endpoint import AwsEndpoint
from dockyard.http.aws.router import AwsRouter, signed_service

DOMAIN = "dockyard.localhost"
DEFAULT = "999988887777"


@pytest.mark.parametrize(
    ("host", "account"),
    [
        ("111122223333.dkr.dockyard.localhost", "111122223333"),
        ("111122223333.dkr.dockyard.localhost:5000", "111122223333"),
        ("111122223333.DKR.Dockyard.Localhost.", "111122223333"),
        ("127.0.0.1:5000", DEFAULT),
        ("[::1]:5000", DEFAULT),
        ("localhost", DEFAULT),
        ("12345.dkr.dockyard.localhost", DEFAULT),
        ("x111122223333.dkr.dockyard.localhost", DEFAULT),
        ("111122223333.dkr.other.example", DEFAULT),
        ("a.111122223333.dkr.dockyard.localhost", DEFAULT),
        ("", DEFAULT),
    ],
)
def test_account_for_host(host: str, account: str) -> None:
    assert account_for_host(host, domain=DOMAIN, default=DEFAULT) == account
    assert RegistryHosts(DOMAIN, DEFAULT).account_for_host(host) == account


def test_registry_host_round_trips() -> None:
    hosts = RegistryHosts("Registry.Example.Test")
    assert hosts.host_for("111122223333") == registry_host("111122223333", "registry.example.test")
    assert hosts.account_for_host(hosts.host_for("111122223333") + ":443") == "111122223333"
    assert hosts.account_for_host("registry.example.test") is None


@pytest.mark.parametrize(
    ("authorization", "query", "service"),
    [
        (
            "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, "
            "Signature=ab",
            "",
            "iam",
        ),
        (None, "Action=X&X-Amz-Credential=AKIA%2F20240101%2Feu-west-1%2Fsts%2Faws4_request", "sts"),
        ("AWS4-HMAC-SHA256 Credential=broken, SignedHeaders=host", "", None),
        (None, "Action=AssumeRoleWithWebIdentity", None),
    ],
)
def test_the_router_reads_the_signed_service(
    authorization: str | None, query: str, service: str | None
) -> None:
    assert signed_service(authorization, query) == service


def test_a_secret_box_follows_its_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crypto.KEYS_ENV, raising=False)
    box = crypto.SecretBox.from_data_dir(tmp_path)
    other = crypto.SecretBox.from_data_dir(tmp_path)  # a second process on the same data directory
    sealed = box.seal("s3cr3t")
    assert other.open(sealed) == "s3cr3t"
    newer = crypto.new_key()
    crypto.write_keys(crypto.key_file(tmp_path), [newer])
    resealed = Fernet(newer.encode()).encrypt(b"rotated")
    assert other.open(resealed) == "rotated"  # a secret under an unknown key: the file is read again
    assert box.sealed_by_newest(box.seal("fresh"))  # sealing re-reads a changed file first
    with pytest.raises(ValueError, match="cannot be decrypted"):
        box.open(sealed)


def test_rotation_with_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = crypto.new_key(), crypto.new_key()
    sealed = [Fernet(old.encode()).encrypt(b"one"), Fernet(old.encode()).encrypt(b"two")]
    monkeypatch.setenv(crypto.KEYS_ENV, f"{new},{old}")

    async def reseal_all(transform: Callable[[bytes], bytes]) -> int:
        sealed[:] = [transform(item) for item in sealed]
        return len(sealed)

    assert asyncio.run(crypto.rotate(tmp_path, reseal_all, settle=0)) == (2, False)
    assert [Fernet(new.encode()).decrypt(item) for item in sealed] == [b"one", b"two"]
    assert not crypto.key_file(tmp_path).exists()


async def test_the_router_dispatches_json_by_target_and_query_by_version() -> None:
    async def anyone(_request: Request, _body: bytes) -> str:
        return "caller"

    async def describe(_caller: str, _params: dict[str, Any]) -> dict[str, Any]:
        return {"repositories": []}

    async def who(_caller: str, _params: dict[str, Any]) -> dict[str, Any]:
        return {"Account": "111122223333"}

    router = AwsRouter(
        {"sts": AwsEndpoint(service="sts", handlers={"GetCallerIdentity": who}, authenticator=anyone)}
    )
    router.add(
        "ecr", AwsEndpoint(service="ecr", handlers={"DescribeRepositories": describe}, authenticator=anyone)
    )
    transport = httpx.ASGITransport(app=router)
    async with httpx.AsyncClient(transport=transport, base_url="http://aws") as http:
        target = "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        ecr = await http.post("/", headers=headers, content=b"{}")
        assert (ecr.status_code, ecr.json()) == (200, {"repositories": []})
        sts = await http.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
        assert sts.status_code == 200
        assert "<Account>111122223333</Account>" in sts.text
        by_action = await http.post("/", data={"Action": "GetCallerIdentity"})
        assert by_action.status_code == 200
        unknown = await http.post("/", data={"Action": "Nothing"})
        assert (unknown.status_code, "<Code>InvalidAction</Code>" in unknown.text) == (400, True)
