"""AWS's own SigV4 test suite (tests/fixtures/aws4_testsuite) run through the verifier.

For every case: our canonical request and string to sign equal the suite's; the request carrying the
suite's expected ``Authorization`` verifies; its ``.sreq`` verifies; a tampered signature or request fails.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockyard.http.aws.errors import Fault, SignatureError
from dockyard.http.aws.sigv4 import (
    IncomingRequest,
    SecretKeyRecord,
    SigV4Verifier,
    canonical_request,
    parse_signature,
    payload_hash,
    string_to_sign,
)

from .support import FixedClock, KeyTable

SUITE = Path(__file__).resolve().parents[2] / "fixtures" / "aws4_testsuite"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SIGNED_AT = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
CASES = sorted(p.parent.relative_to(SUITE).as_posix() for p in SUITE.rglob("*.req"))
# The suite's .sreq for this case carries get-vanilla's signature; its .authz/.creq/.sts are right.
WRONG_SREQ = {"get-vanilla-with-session-token"}


def read(case: str, suffix: str) -> str:
    return (SUITE / case / f"{Path(case).name}{suffix}").read_text(encoding="utf-8")


def parse_raw(text: str) -> IncomingRequest:
    """A raw HTTP/1.1 request from the suite (folded header lines continue the previous header)."""
    head, _, body = text.partition("\n\n")
    first, *lines = head.split("\n")
    method, _, rest = first.partition(" ")
    target = rest.rpartition(" ")[0]
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line}")
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return IncomingRequest(method, path, query, tuple(headers), body.encode())


def with_authorization(case: str) -> IncomingRequest:
    """The unsigned ``.req`` plus what the signer adds: the token the ``.creq`` signs, the ``.authz``."""
    request = parse_raw(read(case, ".req"))
    added = [("Authorization", read(case, ".authz").strip())]
    token = re.search(r"^x-amz-security-token:(.*)$", read(case, ".creq"), re.MULTILINE)
    if token and request.header("x-amz-security-token") is None:
        added.insert(0, ("X-Amz-Security-Token", token.group(1)))
    return IncomingRequest(
        request.method, request.path, request.query, (*request.headers, *added), request.body
    )


def verifier_for(request: IncomingRequest) -> SigV4Verifier:
    token = request.header("x-amz-security-token")
    keys = KeyTable({ACCESS_KEY: SecretKeyRecord(SECRET_KEY, session_token=token)})
    return SigV4Verifier(region="us-east-1", service="service", lookup=keys, clock=FixedClock(SIGNED_AT))


def test_the_suite_is_there() -> None:
    assert len(CASES) >= 30
    assert (SUITE / "LICENSE").is_file()


@pytest.mark.parametrize("case", CASES)
def test_canonical_request_and_string_to_sign_match_the_suite(case: str) -> None:
    request = with_authorization(case)
    parts = parse_signature(request)
    payload = payload_hash(request)
    assert canonical_request(request, parts, payload) == read(case, ".creq").replace("\r", "")
    assert string_to_sign(request, parts, payload) == read(case, ".sts").replace("\r", "")


@pytest.mark.parametrize("case", CASES)
async def test_the_expected_signature_verifies(case: str) -> None:
    request = with_authorization(case)
    verified = await verifier_for(request).verify(request)
    assert verified.access_key_id == ACCESS_KEY
    assert (verified.region, verified.service, verified.signed_at) == ("us-east-1", "service", SIGNED_AT)
    assert verified.session_token == request.header("x-amz-security-token")


@pytest.mark.parametrize("case", CASES)
async def test_the_signed_request_verifies(case: str) -> None:
    request = parse_raw(read(case, ".sreq"))
    if case.rpartition("/")[2] in WRONG_SREQ:
        with pytest.raises(SignatureError) as caught:
            await verifier_for(request).verify(request)
        assert caught.value.fault is Fault.SIGNATURE_DOES_NOT_MATCH
        return
    verified = await verifier_for(request).verify(request)
    assert verified.access_key_id == ACCESS_KEY


def tamper_signature(request: IncomingRequest) -> IncomingRequest:
    headers = []
    for name, value in request.headers:
        if name.lower() == "authorization":
            flipped = "0" if value[-1] != "0" else "1"
            value = value[:-1] + flipped
        headers.append((name, value))
    return IncomingRequest(request.method, request.path, request.query, tuple(headers), request.body)


@pytest.mark.parametrize("case", CASES)
async def test_a_tampered_signature_fails(case: str) -> None:
    request = tamper_signature(with_authorization(case))
    with pytest.raises(SignatureError) as caught:
        await verifier_for(request).verify(request)
    assert caught.value.fault is Fault.SIGNATURE_DOES_NOT_MATCH


@pytest.mark.parametrize("case", CASES)
async def test_a_tampered_request_fails(case: str) -> None:
    signed = with_authorization(case)
    for tampered in (
        IncomingRequest("PUT", signed.path, signed.query, signed.headers, signed.body),
        IncomingRequest(signed.method, signed.path + "x", signed.query, signed.headers, signed.body),
        IncomingRequest(signed.method, signed.path, signed.query + "&extra=1", signed.headers, signed.body),
        IncomingRequest(signed.method, signed.path, signed.query, signed.headers, signed.body + b"!"),
    ):
        with pytest.raises(SignatureError) as caught:
            await verifier_for(tampered).verify(tampered)
        assert caught.value.fault is Fault.SIGNATURE_DOES_NOT_MATCH
