"""ECR Public's pure parts: token scopes, bearer tokens, passwords, catalog data, aliases, host names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockyard.http.ecr_public.registry import PublicHostSwitch, host_name, requested, scope_action
from dockyard.services.ecr_public import check_catalog, random_alias
from dockyard.services.ecr_public_access import BearerTokens, PublicPasswordIssuer
from dockyard.services.ecr_public_types import CatalogData, valid_alias
from dockyard.services.ecr_tokens import HmacTokenIssuer, SigningKey
from dockyard.services.ecr_types import InvalidParameter

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SERVICE = "public.dockyard.localhost"
EVERYTHING = ("pull", "push", "delete")


def test_scopes_grant_only_allowed_actions_on_valid_repository_names() -> None:
    scopes = [
        "repository:acme/app:pull,push",
        "repository:acme/app:delete",
        "repository:acme/other:*",
        "repository:Bad Name:pull",
        "registry:catalog:*",
        "repository:acme/none:frobnicate",
        "garbage",
    ]
    assert requested(scopes, ("pull",)) == {"acme/app": {"pull"}, "acme/other": {"pull"}}
    assert requested(scopes, EVERYTHING) == {
        "acme/app": {"pull", "push", "delete"},
        "acme/other": {"pull", "push", "delete"},
    }
    many = [f"repository:acme/r{i}:pull" for i in range(100)]
    assert len(requested(many, ("pull",))) == 16


def test_bearer_tokens_round_trip_and_refuse_tampering_expiry_and_other_services() -> None:
    key = SigningKey.generate()
    tokens = BearerTokens(key, SERVICE)
    token, expires = tokens.issue(
        "arn:aws:iam::111111111111:root", "AKIA1", {"acme/app": ["pull", "push"]}, NOW
    )
    assert expires == NOW + timedelta(minutes=5)
    claims = tokens.verify(token, NOW)
    assert claims is not None
    assert (claims.principal, claims.access_key_id) == ("arn:aws:iam::111111111111:root", "AKIA1")
    assert claims.allows("acme/app", "push")
    assert not claims.allows("acme/app", "delete")
    assert not claims.allows("acme/other", "pull")
    assert tokens.verify(token, expires) is None
    body, _, mac = token.rpartition(".")
    assert tokens.verify(f"{body}x.{mac}", NOW) is None
    assert BearerTokens(key, "public.elsewhere").verify(token, NOW) is None
    assert BearerTokens(SigningKey.generate(), SERVICE).verify(token, NOW) is None
    anonymous, _ = tokens.issue(None, None, {"acme/app": ["pull"]}, NOW)
    found = tokens.verify(anonymous, NOW)
    assert found is not None
    assert found.principal is None


def test_public_and_private_login_passwords_are_not_interchangeable() -> None:
    key = SigningKey.generate()
    public, private = PublicPasswordIssuer(key), HmacTokenIssuer(key)
    expires = NOW + timedelta(hours=12)
    public_password = public.issue("111111111111", "arn:aws:iam::111111111111:root", expires, "AKIA1")
    private_password = private.issue("111111111111", "arn:aws:iam::111111111111:root", expires, "AKIA1")
    assert public.verify(public_password, NOW) is not None
    assert private.verify(private_password, NOW) is not None
    assert private.verify(public_password, NOW) is None
    assert public.verify(private_password, NOW) is None


def test_catalog_data_values_are_ecr_publics() -> None:
    checked = check_catalog(CatalogData(architectures=("ARM", "ARM", "x86-64"), operating_systems=("Linux",)))
    assert checked.architectures == ("ARM", "x86-64")
    with pytest.raises(InvalidParameter, match=r"catalogData\.architectures"):
        check_catalog(CatalogData(architectures=("arm64",)))
    with pytest.raises(InvalidParameter, match=r"catalogData\.operatingSystems"):
        check_catalog(CatalogData(operating_systems=("linux",)))
    old = CatalogData("d", "about", None, ("ARM",), None)
    assert old.merged(CatalogData(usage_text="u", architectures=())) == CatalogData(
        "d", "about", "u", (), None
    )


def test_random_aliases_are_valid_and_differ() -> None:
    drawn = {random_alias() for _ in range(50)}
    assert len(drawn) == 50
    assert all(valid_alias(alias) and len(alias) == 8 for alias in drawn)
    assert not valid_alias("1abc")
    assert not valid_alias("a")
    assert not valid_alias("ab--c")


@pytest.mark.parametrize(
    ("kind", "method", "action"),
    [
        ("manifests", "GET", "pull"),
        ("blobs", "HEAD", "pull"),
        ("tags", "GET", "pull"),
        ("referrers", "GET", "pull"),
        ("manifests", "PUT", "push"),
        ("uploads", "POST", "push"),
        ("upload", "PATCH", "push"),
        ("upload", "DELETE", "push"),
        ("manifests", "DELETE", "delete"),
        ("blobs", "DELETE", "delete"),
    ],
)
def test_scope_action_of_each_request(kind: str, method: str, action: str) -> None:
    assert scope_action(kind, method) == action


async def test_the_switch_sends_only_the_public_host_to_the_public_router() -> None:
    seen: list[str] = []

    def app(label: str) -> Any:
        async def serve(scope: Any, receive: Any, send: Any) -> None:
            seen.append(label)

        return serve

    switch = PublicHostSwitch(SERVICE, app("public"), app("private"))
    for host in (
        b"public.dockyard.localhost:5000",
        b"PUBLIC.dockyard.localhost.",
        b"111111111111.dkr.x",
        b"",
    ):
        await switch({"type": "http", "headers": [(b"host", host)]}, None, None)
    assert seen == ["public", "public", "private", "private"]
    assert host_name({"headers": [(b"host", b"Public.Dockyard.Localhost:80")]}) == SERVICE
