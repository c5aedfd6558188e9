"""Botocore's service models, loaded once, and input validation driven by them.

Nothing here lists fields by hand: operations, shapes, constraints, error codes and statuses all come from
``botocore.session.get_session().get_service_model(name)`` — the same JSON the clients are built from.

:func:`validate` checks what AWS's own request validation checks and botocore's client-side
``ParamValidator`` partly skips: required members, ``min``/``max`` (string and blob length, list and map
size, numeric range), ``enum`` and ``pattern`` (Java syntax, see :mod:`.patterns`), and that a union has
exactly one member set. Failures are gathered and reported the way Coral services word them::

    1 validation error detected: Value 'x y' at 'repositoryName' failed to satisfy constraint: Member
    must satisfy regular expression pattern: [a-z0-9]+...

Paths use lower-camel member names and 1-based ``.N.member`` list steps (``imageIds.1.member.imageTag``),
as AWS prints them. Python types are the protocol parsers' job (they raise ``SerializationError``); a
wrongly typed value reaching :func:`validate` raises it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import botocore.session  # type: ignore[import-untyped]

from dockyard.http.aws import patterns
from dockyard.http.aws.errors import Fault, ProtocolError, SerializationError

Shape = Any  # botocore.model.Shape (botocore ships no type information)
OperationModel = Any  # botocore.model.OperationModel


@dataclass(frozen=True)
class ErrorInfo:
    """What the model says of one error: its wire code, HTTP status (if modeled) and fault side."""

    code: str
    status: int | None
    sender_fault: bool


class ApiModel:
    """One service's botocore model, with the lookups the protocol layer needs."""

    def __init__(self, model: Any) -> None:
        self.botocore = model
        self.name: str = model.service_name
        meta: Mapping[str, Any] = model.metadata
        self.protocol: str = meta["protocol"]
        self.api_version: str = meta["apiVersion"]
        self.target_prefix: str | None = meta.get("targetPrefix")
        self.json_version: str = meta.get("jsonVersion", "1.0")
        self.xml_namespace: str | None = meta.get("xmlNamespace")
        self.signing_name: str = meta.get("signingName") or meta["endpointPrefix"]
        self.operation_names: frozenset[str] = frozenset(model.operation_names)
        self._errors = _error_table(model)

    def operation(self, name: str) -> OperationModel | None:
        """The operation called ``name`` exactly (AWS operation names are case-sensitive), or None."""
        if name not in self.operation_names:
            return None
        return self.botocore.operation_model(name)

    def error(self, code: str) -> ErrorInfo | None:
        """The modeled error named ``code`` (shape name such as ``NoSuchEntityException``, or wire code)."""
        return self._errors.get(code)


def _error_table(model: Any) -> dict[str, ErrorInfo]:
    table: dict[str, ErrorInfo] = {}
    for shape in model.error_shapes:
        meta: Mapping[str, Any] = shape.metadata.get("error") or {}
        server_fault = bool(getattr(shape, "_shape_model", {}).get("fault"))  # not in Shape.metadata
        status: int | None = meta.get("httpStatusCode", 500 if server_fault else None)
        info = ErrorInfo(
            code=meta.get("code", shape.name),
            status=status,
            sender_fault=not server_fault and (status is None or status < 500),
        )
        table[shape.name] = info
        table.setdefault(info.code, info)
    return table


@cache
def _session() -> Any:
    return botocore.session.get_session()


@cache
def service_model(name: str) -> ApiModel:
    """The model of service ``name`` (``ecr``, ``iam``, ``sts``, ``ecs``, ``logs``…), loaded once."""
    return ApiModel(_session().get_service_model(name))


# ---------------------------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Problem:
    """One failed constraint: where, the offending value (None when missing) and AWS's wording."""

    path: str
    value: Any
    constraint: str
    sensitive: bool = False

    def render(self) -> str:
        shown = "" if self.sensitive else f" {_show(self.value)}"
        return f"Value{shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


class ParamValidationError(ProtocolError):
    """The input broke the model's constraints; ``problems`` says where and how."""

    fault = Fault.VALIDATION

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        noun = "error" if count == 1 else "errors"
        details = "; ".join(p.render() for p in self.problems)
        super().__init__(f"{count} validation {noun} detected: {details}")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, list | tuple):
        return "'[" + ", ".join(str(v) for v in value) + "]'"
    if isinstance(value, Mapping):
        return "'{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}'"
    if isinstance(value, bytes):
        return f"'java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]'"
    return f"'{value}'"


def validate(shape: Shape | None, params: Mapping[str, Any]) -> None:
    """Raise :class:`ParamValidationError` listing every constraint ``params`` breaks under ``shape``."""
    if shape is None:
        return
    problems = list(_check_structure(shape, params, ""))
    if problems:
        raise ParamValidationError(problems)


