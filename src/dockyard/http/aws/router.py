"""One ASGI app on ``/`` for every AWS-style API: AWS clients POST to ``/`` of their endpoint URL, so the
request itself must say which service it is for.

In order: the service named in the signature's credential scope (``Credential=AKID/day/region/<service>/
aws4_request`` in ``Authorization``, or ``X-Amz-Credential`` in a presigned query); the ``X-Amz-Target``
prefix of a JSON request; for an unsigned Query request (``sts:AssumeRoleWithWebIdentity``), its
``Version`` parameter, else the one service whose model has its ``Action``. A request none of these place
gets an AWS-style error in the protocol it looks like (JSON when it has ``X-Amz-Target``, else Query XML).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.etree.ElementTree import Element, SubElement, tostring

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from dockyard.http.aws.endpoint import DEFAULT_MAX_BODY, AwsEndpoint

_QUERY_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"


class AwsRouter:
    """Dispatch to one :class:`AwsEndpoint` per signing name (``{"iam": ..., "sts": ..., "ecr": ...}``)."""

    def __init__(self, services: Mapping[str, AwsEndpoint[Any]], max_body_bytes: int = DEFAULT_MAX_BODY):
        self.services: dict[str, AwsEndpoint[Any]] = {}
        self.max_body_bytes = max_body_bytes
        self._by_target: dict[str, AwsEndpoint[Any]] = {}
        self._by_version: dict[str, AwsEndpoint[Any]] = {}
        for signing_name, endpoint in services.items():
            self.add(signing_name, endpoint)

    def add(self, signing_name: str, endpoint: AwsEndpoint[Any]) -> None:
        """Serve ``endpoint`` for requests signed for ``signing_name`` (``ecr``, ``logs``…)."""
        self.services[signing_name] = endpoint
        prefix = getattr(endpoint.protocol, "target_prefix", None) or endpoint.model.target_prefix
        if endpoint.model.protocol.startswith("json") and prefix:
            self._by_target[prefix] = endpoint
        elif endpoint.model.protocol == "query":
            self._by_version[endpoint.model.api_version] = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = scope.get("query_string", b"").decode("latin-1")
        service = signed_service(headers.get("authorization"), query)
        target = headers.get("x-amz-target")
        if service is not None:
            endpoint = self.services.get(service)
        elif target is not None:
            endpoint = self._by_target.get(target.rpartition(".")[0])
        else:
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                too_large = _query_error("RequestEntityTooLarge", "Request body too large")
                await Response(too_large, 413, media_type="text/xml")(scope, receive, send)
                return
            endpoint = self._by_query(query, body, headers.get("content-type", ""))
            receive = _replay(body, receive)
        if endpoint is None:
            await self._unknown(service, target)(scope, receive, send)
            return
        await endpoint(scope, receive, send)

    def _by_query(self, query: str, body: bytes, content_type: str) -> AwsEndpoint[Any] | None:
        params = dict(parse_qsl(query, keep_blank_values=True))
        form = content_type.split(";")[0].strip().lower() in ("", "application/x-www-form-urlencoded")
        if body and form:
            params.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        by_version = self._by_version.get(params.get("Version", ""))
        if by_version is not None:
            return by_version
        action = params.get("Action", "")
        owners = [e for e in self._by_version.values() if action in e.model.operation_names]
        return owners[0] if len(owners) == 1 else None

    def _unknown(self, service: str | None, target: str | None) -> Response:
        served = ", ".join(sorted(self.services))
        if service is not None:
            message = f"This endpoint serves the AWS services {served}; it does not serve '{service[:40]}'."
        else:
            message = f"The request names no AWS service this endpoint serves ({served})."
        if target is not None:
            body = json.dumps({"__type": "UnknownOperationException", "message": message})
            return Response(body, 400, media_type="application/x-amz-json-1.1")
        return Response(_query_error("InvalidAction", message), 400, media_type="text/xml")


def signed_service(authorization: str | None, query: str) -> str | None:
    """The service of a SigV4 credential scope, from the ``Authorization`` header or a presigned query."""
    credential = None
    if authorization is not None:
        for item in authorization.partition(" ")[2].split(","):
            name, _, value = item.strip().partition("=")
            if name == "Credential":
                credential = value
    else:
        for item in query.split("&"):
            name, _, value = item.partition("=")
            if unquote(name) == "X-Amz-Credential":
                credential = unquote(value)
    if credential is None:
        return None
    scope = credential.split("/")
    return scope[3] if len(scope) == 5 and scope[3] else None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it is larger than ``limit`` (the endpoint will refuse it anyway)."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _query_error(code: str, message: str) -> bytes:
    root = Element("ErrorResponse", {"xmlns": _QUERY_NAMESPACE})
    detail = SubElement(root, "Error")
    SubElement(detail, "Type").text = "Sender"
    SubElement(detail, "Code").text = code
    SubElement(detail, "Message").text = message
    SubElement(root, "RequestId").text = str(uuid.uuid4())
    document: bytes = tostring(root, encoding="utf-8")
    return document
