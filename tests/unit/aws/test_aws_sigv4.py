"""The SigV4 verifier against requests botocore signs, and against every way a request can be wrong."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dockyard.http.aws.errors import Fault, SignatureError
from dockyard.http.aws.sigv4 import (
    IncomingRequest,
    SecretKeyRecord,
    SigV4Verifier,
    VerifiedRequest,
    parse_signature,
)

from .support import (
    ACCESS_KEY,
    SECRET_KEY,
    SIGNED_AT,
    FixedClock,
    KeyTable,
    botocore_signed,
    frozen,
    reference_signature,
    to_incoming,
)

TOKEN = "FwoGZXIvYXdzEBYaDH+session/token=="
JSON_HEADERS = {
    "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.ListImages",
    "Content-Type": "application/x-amz-json-1.1",
}


def verifier(
    *,
    keys: KeyTable | None = None,
    at: timedelta = timedelta(),
    service: str = "ecr",
    allow_unsigned: bool = False,
) -> SigV4Verifier:
    table = keys or KeyTable({ACCESS_KEY: SecretKeyRecord(SECRET_KEY)})
    return SigV4Verifier(
        region=["us-east-1", "eu-west-1"],
        service=service,
        lookup=table,
        clock=FixedClock(SIGNED_AT + at),
        allow_unsigned_payload=allow_unsigned,
    )


async def fails(request: IncomingRequest, fault: Fault, v: SigV4Verifier | None = None) -> str:
    with pytest.raises(SignatureError) as caught:
        await (v or verifier()).verify(request)
    assert caught.value.fault is fault, caught.value.message
    message = caught.value.message
    assert SECRET_KEY not in message
    assert TOKEN not in message
    signature = (request.header("authorization") or "").rpartition("Signature=")[2]
    assert not signature or signature not in message
    return message


def with_headers(request: IncomingRequest, *extra: tuple[str, str], drop: str = "") -> IncomingRequest:
    kept = tuple((k, v) for k, v in request.headers if k.lower() != drop)
    return replace(request, headers=kept + extra)


async def test_a_botocore_signed_json_request_verifies() -> None:
    request = botocore_signed(body=b'{"repositoryName":"app"}', headers=JSON_HEADERS)
    verified = await verifier().verify(request)
    assert verified == VerifiedRequest(ACCESS_KEY, "us-east-1", "ecr", SIGNED_AT, None)


async def test_any_configured_region_is_accepted() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS, region="eu-west-1")
    assert (await verifier().verify(request)).region == "eu-west-1"


async def test_a_clock_within_fifteen_minutes_either_way_is_fine() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS)
    for offset in (timedelta(minutes=-15), timedelta(minutes=14, seconds=59)):
        await verifier(at=offset).verify(request)


async def test_an_old_signature_has_expired() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS)
    message = await fails(request, Fault.REQUEST_TIME_TOO_SKEWED, verifier(at=timedelta(minutes=16)))
    assert message == (
        "Signature expired: 20240506T070809Z is now earlier than 20240506T070909Z "
        "(20240506T072409Z - 15 min.)"
    )


async def test_a_signature_from_the_future_is_not_yet_current() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS)
    message = await fails(request, Fault.REQUEST_TIME_TOO_SKEWED, verifier(at=timedelta(minutes=-16)))
    assert message.startswith("Signature not yet current: 20240506T070809Z is still later than")


async def test_a_wrong_secret_does_not_match() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS, secret="not-the-secret")
    message = await fails(request, Fault.SIGNATURE_DOES_NOT_MATCH)
    assert message.startswith("The request signature we calculated does not match")


async def test_an_unknown_key_is_an_invalid_client_token() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS, key="AKIDUNKNOWN")
    message = await fails(request, Fault.INVALID_CLIENT_TOKEN_ID)
    assert message == "The security token included in the request is invalid."


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"region": "ap-south-1"}, "Credential should be scoped to a valid region, not 'ap-south-1'. "),
        ({"service": "iam"}, "Credential should be scoped to correct service: 'ecr'. "),
    ],
)
async def test_the_credential_scope_must_be_ours(kwargs: dict[str, str], expected: str) -> None:
    keys = KeyTable({ACCESS_KEY: SecretKeyRecord(SECRET_KEY)})
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS, **kwargs)
    assert await fails(request, Fault.SIGNATURE_DOES_NOT_MATCH, verifier(keys=keys)) == expected
    assert keys.calls == 0


async def test_the_scope_date_must_be_the_signing_day() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS)
    authorization = (request.header("authorization") or "").replace("/20240506/", "/20240505/")
    tampered = with_headers(request, ("Authorization", authorization), drop="authorization")
    message = await fails(tampered, Fault.SIGNATURE_DOES_NOT_MATCH)
    assert message.startswith("Date in Credential scope does not match YYYYMMDD from ISO-8601")


async def test_missing_authentication() -> None:
    bare = IncomingRequest("POST", "/", "", (("Host", "h"),), b"{}")
    assert await fails(bare, Fault.MISSING_AUTHENTICATION_TOKEN) == "Request is missing Authentication Token"


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("AWS AKID:c2lnbmF0dXJl", "Unsupported AWS 'algorithm': 'AWS'"),
        (
            "AWS4-HMAC-SHA256 Credential=A/20240506/us-east-1/ecr/aws4_request, SignedHeaders=host",
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20240506/us-east-1/aws4_request, SignedHeaders=host, Signature=ab",
            "Credential must have exactly 5 slash-delimited elements",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20240506/us-east-1/ecr/aws4_request, SignedHeaders=x-amz-date, "
            "Signature=ab",
            "'Host' must be a 'SignedHeader'",
        ),
    ],
)
async def test_an_incomplete_authorization_header(authorization: str, expected: str) -> None:
    request = IncomingRequest(
        "POST",
        "/",
        "",
        (("Host", "h"), ("X-Amz-Date", "20240506T070809Z"), ("Authorization", authorization)),
        b"",
    )
    assert (await fails(request, Fault.INCOMPLETE_SIGNATURE)).startswith(expected)


async def test_a_date_is_required() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS)
    undated = with_headers(request, drop="x-amz-date")
    assert "X-Amz-Date" in await fails(undated, Fault.INCOMPLETE_SIGNATURE)


async def test_a_session_token_must_match_the_temporary_key() -> None:
    keys = KeyTable({ACCESS_KEY: SecretKeyRecord(SECRET_KEY, session_token=TOKEN)})
    good = botocore_signed(body=b"{}", headers=JSON_HEADERS, token=TOKEN)
    assert (await verifier(keys=keys).verify(good)).session_token == TOKEN
    for request in (
        botocore_signed(body=b"{}", headers=JSON_HEADERS),
        botocore_signed(body=b"{}", headers=JSON_HEADERS, token=TOKEN + "x"),
    ):
        await fails(request, Fault.INVALID_CLIENT_TOKEN_ID, verifier(keys=keys))


async def test_a_token_with_a_long_term_key_is_refused() -> None:
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS, token=TOKEN)
    await fails(request, Fault.INVALID_CLIENT_TOKEN_ID)


async def test_an_expired_temporary_key() -> None:
    record = SecretKeyRecord(SECRET_KEY, session_token=TOKEN, expires_at=SIGNED_AT - timedelta(seconds=1))
    request = botocore_signed(body=b"{}", headers=JSON_HEADERS, token=TOKEN)
    message = await fails(request, Fault.EXPIRED_TOKEN, verifier(keys=KeyTable({ACCESS_KEY: record})))
    assert message == "The security token included in the request is expired"


async def test_the_content_hash_header_must_match_the_body() -> None:
    digest = hashlib.sha256(b"{}").hexdigest()
    good = botocore_signed(body=b"{}", headers={**JSON_HEADERS, "X-Amz-Content-SHA256": digest})
    await verifier().verify(good)
    bad = botocore_signed(body=b"{}", headers={**JSON_HEADERS, "X-Amz-Content-SHA256": "0" * 64})
    assert "x-amz-content-sha256" in await fails(bad, Fault.SIGNATURE_DOES_NOT_MATCH)


async def test_unsigned_payload_only_where_allowed() -> None:
    request = botocore_signed(
        body=b"{}", headers={**JSON_HEADERS, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    )
    await fails(request, Fault.SIGNATURE_DOES_NOT_MATCH)
    assert (await verifier(allow_unsigned=True).verify(request)).access_key_id == ACCESS_KEY


async def test_a_header_botocore_never_signs_is_honoured_when_a_client_signs_it() -> None:
    unsigned = IncomingRequest(
        "POST",
        "/",
        "a=2&a=1&b=%7E+x",
        (("Host", "api.example.test"), ("User-Agent", "other-sdk/1.0"), ("X-Amz-Date", "20240506T070809Z")),
        b"{}",
    )
    scope = "20240506/us-east-1/ecr/aws4_request"
    names = ["host", "user-agent", "x-amz-date"]
    signature = reference_signature(
        unsigned, names, secret=SECRET_KEY, scope=scope, amz_date="20240506T070809Z"
    )
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    request = with_headers(unsigned, ("Authorization", authorization))
    await verifier().verify(request)
    await fails(
        with_headers(request, ("User-Agent", "changed"), drop="user-agent"), Fault.SIGNATURE_DOES_NOT_MATCH
    )


# ------------------------------------------------------------------------------------------- presigned URLs

STS_URL = "https://sts.example.test/?Action=GetCallerIdentity&Version=2011-06-15"


async def test_a_presigned_url_verifies_until_it_expires() -> None:
    request = botocore_signed("GET", STS_URL, service="sts", presign_expires=60)
    assert parse_signature(request).expires == 60
    assert (await verifier(service="sts").verify(request)).service == "sts"
    await verifier(service="sts", at=timedelta(seconds=60)).verify(request)
    message = await fails(request, Fault.REQUEST_EXPIRED, verifier(service="sts", at=timedelta(seconds=61)))
    assert message == "Request has expired"


async def test_a_presigned_url_from_the_future_is_refused() -> None:
    request = botocore_signed("GET", STS_URL, service="sts", presign_expires=60)
    await fails(request, Fault.REQUEST_TIME_TOO_SKEWED, verifier(service="sts", at=timedelta(minutes=-16)))


async def test_a_presigned_url_with_a_changed_parameter_fails() -> None:
    request = botocore_signed("GET", STS_URL, service="sts", presign_expires=60)
    tampered = replace(request, query=request.query.replace("GetCallerIdentity", "GetSessionToken"))
    await fails(tampered, Fault.SIGNATURE_DOES_NOT_MATCH, verifier(service="sts"))


async def test_presigned_expiry_is_at_most_a_week() -> None:
    request = botocore_signed("GET", STS_URL, service="sts", presign_expires=604801)
    message = await fails(request, Fault.INCOMPLETE_SIGNATURE, verifier(service="sts"))
    assert "604800" in message


async def test_presigned_parameters_must_all_be_there() -> None:
    request = botocore_signed("GET", STS_URL, service="sts", presign_expires=60)
    query = "&".join(p for p in request.query.split("&") if not p.startswith("X-Amz-Credential="))
    message = await fails(replace(request, query=query), Fault.INCOMPLETE_SIGNATURE, verifier(service="sts"))
    assert "'X-Amz-Credential'" in message


async def test_only_one_auth_mechanism() -> None:
    request = botocore_signed("GET", STS_URL, service="sts", presign_expires=60)
    both = with_headers(request, ("Authorization", "AWS4-HMAC-SHA256 Credential=x"))
    assert "Only one auth mechanism" in await fails(both, Fault.INCOMPLETE_SIGNATURE, verifier(service="sts"))


async def test_a_presigned_url_with_a_session_token() -> None:
    keys = KeyTable({ACCESS_KEY: SecretKeyRecord(SECRET_KEY, session_token=TOKEN)})
    request = botocore_signed("GET", STS_URL, service="sts", presign_expires=60, token=TOKEN)
    verified = await SigV4Verifier(
        region="us-east-1", service="sts", lookup=keys, clock=FixedClock(SIGNED_AT)
    ).verify(request)
    assert verified.session_token == TOKEN


def test_from_scope_keeps_the_raw_path_query_and_repeated_headers() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"x=%2F&x=1",
        "headers": [(b"host", b"h"), (b"x-dup", b"1"), (b"x-dup", b"2")],
    }
    request = IncomingRequest.from_scope(scope, b"body")
    assert (request.method, request.path, request.query) == ("GET", "/a%20b", "x=%2F&x=1")
    assert request.header_values("X-Dup") == ["1", "2"]
    assert request.body == b"body"


async def test_s3_style_presigned_urls_sign_an_unsigned_payload_only_where_allowed() -> None:
    request = AWSRequest(method="GET", url="https://bucket.s3.example.test/key.txt")
    with frozen(SIGNED_AT):
        botocore.auth.S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1", 60).add_auth(
            request
        )
    incoming = to_incoming(request)
    assert (await verifier(service="s3", allow_unsigned=True).verify(incoming)).service == "s3"
    await fails(incoming, Fault.SIGNATURE_DOES_NOT_MATCH, verifier(service="s3"))
