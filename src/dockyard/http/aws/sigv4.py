"""Verification of AWS Signature Version 4 on incoming requests (header and presigned-query forms).

Reused from botocore's client-side signer (``botocore.auth.SigV4Auth``), through a subclass: the canonical
request layout, canonical headers (lower-case names, trimmed values, repeated headers joined with ``,``),
the signed-header list, the canonical URI (``remove_dot_segments`` then ``quote(safe='/~')``: the double
encoding every service but S3 uses), the string to sign, and the HMAC key derivation.

Replaced, because botocore's signer assumes it is the client:

* ``headers_to_sign`` — botocore signs every header it has except a blacklist (``user-agent``, ``expect``…);
  a verifier must use exactly the client's ``SignedHeaders``, blacklisted names included.
* ``canonical_query_string`` — botocore encodes its own params dict (no repeated keys) or trusts its own
  URL; a server receives any encoding and repeated keys, so each name and value is percent-decoded and
  re-encoded with RFC 3986 unreserved characters, sorted by name then value, ``X-Amz-Signature`` left out.
* ``payload`` — botocore hashes what it sends; the verifier hashes what it received. A sent
  ``X-Amz-Content-Sha256`` must equal that hash; ``UNSIGNED-PAYLOAD`` is accepted only by a verifier built
  with ``allow_unsigned_payload`` (as S3 would be; none of the JSON/Query APIs are).

Everything else here is the server's own business: parsing the ``Authorization`` header and presigned
parameters, the credential scope (day of ``X-Amz-Date``, configured region, the endpoint's service,
``aws4_request``), ±15 minutes of clock skew, presigned expiry (at most 604800 s), the key lookup, session
tokens and the constant-time comparison. Secrets, signatures and tokens are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest, HTTPHeaders  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.types import Scope

from dockyard.http.aws.errors import Fault, SignatureError
from dockyard.ports import Clock

log = logging.getLogger("dockyard.aws")

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGNED_EXPIRES = 604800
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_PRESIGN_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders")
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class IncomingRequest:
    """The parts of an HTTP request a signature covers, as they arrived on the wire."""

    method: str
    path: str  # the raw path, still percent-encoded, without the query
    query: str  # the raw query string
    headers: tuple[tuple[str, str], ...]  # names as sent, in order, repeats kept
    body: bytes

    @classmethod
    def from_scope(cls, scope: Scope, body: bytes) -> IncomingRequest:
        """From an ASGI scope: ``raw_path`` when the server gives it, header bytes read as Latin-1."""
        raw: bytes = scope.get("raw_path") or quote(scope["path"]).encode()
        path = raw.partition(b"?")[0].decode("utf-8", errors="replace")
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
        query = scope.get("query_string", b"").decode("utf-8", errors="replace")
        return cls(scope["method"], path, query, headers, body)

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def header(self, name: str) -> str | None:
        found = self.header_values(name)
        return found[0] if found else None


@dataclass(frozen=True)
class SecretKeyRecord:
    """What the key lookup knows of an access key id.

    ``session_token`` set means temporary credentials: the request must carry that exact token;
    ``expires_at`` in the past answers ``ExpiredToken``.
    """

    secret_access_key: str
    session_token: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class VerifiedRequest:
    access_key_id: str
    region: str
    service: str
    signed_at: datetime
    session_token: str | None


@dataclass(frozen=True)
class SignatureParts:
    """The signature a request carries, parsed but not yet checked."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    signed_at: datetime
    session_token: str | None
    expires: int | None  # presigned requests only

    @property
    def presigned(self) -> bool:
        return self.expires is not None


KeyLookup = Callable[[str], Awaitable[SecretKeyRecord | None]]


def _fail(fault: Fault, message: str) -> SignatureError:
    return SignatureError(message, fault)


