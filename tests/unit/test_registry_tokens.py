"""Registry passwords: signed claims, expiry, the shared key ring and its rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dockyard.services.ecr_tokens import HmacTokenIssuer, TokenKeyRing

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LIFETIME = timedelta(hours=12)
PRINCIPAL = "arn:aws:iam::111122223333:user/ci"


def test_password_carries_signed_claims_and_expires(tmp_path: Path) -> None:
    issuer = HmacTokenIssuer(TokenKeyRing.from_data_dir(tmp_path))
    password = issuer.issue("111122223333", PRINCIPAL, NOW + LIFETIME, "AKIAEXAMPLE")
    claims = issuer.verify(password, NOW)
    assert claims is not None
    assert (claims.account, claims.principal, claims.access_key_id) == (
        "111122223333",
        PRINCIPAL,
        "AKIAEXAMPLE",
    )
    assert issuer.verify(password, NOW + LIFETIME) is None
    prefix, kid, body, mac = password.split(".")
    assert issuer.verify(f"{prefix}.{kid}.{body}.{mac[::-1]}", NOW) is None
    assert issuer.verify(f"{prefix}.{kid}.{body[:-4]}AAAA.{mac}", NOW) is None
    assert issuer.verify(f"{prefix}.zzzz.{body}.{mac}", NOW) is None
    assert issuer.verify("", NOW) is None
    other = HmacTokenIssuer(TokenKeyRing.from_data_dir(tmp_path / "other"))
    assert other.verify(password, NOW) is None


def test_rotation_keeps_old_passwords_valid_until_they_expire(tmp_path: Path) -> None:
    ring = TokenKeyRing.from_data_dir(tmp_path)
    issuer = HmacTokenIssuer(ring)
    elsewhere = HmacTokenIssuer(TokenKeyRing.from_data_dir(tmp_path))  # another process, same data dir
    old = issuer.issue("111122223333", PRINCIPAL, NOW + LIFETIME, "AKIAEXAMPLE")
    first_kid = ring.key_ids[0]
    new_kid, retired = ring.rotate(NOW, LIFETIME)
    assert retired == []
    assert ring.key_ids == [new_kid, first_kid]
    new = issuer.issue("111122223333", PRINCIPAL, NOW + LIFETIME, "AKIAEXAMPLE")
    assert new.split(".")[1] == new_kid
    for verifier in (issuer, elsewhere):  # the other process reloads when a password names a new key
        assert verifier.verify(old, NOW) is not None
        assert verifier.verify(new, NOW) is not None
    # a rotation 12 hours after the first key stopped signing retires it: its passwords have expired
    _, retired = ring.rotate(NOW + LIFETIME + timedelta(seconds=1), LIFETIME)
    assert retired == [first_kid]
    assert issuer.verify(old, NOW) is None
    assert issuer.verify(new, NOW) is not None
    assert (tmp_path / TokenKeyRing.FILE).stat().st_mode & 0o777 == 0o600
