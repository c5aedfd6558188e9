"""Digest parsing: registered algorithms, exact lengths, lower-case hex."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.domain.digest import Digest, is_digest, new_hasher
from dockyard.domain.errors import DigestInvalid, Unsupported

SHA256 = hashlib.sha256(b"x").hexdigest()
SHA512 = hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize(
    ("text", "algorithm", "encoded"),
    [(f"sha256:{SHA256}", "sha256", SHA256), (f"sha512:{SHA512}", "sha512", SHA512)],
)
def test_parse_registered_algorithms(text: str, algorithm: str, encoded: str) -> None:
    digest = Digest.parse(text)
    assert (digest.algorithm, digest.encoded) == (algorithm, encoded)
    assert str(digest) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        ":" + SHA256,
        f"sha256:{SHA256[:-1]}",
        f"sha256:{SHA256}0",
        f"sha256:{SHA512}",
        f"sha512:{SHA256}",
        f"sha256:{SHA256.upper()}",
        f"sha256:{SHA256[:-1]}A",
        f"sha256:{SHA256[:-1]}g",
        f"sha256:{SHA256}\n",
        f" sha256:{SHA256}",
        f"SHA256:{SHA256}",
        f"sha256::{SHA256}",
        f"sha256:{SHA256[:-2]}==",
        "sha256:" + "a" * 300,
    ],
)
def test_malformed_digests_are_invalid(text: str) -> None:
    with pytest.raises(DigestInvalid):
        Digest.parse(text)


@pytest.mark.parametrize(
    "text",
    [f"md5:{hashlib.md5(b'x').hexdigest()}", f"sha384:{'a' * 96}", "blake3:abc", f"sha256+b64:{SHA256}"],
)
def test_well_formed_unknown_algorithms_are_unsupported(text: str) -> None:
    with pytest.raises(Unsupported):
        Digest.parse(text)


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_of_matches_hashlib_and_round_trips(algorithm: str) -> None:
    digest = Digest.of(b"hello", algorithm)
    assert digest.encoded == hashlib.new(algorithm, b"hello").hexdigest()
    assert Digest.parse(str(digest)) == digest


def test_new_hasher_refuses_unknown_algorithms() -> None:
    assert new_hasher("sha512").hexdigest() == hashlib.sha512().hexdigest()
    with pytest.raises(Unsupported):
        new_hasher("md5")


def test_is_digest_tells_tags_from_digests() -> None:
    assert is_digest(f"sha256:{SHA256}")
    assert not is_digest("latest")