def member_path(parent: str, member: str) -> str:
    """``parent.member`` in AWS's wording: lower-camel member names (IAM's ``UserName`` → ``userName``)."""
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _check(shape: Shape, value: Any, path: str) -> Iterator[Problem]:
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return iter(())
        return _check_structure(shape, value, path)
    if kind == "list":
        return _check_list(shape, value, path)
    if kind == "map":
        return _check_map(shape, value, path)
    return _check_scalar(shape, value, path)


def _check_structure(shape: Shape, value: Any, path: str) -> Iterator[Problem]:
    _expect(isinstance(value, Mapping), shape, value, path)
    present = [name for name, v in value.items() if v is not None]
    for name in shape.required_members:
        if value.get(name) is None:
            yield Problem(member_path(path, name), None, "Member must not be null")
    if shape.metadata.get("union") and len(present) != 1:
        yield Problem(path or shape.name, None, "Member must have exactly one member set")
    for name in present:
        member = shape.members.get(name)
        if member is None:
            raise SerializationError(f"Unrecognized field '{name}' at '{path or shape.name}'")
        yield from _check(member, value[name], member_path(path, name))


def _check_list(shape: Shape, value: Any, path: str) -> Iterator[Problem]:
    _expect(isinstance(value, list | tuple), shape, value, path)
    yield from _check_bounds(shape, value, len(value), path, "length")
    for index, item in enumerate(value, 1):
        if item is None:
            continue
        yield from _check(shape.member, item, f"{path}.{index}.member")


def _check_map(shape: Shape, value: Any, path: str) -> Iterator[Problem]:
    _expect(isinstance(value, Mapping), shape, value, path)
    yield from _check_bounds(shape, value, len(value), path, "length")
    for key, item in value.items():
        key_issues = [p.constraint for p in _check(shape.key, key, path)]
        if key_issues:
            yield Problem(path, value, f"Map keys must satisfy constraint: [{', '.join(key_issues)}]")
        if item is None:
            continue
        if shape.value.type_name in ("structure", "list", "map"):
            yield from _check(shape.value, item, f"{path}.{key}")
            continue
        value_issues = [p.constraint for p in _check(shape.value, item, path)]
        if value_issues:
            constraint = f"Map value must satisfy constraint: [{', '.join(value_issues)}]"
            yield Problem(path, value, constraint)


_PY_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "character": (str,),
    "integer": (int,),
    "long": (int,),
    "short": (int,),
    "byte": (int,),
    "float": (int, float),
    "double": (int, float),
    "bigdecimal": (int, float),
    "biginteger": (int,),
    "boolean": (bool,),
    "timestamp": (datetime,),
    "blob": (bytes, bytearray),
}


def _check_scalar(shape: Shape, value: Any, path: str) -> Iterator[Problem]:
    kind = shape.type_name
    expected = _PY_TYPES.get(kind)
    wrong_bool = isinstance(value, bool) and kind != "boolean"
    _expect(expected is None or (isinstance(value, expected) and not wrong_bool), shape, value, path)
    if kind in ("string", "character"):
        yield from _check_string(shape, value, path)
    elif kind == "blob":
        yield from _check_bounds(shape, value, len(value), path, "length")
    elif expected is not None and kind not in ("boolean", "timestamp"):
        yield from _check_bounds(shape, value, value, path, "value")


def _check_string(shape: Shape, value: str, path: str) -> Iterator[Problem]:
    sensitive = bool(shape.metadata.get("sensitive"))
    for problem in _check_bounds(shape, value, len(value), path, "length"):
        yield Problem(problem.path, problem.value, problem.constraint, sensitive)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        constraint = f"Member must satisfy enum value set: [{', '.join(enum)}]"
        yield Problem(path, value, constraint, sensitive)
    pattern = shape.metadata.get("pattern")
    if pattern and not patterns.matches(pattern, value):
        constraint = f"Member must satisfy regular expression pattern: {pattern}"
        yield Problem(path, value, constraint, sensitive)


def _check_bounds(shape: Shape, value: Any, size: float, path: str, what: str) -> Iterator[Problem]:
    low = shape.metadata.get("min")
    high = shape.metadata.get("max")
    if low is not None and size < low:
        yield Problem(path, value, f"Member must have {what} greater than or equal to {low}")
    if high is not None and size > high:
        yield Problem(path, value, f"Member must have {what} less than or equal to {high}")


def _expect(ok: bool, shape: Shape, value: Any, path: str) -> None:
    if not ok:
        raise SerializationError(
            f"Value of type {type(value).__name__} at '{path or shape.name}' "
            f"cannot be read as {shape.type_name}"
        )
