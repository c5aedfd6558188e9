"""Shared helpers for the AWS protocol layer tests: clock, key table, botocore and reference signers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dockyard.http.aws.sigv4 import IncomingRequest, SecretKeyRecord


@dataclass
class FixedClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


@dataclass
class KeyTable:
    """An async ``lookup`` over a dict, counting calls."""

    records: dict[str, SecretKeyRecord] = field(default_factory=dict)
    calls: int = 0

    async def __call__(self, access_key_id: str) -> SecretKeyRecord | None:
        self.calls += 1
        return self.records.get(access_key_id)


ACCESS_KEY = "AKIDDOCKYARDTEST"
SECRET_KEY = "dockyard/secret+key/for+tests/only0000000"
SIGNED_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def _frozen(when: datetime) -> Iterator[None]:
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: when.replace(tzinfo=None)
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = original


frozen = contextmanager(_frozen)


def to_incoming(aws_request: AWSRequest, body: bytes = b"") -> IncomingRequest:
    """A botocore-signed request as the server would receive it."""
    prepared = aws_request.prepare()
    parts = urlsplit(prepared.url)
    headers = [(k, v if isinstance(v, str) else v.decode()) for k, v in prepared.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    raw_body = prepared.body or b""
    if isinstance(raw_body, str):
        raw_body = raw_body.encode()
    return IncomingRequest(prepared.method, parts.path or "/", parts.query, tuple(headers), raw_body or body)


def botocore_signed(
    method: str = "POST",
    url: str = "https://api.example.test/",
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    service: str = "ecr",
    region: str = "us-east-1",
    when: datetime = SIGNED_AT,
    key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    token: str | None = None,
    presign_expires: int | None = None,
) -> IncomingRequest:
    """A request signed by botocore itself (``SigV4Auth``, or ``SigV4QueryAuth`` when presigning)."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    credentials = Credentials(key, secret, token)
    if presign_expires is None:
        signer = botocore.auth.SigV4Auth(credentials, service, region)
    else:
        signer = botocore.auth.SigV4QueryAuth(credentials, service, region, expires=presign_expires)
    with frozen(when):
        signer.add_auth(request)
    return to_incoming(request)


def reference_signature(
    request: IncomingRequest,
    signed_headers: list[str],
    *,
    secret: str,
    scope: str,
    amz_date: str,
    payload: str | None = None,
) -> str:
    """An independent, spelled-out SigV4 signature (no botocore), for cases botocore cannot sign."""
    pairs = sorted(
        (quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~"))
        for k, _, v in (item.partition("=") for item in request.query.split("&") if item)
        if unquote(k) != "X-Amz-Signature"
    )
    lines = []
    for name in signed_headers:
        values = [" ".join(v.split()) for k, v in request.headers if k.lower() == name]
        lines.append(f"{name}:{','.join(values)}")
    canonical = "\n".join(
        [
            request.method,
            quote(request.path, safe="/~"),
            "&".join(f"{k}={v}" for k, v in pairs),
            "\n".join(lines) + "\n",
            ";".join(signed_headers),
            payload or hashlib.sha256(request.body).hexdigest(),
        ]
    )
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
