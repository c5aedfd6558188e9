"""One ASGI endpoint for an AWS-style API: read → authenticate → resolve → parse → validate → dispatch.

``AwsEndpoint(service="ecr", handlers={...}, authenticator=...)`` serves every operation of the botocore
model ``ecr`` that has a handler, in the model's wire format (``json`` or ``query``). An operation the model
lacks, or has but no handler serves, is answered as AWS answers an unknown operation
(``UnknownOperationException`` / ``InvalidAction``, 400) — never with a made-up success.

Errors, in the order they can happen:

* protocol faults (:class:`~.errors.ProtocolError`: signature, serialization, validation, unknown
  operation, access denied) through the protocol's own table (``JSON_FAULTS`` / ``QUERY_FAULTS``);
* :class:`~.errors.AwsError` from a handler as it is; a modeled shape name is sent as the model's wire
  code (IAM ``NoSuchEntityException`` → ``NoSuchEntity``) with the model's status (404) unless the error
  names one;
* any other exception through the service's domain table, if it maps it, else logged and answered as
  ``InternalFailure`` (500) without detail.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Literal, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.http.aws.errors import (
    AwsError,
    DomainTable,
    Fault,
    ProtocolError,
    SerializationError,
    UnknownOperationError,
    fault_error,
    map_domain_error,
)
from dockyard.http.aws.json_protocol import JsonProtocol
from dockyard.http.aws.model import ApiModel, OperationModel, service_model, validate
from dockyard.http.aws.query_protocol import QueryProtocol

log = logging.getLogger("dockyard.aws")

Caller = TypeVar("Caller")
Handler = Callable[[Caller, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]
Authenticator = Callable[[Request, bytes], Awaitable[Caller]]
ErrorMapper = Callable[[Exception], AwsError | None]

DEFAULT_MAX_BODY = 32 * 1024 * 1024


class WireProtocol(Protocol):
    """What the endpoint needs of a wire format (:class:`JsonProtocol`, :class:`QueryProtocol`)."""

    @property
    def faults(self) -> Mapping[Fault, tuple[str, int]]: ...

    def operation_name(self, request: Request, body: bytes) -> str: ...

    def parse_input(self, operation: OperationModel, request: Request, body: bytes) -> dict[str, Any]: ...

    def output_response(
        self, operation: OperationModel, output: Mapping[str, Any] | None, request_id: str
    ) -> Response: ...

    def error_response(self, error: AwsError, status: int, request_id: str) -> Response: ...


def wire_protocol(
    model: ApiModel,
    protocol: Literal["json", "query"] | None = None,
    *,
    target_prefix: str | None = None,
    reject_unknown_members: bool = True,
) -> WireProtocol:
    """The wire format ``protocol`` (default: the model's own) for ``model``."""
    chosen = protocol or model.protocol
    if chosen == "json":
        json_protocol = JsonProtocol(model, reject_unknown_members=reject_unknown_members)
        if target_prefix is not None:
            json_protocol.target_prefix = target_prefix
        return json_protocol
    if chosen == "query":
        return QueryProtocol(model)
    raise ValueError(f"unsupported AWS protocol {chosen!r} for service {model.name}")


class AwsEndpoint(Generic[Caller]):
    """An ASGI app serving one AWS-style API; :meth:`handle` is the same as a request → response call."""

    def __init__(
        self,
        *,
        service: str,
        handlers: Mapping[str, Handler[Caller]],
        authenticator: Authenticator[Caller],
        protocol: Literal["json", "query"] | None = None,
        target_prefix: str | None = None,
        domain_errors: DomainTable | ErrorMapper | None = None,
        reject_unknown_members: bool = True,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        request_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.model = service_model(service)
        unknown = sorted(set(handlers) - self.model.operation_names)
        if unknown:
            raise ValueError(f"{service} has no operations {unknown}")
        self.protocol = wire_protocol(
            self.model, protocol, target_prefix=target_prefix, reject_unknown_members=reject_unknown_members
        )
        self.handlers = dict(handlers)
        self.authenticator = authenticator
        self.domain_errors = domain_errors
        self.max_body_bytes = max_body_bytes
        self.new_request_id = request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        request_id = self.new_request_id()
        try:
            return await self._serve(request, request_id)
        except ProtocolError as exc:
            error = fault_error(exc, self.protocol.faults)
        except AwsError as exc:
            error = exc
        except Exception as exc:
            error = self._unexpected(exc, request_id)
        return self._error_response(error, request_id)

    async def _serve(self, request: Request, request_id: str) -> Response:
        body = await self._read_body(request)
        caller = await self.authenticator(request, body)
        name = self.protocol.operation_name(request, body)
        operation = self._operation(name)
        try:
            params = self.protocol.parse_input(operation, request, body)
            validate(operation.input_shape, params)
        except RecursionError as exc:
            raise SerializationError("The request is nested too deeply") from exc
        output = await self.handlers[name](caller, params)
        return self.protocol.output_response(operation, output, request_id)

    def _operation(self, name: str) -> OperationModel:
        operation = self.model.operation(name) if name in self.handlers else None
        if operation is None:
            raise UnknownOperationError(_unknown_operation_message(self.model, name))
        return operation

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise ProtocolError("Request body too large", Fault.REQUEST_TOO_LARGE)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise ProtocolError("Request body too large", Fault.REQUEST_TOO_LARGE)
            chunks.append(chunk)
        return b"".join(chunks)

    def _unexpected(self, exc: Exception, request_id: str) -> AwsError:
        mapped = self._map_domain(exc)
        if mapped is not None:
            return mapped
        log.exception("aws request failed", extra={"service": self.model.name, "request_id": request_id})
        code, status = self.protocol.faults[Fault.INTERNAL]
        return AwsError(
            code, "We encountered an internal error. Please try again.", status, sender_fault=False
        )

    def _map_domain(self, exc: Exception) -> AwsError | None:
        if self.domain_errors is None:
            return None
        if isinstance(self.domain_errors, Mapping):
            return map_domain_error(exc, self.domain_errors)
        return self.domain_errors(exc)

    def _error_response(self, error: AwsError, request_id: str) -> Response:
        info = self.model.error(error.code)
        if info is not None and info.code != error.code:
            error = AwsError(
                info.code, error.message, error.status, sender_fault=error.sender_fault, fields=error.fields
            )
        status = error.status or (info.status if info else None) or (400 if error.sender_fault else 500)
        return self.protocol.error_response(error, status, request_id)


def _unknown_operation_message(model: ApiModel, name: str) -> str:
    if model.protocol == "query":
        return f"Could not find operation {name} for version {model.api_version}"
    return "The requested operation is not recognized by the service."