# ------------------------------------------------------------------------------------------------- parsing


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The raw query's name/value pairs, percent-decoded (``+`` stays a plus), blanks kept."""
    pairs = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def parse_signature(request: IncomingRequest) -> SignatureParts:
    """The signature ``request`` carries, from its ``Authorization`` header or presigned query."""
    params = dict(reversed(query_pairs(request.query)))  # first occurrence wins
    authorization = request.header("authorization")
    if authorization is not None and "X-Amz-Algorithm" in params:
        raise _fail(
            Fault.INCOMPLETE_SIGNATURE,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm "
            "query parameter or the Authorization header should be specified",
        )
    if authorization is not None:
        return _from_header(request, authorization)
    if "X-Amz-Algorithm" in params or "X-Amz-Signature" in params:
        return _from_query(request, params)
    raise _fail(Fault.MISSING_AUTHENTICATION_TOKEN, "Request is missing Authentication Token")


def _from_header(request: IncomingRequest, authorization: str) -> SignatureParts:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _fail(Fault.INCOMPLETE_SIGNATURE, f"Unsupported AWS 'algorithm': '{algorithm[:40]}'")
    fields = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        text = " ".join(f"Authorization header requires '{n}' parameter." for n in missing)
        raise _fail(Fault.INCOMPLETE_SIGNATURE, text)
    amz_date = request.header("x-amz-date") or _from_http_date(request.header("date"))
    token = request.header("x-amz-security-token")
    return _parts(fields["Credential"], fields["SignedHeaders"], fields["Signature"], amz_date, token, None)


