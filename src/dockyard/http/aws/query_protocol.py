"""AWS Query (IAM, STS): ``Action=<Op>&Version=<apiVersion>&...`` as a form body or a query string.

Parameters arrive flattened, the way botocore's ``QuerySerializer`` writes them, and are rebuilt into
nested values by walking the operation's input shape:

* structure members ``Parent.Member`` (a member's ``locationName`` when it has one);
* lists ``Name.member.N`` (``Name.N`` when ``flattened``; ``Name=`` alone is an empty list);
* maps ``Name.entry.N.key`` / ``Name.entry.N.value`` (``Name.N.key`` when flattened);
* scalars as text: ``true``/``false``, decimal numbers, ISO 8601 timestamps, base64 blobs.

Parameters the shape does not name are ignored, as AWS does for this protocol. The first of repeated
keys wins. Outputs are XML per the output shape inside ``<{Op}Response xmlns=...><{resultWrapper}>``
followed by ``<ResponseMetadata><RequestId>``; errors are ``<ErrorResponse>`` documents.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, SubElement, tostring

from starlette.requests import Request
from starlette.responses import Response

from dockyard.http.aws import values
from dockyard.http.aws.errors import QUERY_FAULTS, AwsError, Fault, ProtocolError, SerializationError
from dockyard.http.aws.errors import UnknownOperationError as UnknownOperation
from dockyard.http.aws.model import ApiModel, OperationModel, Shape, member_path

CONTENT_TYPE = "text/xml"
_DEFAULT_TS = "iso8601"


class QueryProtocol:
    """The AWS Query wire format of one service model."""

    faults = QUERY_FAULTS

    def __init__(self, model: ApiModel) -> None:
        if model.xml_namespace is None:
            raise ValueError(f"service {model.name} has no xmlNamespace")
        self.model = model
        self.namespace = model.xml_namespace

    def operation_name(self, request: Request, body: bytes) -> str:
        """The ``Action`` parameter, checked against ``Version`` when that is sent."""
        params = request_params(request, body)
        action = params.get("Action")
        if not action:
            raise ProtocolError("The request must contain the parameter Action.", Fault.MISSING_ACTION)
        version = params.get("Version")
        if version is not None and version != self.model.api_version:
            raise UnknownOperation(f"Could not find operation {action} for version {version}")
        return action

    def parse_input(self, operation: OperationModel, request: Request, body: bytes) -> dict[str, Any]:
        return parse_params(request_params(request, body), operation.input_shape)

    def output_response(
        self, operation: OperationModel, output: Mapping[str, Any] | None, request_id: str
    ) -> Response:
        body = serialize_output(self.namespace, operation, output, request_id)
        return Response(body, 200, {"x-amzn-RequestId": request_id}, media_type=CONTENT_TYPE)

    def error_response(self, error: AwsError, status: int, request_id: str) -> Response:
        body = error_document(self.namespace, error, request_id)
        return Response(body, status, {"x-amzn-RequestId": request_id}, media_type=CONTENT_TYPE)


def request_params(request: Request, body: bytes) -> dict[str, str]:
    """The query string's parameters, then the form body's (which win), first occurrence of each."""
    cached: dict[str, str] | None = getattr(request.state, "aws_query_params", None)
    if cached is not None:
        return cached
    params: dict[str, str] = {}
    for key, value in parse_qsl(request.url.query, keep_blank_values=True):
        params.setdefault(key, value)
    content_type = request.headers.get("content-type", "application/x-www-form-urlencoded")
    if body and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        form: dict[str, str] = {}
        for key, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
            form.setdefault(key, value)
        params.update(form)
    request.state.aws_query_params = params
    return params


# ------------------------------------------------------------------------------------------------ requests


def parse_params(params: Mapping[str, str], shape: Shape | None) -> dict[str, Any]:
    """Flattened ``params`` rebuilt into the nested input ``shape`` describes."""
    if shape is None:
        return {}
    decoded: dict[str, Any] = _Flat(params).structure(shape, "", "")
    return decoded


class _Flat:
    def __init__(self, params: Mapping[str, str]) -> None:
        self.params = params
        self.keys = sorted(params)

    def _under(self, prefix: str) -> list[str]:
        """Every key below ``prefix.`` (sorted keys make them one contiguous run)."""
        start = prefix + "."
        first = bisect.bisect_left(self.keys, start)
        last = bisect.bisect_left(self.keys, prefix + "/")  # "/" sorts right after "."
        return self.keys[first:last]

    def present(self, shape: Shape, key: str) -> bool:
        if shape.type_name in ("structure", "map"):
            return bool(self._under(key))
        if shape.type_name == "list":
            return key in self.params or bool(self._under(key))
        return key in self.params

    def indices(self, prefix: str) -> list[int]:
        found = {k[len(prefix) + 1 :].split(".", 1)[0] for k in self._under(prefix)}
        return sorted(int(i) for i in found if i.isdigit())

    def value(self, shape: Shape, key: str, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, key, path)
        if kind == "list":
            return self.list(shape, key, path)
        if kind == "map":
            return self.map(shape, key, path)
        return _scalar(shape, self.params[key], path)

    def structure(self, shape: Shape, prefix: str, path: str) -> dict[str, Any]:
        decoded: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = _member_key(prefix, name, member)
            if self.present(member, key):
                decoded[name] = self.value(member, key, member_path(path, name))
        return decoded

    def list(self, shape: Shape, key: str, path: str) -> list[Any]:
        prefix = key
        if not shape.serialization.get("flattened"):
            prefix = f"{key}.{shape.member.serialization.get('name', 'member')}"
        return [self.value(shape.member, f"{prefix}.{i}", f"{path}.{i}.member") for i in self.indices(prefix)]

    def map(self, shape: Shape, key: str, path: str) -> dict[str, Any]:
        prefix = key if shape.serialization.get("flattened") else f"{key}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        decoded: dict[str, Any] = {}
        for i in self.indices(prefix):
            entry_key = self.params.get(f"{prefix}.{i}.{key_name}")
            value_key = f"{prefix}.{i}.{value_name}"
            if entry_key is not None and self.present(shape.value, value_key):
                decoded[entry_key] = self.value(shape.value, value_key, f"{path}.{entry_key}")
        return decoded


def _member_key(prefix: str, name: str, member: Shape) -> str:
    wire = member.serialization.get("name", name)
    if member.type_name == "list" and member.serialization.get("flattened"):
        wire = member.member.serialization.get("name", wire)
    return f"{prefix}.{wire}" if prefix else wire


def _scalar(shape: Shape, text: str, path: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long", "short", "byte", "biginteger"):
            return int(text)
        if kind in ("float", "double", "bigdecimal"):
            return float(text)
        if kind == "boolean":
            return {"true": True, "false": False}[text.lower()]
        if kind == "timestamp":
            return values.parse_timestamp(text, values.timestamp_format(shape, _DEFAULT_TS))
        if kind == "blob":
            return values.decode_blob(text)
    except (KeyError, ValueError) as exc:
        raise SerializationError(f"Value '{text}' at '{path}' cannot be read as {kind}") from exc
    return text


# ----------------------------------------------------------------------------------------------- responses


def serialize_output(
    namespace: str, operation: OperationModel, output: Mapping[str, Any] | None, request_id: str
) -> bytes:
    """``<{Op}Response>`` with the output in ``<{resultWrapper}>`` and the request id in metadata."""
    root = Element(f"{operation.name}Response", {"xmlns": namespace})
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper")
        parent = SubElement(root, wrapper) if wrapper else root
        _members(parent, shape, output or {}, shape.name)
    metadata = SubElement(root, "ResponseMetadata")
    SubElement(metadata, "RequestId").text = request_id
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return document


def error_document(namespace: str, error: AwsError, request_id: str) -> bytes:
    """``<ErrorResponse><Error><Type/><Code/><Message/>…</Error><RequestId/></ErrorResponse>``."""
    root = Element("ErrorResponse", {"xmlns": namespace})
    detail = SubElement(root, "Error")
    SubElement(detail, "Type").text = "Sender" if error.sender_fault else "Receiver"
    SubElement(detail, "Code").text = error.code
    SubElement(detail, "Message").text = error.message
    for name, value in error.fields.items():
        SubElement(detail, name).text = str(value)
    SubElement(root, "RequestId").text = request_id
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return document


def _members(parent: Element, shape: Shape, value: Any, path: str) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{path}: expected a mapping for structure {shape.name}, got {type(value).__name__}")
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            raise TypeError(f"{path}: structure {shape.name} has no member {name!r}")
        if item is not None:
            _append(parent, member, _tag(name, member), item, f"{path}.{name}")


def _tag(name: str, member: Shape) -> str:
    if member.type_name == "list" and member.serialization.get("flattened"):
        return str(member.member.serialization.get("name", member.serialization.get("name", name)))
    return str(member.serialization.get("name", name))


def _append(parent: Element, shape: Shape, tag: str, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        _members(SubElement(parent, tag), shape, value, path)
    elif kind == "list":
        flat = shape.serialization.get("flattened")
        holder = parent if flat else SubElement(parent, tag)
        item_tag = tag if flat else shape.member.serialization.get("name", "member")
        for index, item in enumerate(value):
            if item is not None:
                _append(holder, shape.member, item_tag, item, f"{path}[{index}]")
    elif kind == "map":
        _append_map(parent, shape, tag, value, path)
    else:
        SubElement(parent, tag).text = _text(shape, value, path)


def _append_map(parent: Element, shape: Shape, tag: str, value: Mapping[str, Any], path: str) -> None:
    flat = shape.serialization.get("flattened")
    holder = parent if flat else SubElement(parent, tag)
    key_tag = shape.key.serialization.get("name", "key")
    value_tag = shape.value.serialization.get("name", "value")
    for key, item in value.items():
        if item is None:
            continue
        entry = SubElement(holder, tag if flat else "entry")
        _append(entry, shape.key, key_tag, key, path)
        _append(entry, shape.value, value_tag, item, f"{path}.{key}")


def _text(shape: Shape, value: Any, path: str) -> str:
    kind = shape.type_name
    raw = getattr(value, "value", value)  # enum.Enum members carry their wire value
    if kind == "timestamp":
        return str(values.format_timestamp(value, values.timestamp_format(shape, _DEFAULT_TS)))
    if kind == "blob":
        return values.encode_blob(value)
    if kind == "boolean" and isinstance(raw, bool):
        return "true" if raw else "false"
    if kind in ("string", "character") and isinstance(raw, str):
        return raw
    numeric = kind in ("integer", "long", "short", "byte", "float", "double")
    if numeric and isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(float(raw) if kind in ("float", "double") else raw)
    raise TypeError(f"{path}: {type(value).__name__} is not a {kind}")
