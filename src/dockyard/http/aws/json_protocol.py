"""AWS JSON 1.0/1.1 (ECR, ECS, CloudWatch Logs): ``POST /`` with ``X-Amz-Target: <prefix>.<Operation>``.

Requests are decoded against the operation's input shape (members by their serialized name, timestamps
from epoch seconds, blobs from base64, ``null`` meaning absent); a value of the wrong JSON type, and by
default a member the shape does not have, is a ``SerializationException`` as Coral answers it. Outputs are
encoded against the output shape (``None`` omitted, timestamps as epoch seconds, blobs as base64); a
handler returning a member the shape lacks is a bug and raises ``TypeError``.

Errors: status 400 (or the modeled/explicit one), body ``{"__type": Code, "message": ...}`` plus any
extra members, headers ``X-Amzn-ErrorType`` and ``x-amzn-RequestId``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard.http.aws import values
from dockyard.http.aws.errors import JSON_FAULTS, AwsError, SerializationError, UnknownOperationError
from dockyard.http.aws.model import ApiModel, OperationModel, Shape, member_path

_DEFAULT_TS = "unixtimestamp"


class JsonProtocol:
    """The AWS JSON wire format of one service model."""

    faults = JSON_FAULTS

    def __init__(self, model: ApiModel, *, reject_unknown_members: bool = True) -> None:
        if model.target_prefix is None:
            raise ValueError(f"service {model.name} has no JSON target prefix")
        self.model = model
        self.target_prefix = model.target_prefix
        self.content_type = f"application/x-amz-json-{model.json_version}"
        self.reject_unknown_members = reject_unknown_members

    def operation_name(self, request: Request, body: bytes) -> str:
        """The operation named by ``X-Amz-Target`` (it must carry this service's target prefix)."""
        prefix, dot, name = request.headers.get("x-amz-target", "").rpartition(".")
        if not dot or prefix != self.target_prefix or not name:
            raise UnknownOperationError("The requested operation is not recognized by the service.")
        return name

    def parse_input(self, operation: OperationModel, request: Request, body: bytes) -> dict[str, Any]:
        return parse_params(body, operation.input_shape, reject_unknown=self.reject_unknown_members)

    def output_response(
        self, operation: OperationModel, output: Mapping[str, Any] | None, request_id: str
    ) -> Response:
        body = serialize_output(operation.output_shape, output)
        headers = {"x-amzn-RequestId": request_id}
        return Response(body, 200, headers, media_type=self.content_type)

    def error_response(self, error: AwsError, status: int, request_id: str) -> Response:
        headers = {"x-amzn-RequestId": request_id, "X-Amzn-ErrorType": error.code}
        return Response(error_body(error), status, headers, media_type=self.content_type)


def error_body(error: AwsError) -> bytes:
    """``{"__type": code, "message": message, ...fields}`` as botocore's JSON parser reads it."""
    return json.dumps({**error.fields, "__type": error.code, "message": error.message}).encode()


# ------------------------------------------------------------------------------------------------ requests


def parse_params(body: bytes, shape: Shape | None, *, reject_unknown: bool = True) -> dict[str, Any]:
    """The request body decoded against ``shape`` (an empty body is an empty input)."""
    if not body.strip():
        document: Any = {}
    else:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise SerializationError("Request body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise SerializationError("Request body must be a JSON object")
    if shape is None:
        return {}
    decoded: dict[str, Any] = _Decoder(reject_unknown).structure(shape, document, "")
    return decoded


class _Decoder:
    def __init__(self, reject_unknown: bool) -> None:
        self.reject_unknown = reject_unknown

    def value(self, shape: Shape, value: Any, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            if shape.metadata.get("document"):
                return value
            return self.structure(shape, value, path)
        if kind == "list":  # null items and entries are dropped, as absent members are
            _require(isinstance(value, list), shape, value, path)
            items = enumerate(value, 1)
            return [self.value(shape.member, v, f"{path}.{i}.member") for i, v in items if v is not None]
        if kind == "map":
            _require(isinstance(value, dict), shape, value, path)
            entries = value.items()
            return {k: self.value(shape.value, v, f"{path}.{k}") for k, v in entries if v is not None}
        return _scalar(shape, value, path)

    def structure(self, shape: Shape, value: Any, path: str) -> dict[str, Any]:
        _require(isinstance(value, dict), shape, value, path)
        by_wire = {m.serialization.get("name", name): (name, m) for name, m in shape.members.items()}
        decoded: dict[str, Any] = {}
        for key, item in value.items():
            if key not in by_wire:
                if self.reject_unknown:
                    raise SerializationError(f"Unrecognized field '{key}' at '{path or shape.name}'")
                continue
            if item is None:
                continue
            name, member = by_wire[key]
            decoded[name] = self.value(member, item, member_path(path, name))
        return decoded


def _scalar(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        try:
            return values.parse_timestamp(value, values.timestamp_format(shape, _DEFAULT_TS))
        except ValueError as exc:
            raise _type_error(shape, value, path) from exc
    if kind == "blob":
        try:
            return values.decode_blob(value)
        except ValueError as exc:
            raise _type_error(shape, value, path) from exc
    ok = _JSON_TYPES.get(kind)
    _require(ok is not None and ok(value), shape, value, path)
    if kind in ("float", "double") and isinstance(value, str):
        return float(value)
    return value


def _is_number(value: Any) -> bool:
    if isinstance(value, str):
        return value in ("NaN", "Infinity", "-Infinity")
    return isinstance(value, int | float) and not isinstance(value, bool)


_JSON_TYPES = {
    "string": lambda v: isinstance(v, str),
    "character": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "short": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "byte": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": _is_number,
    "double": _is_number,
}


def _require(ok: bool, shape: Shape, value: Any, path: str) -> None:
    if not ok:
        raise _type_error(shape, value, path)


def _type_error(shape: Shape, value: Any, path: str) -> SerializationError:
    found = "null" if value is None else type(value).__name__
    return SerializationError(f"Value of type {found} at '{path or shape.name}' is not a {shape.type_name}")


# ----------------------------------------------------------------------------------------------- responses


def serialize_output(shape: Shape | None, output: Mapping[str, Any] | None) -> bytes:
    """A handler's output encoded against ``shape`` as the JSON body (``{}`` for no output shape)."""
    if shape is None or not output:
        return b"{}"
    return json.dumps(encode(shape, output, shape.name), separators=(",", ":")).encode()


def encode(shape: Shape, value: Any, path: str) -> Any:
    """``value`` as the JSON value ``shape`` describes (``TypeError`` for what it cannot hold)."""
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return value
        return _encode_structure(shape, value, path)
    if kind == "list":
        return [encode(shape.member, v, f"{path}[{i}]") for i, v in enumerate(value) if v is not None]
    if kind == "map":
        return {str(k): encode(shape.value, v, f"{path}.{k}") for k, v in value.items() if v is not None}
    if kind == "timestamp":
        return values.format_timestamp(value, values.timestamp_format(shape, _DEFAULT_TS))
    if kind == "blob":
        return values.encode_blob(value)
    return _encode_scalar(kind, value, path)


def _encode_structure(shape: Shape, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{path}: expected a mapping for structure {shape.name}, got {type(value).__name__}")
    encoded: dict[str, Any] = {}
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            raise TypeError(f"{path}: structure {shape.name} has no member {name!r}")
        if item is not None:
            encoded[member.serialization.get("name", name)] = encode(member, item, f"{path}.{name}")
    return encoded


def _encode_scalar(kind: str, value: Any, path: str) -> Any:
    raw = getattr(value, "value", value)  # enum.Enum members carry their wire value
    if kind in ("string", "character") and isinstance(raw, str):
        return raw
    if kind == "boolean" and isinstance(raw, bool):
        return raw
    if kind in ("integer", "long", "short", "byte") and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind in ("float", "double") and isinstance(raw, int | float) and not isinstance(raw, bool):
        number = float(raw)
        if math.isfinite(number):
            return number
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    raise TypeError(f"{path}: {type(value).__name__} is not a {kind}")