def _from_http_date(value: str | None) -> str:
    if value is None:
        raise _fail(
            Fault.INCOMPLETE_SIGNATURE,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    try:
        return parsedate_to_datetime(value).astimezone(UTC).strftime(AMZ_DATE_FORMAT)
    except (TypeError, ValueError) as exc:
        raise _fail(Fault.INCOMPLETE_SIGNATURE, "The Date header is not an RFC 1123 date.") from exc


def _from_query(request: IncomingRequest, params: dict[str, str]) -> SignatureParts:
    missing = [n for n in (*_PRESIGN_PARAMS, "X-Amz-Expires", "X-Amz-Signature") if not params.get(n)]
    if missing:
        names = ", ".join(f"'{n}'" for n in missing)
        raise _fail(
            Fault.INCOMPLETE_SIGNATURE,
            f"AWS query-string parameters must include {names}. Re-examine the query-string parameters.",
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _fail(
            Fault.INCOMPLETE_SIGNATURE, f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm'][:40]}'"
        )
    expires = _expires(params["X-Amz-Expires"])
    token = params.get("X-Amz-Security-Token") or request.header("x-amz-security-token")
    return _parts(
        params["X-Amz-Credential"],
        params["X-Amz-SignedHeaders"],
        params["X-Amz-Signature"],
        params["X-Amz-Date"],
        token,
        expires,
    )


def _expires(text: str) -> int:
    if not text.isdigit():
        raise _fail(Fault.INCOMPLETE_SIGNATURE, "X-Amz-Expires should be a number")
    expires = int(text)
    if expires > MAX_PRESIGNED_EXPIRES:
        raise _fail(
            Fault.INCOMPLETE_SIGNATURE,
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}",
        )
    return expires


def _parts(
    credential: str,
    signed_headers: str,
    signature: str,
    amz_date: str,
    token: str | None,
    expires: int | None,
) -> SignatureParts:
    scope = credential.split("/")
    if len(scope) != 5 or not all(scope):
        raise _fail(
            Fault.INCOMPLETE_SIGNATURE,
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential[:200]}'",
        )
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise _fail(
            Fault.INCOMPLETE_SIGNATURE, f"Date must be in ISO-8601 'basic format'. Got '{amz_date[:40]}'."
        ) from exc
    headers = tuple(h.strip().lower() for h in signed_headers.split(";"))
    if "host" not in headers:
        raise _fail(Fault.INCOMPLETE_SIGNATURE, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    key, day, region, service, terminator = scope
    return SignatureParts(
        key, day, region, service, terminator, headers, signature, amz_date, signed_at, token or None, expires
    )


# ------------------------------------------------------------------------------------------ canonical form


class _ServerSigV4(SigV4Auth):  # type: ignore[misc]
    """botocore's signer with the client-side choices replaced by what the request says (see above)."""

    def __init__(self, credentials: Any, service: str, region: str, signed: Any, query: str, payload: str):
        super().__init__(credentials, service, region)
        self._signed = signed
        self._query = query
        self._payload = payload

    def headers_to_sign(self, request: Any) -> Any:
        return self._signed

    def canonical_query_string(self, request: Any) -> str:
        return self._query

    def payload(self, request: Any) -> str:
        return self._payload


def canonical_query(request: IncomingRequest, presigned: bool) -> str:
    """Every query parameter (but a presigned request's signature) re-encoded, sorted by name and value."""
    encoded = sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~"))
        for name, value in query_pairs(request.query)
        if not (presigned and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _signer(request: IncomingRequest, parts: SignatureParts, secret: str, payload: str) -> tuple[Any, Any]:
    signed = HTTPHeaders()
    for name in parts.signed_headers:
        found = request.header_values(name)
        if not found:
            raise _fail(Fault.SIGNATURE_DOES_NOT_MATCH, _BAD_SIGNATURE)
        for value in found:
            signed[name] = value
    credentials = Credentials(parts.access_key_id, secret, parts.session_token)
    query = canonical_query(request, parts.presigned)
    signer = _ServerSigV4(credentials, parts.service, parts.region, signed, query, payload)
    aws_request = AWSRequest(method=request.method, url=f"http://localhost{request.path}")
    aws_request.headers = signed
    aws_request.context["timestamp"] = parts.amz_date
    return signer, aws_request


def canonical_request(request: IncomingRequest, parts: SignatureParts, payload: str) -> str:
    signer, aws_request = _signer(request, parts, "", payload)
    text: str = signer.canonical_request(aws_request)
    return text


def string_to_sign(request: IncomingRequest, parts: SignatureParts, payload: str) -> str:
    signer, aws_request = _signer(request, parts, "", payload)
    text: str = signer.string_to_sign(aws_request, signer.canonical_request(aws_request))
    return text


def expected_signature(request: IncomingRequest, parts: SignatureParts, secret: str, payload: str) -> str:
    """The hex signature ``secret`` gives this request (what the client must have sent)."""
    signer, aws_request = _signer(request, parts, secret, payload)
    canonical = signer.canonical_request(aws_request)
    text: str = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    return text


def payload_hash(request: IncomingRequest, allow_unsigned: bool = False, presigned: bool = False) -> str:
    """The payload hash to sign with: the body's SHA-256, checked against ``X-Amz-Content-Sha256``.

    With ``allow_unsigned`` (S3's rules) a presigned request, or one declaring ``UNSIGNED-PAYLOAD``, signs
    that constant instead.
    """
    computed = hashlib.sha256(request.body).hexdigest()
    declared = request.header("x-amz-content-sha256")
    if allow_unsigned and (declared == UNSIGNED_PAYLOAD or (presigned and declared is None)):
        return UNSIGNED_PAYLOAD
    if declared is None or declared == computed:
        return computed
    raise _fail(
        Fault.SIGNATURE_DOES_NOT_MATCH,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )


# ------------------------------------------------------------------------------------------------ verifier


class SigV4Verifier:
    """Checks SigV4 signatures for one endpoint (its service name and the regions it answers for)."""

    def __init__(
        self,
        *,
        region: str | Collection[str],
        service: str,
        lookup: KeyLookup,
        clock: Clock,
        max_skew: timedelta = timedelta(minutes=15),
        allow_unsigned_payload: bool = False,
    ) -> None:
        self.regions = frozenset([region] if isinstance(region, str) else region)
        self.service = service
        self.lookup = lookup
        self.clock = clock
        self.max_skew = max_skew
        self.allow_unsigned_payload = allow_unsigned_payload

    async def verify_starlette(self, request: Request, body: bytes) -> VerifiedRequest:
        return await self.verify(IncomingRequest.from_scope(request.scope, body))

    async def verify(self, request: IncomingRequest) -> VerifiedRequest:
        """The verified identity of ``request``; :class:`SignatureError` saying why not otherwise."""
        parts = parse_signature(request)
        self.check_scope(parts)
        now = self.clock.now()
        self.check_time(parts, now)
        record = await self.lookup(parts.access_key_id)
        if record is None:
            raise _fail(
                Fault.INVALID_CLIENT_TOKEN_ID, "The security token included in the request is invalid."
            )
        payload = payload_hash(request, self.allow_unsigned_payload, parts.presigned)
        expected = expected_signature(request, parts, record.secret_access_key, payload)
        if not hmac.compare_digest(expected.encode(), parts.signature.encode("utf-8", errors="replace")):
            log.info("aws signature mismatch", extra={"access_key_id": parts.access_key_id})
            raise _fail(Fault.SIGNATURE_DOES_NOT_MATCH, _BAD_SIGNATURE)
        _check_token(record, parts, now)
        return VerifiedRequest(
            parts.access_key_id, parts.region, parts.service, parts.signed_at, parts.session_token
        )

    def check_scope(self, parts: SignatureParts) -> None:
        if parts.scope_date != parts.amz_date[:8]:
            raise _fail(
                Fault.SIGNATURE_DOES_NOT_MATCH,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{parts.scope_date[:8]}' != '{parts.amz_date[:8]}', from "
                f"'{parts.amz_date}'.",
            )
        if parts.region not in self.regions:
            raise _fail(
                Fault.SIGNATURE_DOES_NOT_MATCH,
                f"Credential should be scoped to a valid region, not '{parts.region[:40]}'. ",
            )
        if parts.service != self.service:
            raise _fail(
                Fault.SIGNATURE_DOES_NOT_MATCH,
                f"Credential should be scoped to correct service: '{self.service}'. ",
            )
        if parts.terminator != TERMINATOR:
            raise _fail(
                Fault.SIGNATURE_DOES_NOT_MATCH,
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
                f"not '{parts.terminator[:40]}'. ",
            )

    def check_time(self, parts: SignatureParts, now: datetime) -> None:
        stamp = parts.signed_at
        if stamp - now > self.max_skew:
            raise _fail(
                Fault.REQUEST_TIME_TOO_SKEWED,
                f"Signature not yet current: {parts.amz_date} is still later than "
                f"{_stamp(now + self.max_skew)} ({_stamp(now)} + {_minutes(self.max_skew)} min.)",
            )
        if parts.expires is not None:
            if now > stamp + timedelta(seconds=parts.expires):
                raise _fail(Fault.REQUEST_EXPIRED, "Request has expired")
            return
        if now - stamp > self.max_skew:
            raise _fail(
                Fault.REQUEST_TIME_TOO_SKEWED,
                f"Signature expired: {parts.amz_date} is now earlier than "
                f"{_stamp(now - self.max_skew)} ({_stamp(now)} - {_minutes(self.max_skew)} min.)",
            )


def _check_token(record: SecretKeyRecord, parts: SignatureParts, now: datetime) -> None:
    sent = (parts.session_token or "").encode()
    wanted = (record.session_token or "").encode()
    if not hmac.compare_digest(sent, wanted):
        raise _fail(Fault.INVALID_CLIENT_TOKEN_ID, "The security token included in the request is invalid.")
    if record.expires_at is not None and record.expires_at <= now:
        raise _fail(Fault.EXPIRED_TOKEN, "The security token included in the request is expired")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(AMZ_DATE_FORMAT)


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
