"""Errors of the AWS protocol layer, and one table per wire format from protocol faults to codes.

Three kinds of error reach a client of an AWS-style API:

* :class:`AwsError`: raised by an operation handler (or mapped from a domain error by a service's own
  table) with the code AWS documents for that operation, e.g. ``RepositoryNotFoundException``.
* :class:`ProtocolError` subclasses: faults of the protocol layer itself (a bad signature, a malformed
  body, a parameter failing the model's constraints, an unknown operation). They carry a
  :class:`Fault`, never a wire code: the same fault is ``InvalidSignatureException`` to a JSON client
  and ``SignatureDoesNotMatch`` to a Query client, so each protocol has its own table below.
* anything else is a bug: answered as an internal failure (500), logged, never described.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from typing import Any


class AwsError(Exception):
    """An error answered with an AWS error ``code`` (a modeled error shape's name or its wire code).

    ``status`` ``None`` takes the status from the service model's error shape, else 400 for a sender
    fault and 500 for a server fault. ``fields`` are the error shape's other members, sent beside the
    message (e.g. CloudWatch Logs' ``InvalidSequenceTokenException`` carries ``expectedSequenceToken``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        sender_fault: bool = True,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        self.fields: Mapping[str, Any] = fields or {}


class Fault(enum.Enum):
    """A fault of the protocol layer, named once for every wire format."""

    INCOMPLETE_SIGNATURE = enum.auto()
    MISSING_AUTHENTICATION_TOKEN = enum.auto()
    INVALID_CLIENT_TOKEN_ID = enum.auto()
    SIGNATURE_DOES_NOT_MATCH = enum.auto()
    REQUEST_TIME_TOO_SKEWED = enum.auto()
    REQUEST_EXPIRED = enum.auto()
    EXPIRED_TOKEN = enum.auto()
    ACCESS_DENIED = enum.auto()
    VALIDATION = enum.auto()
    SERIALIZATION = enum.auto()
    UNKNOWN_OPERATION = enum.auto()
    MISSING_ACTION = enum.auto()
    REQUEST_TOO_LARGE = enum.auto()
    INTERNAL = enum.auto()


class ProtocolError(Exception):
    """A fault of the protocol layer; its wire code and status come from the protocol's table."""

    fault: Fault = Fault.INTERNAL

    def __init__(self, message: str, fault: Fault | None = None) -> None:
        super().__init__(message)
        self.message = message
        if fault is not None:
            self.fault = fault


class SignatureError(ProtocolError):
    """Authentication failed; ``fault`` says how (see :mod:`dockyard.http.aws.sigv4`)."""


class SerializationError(ProtocolError):
    """The body or a parameter could not be read as the input shape says (bad JSON, wrong type)."""

    fault = Fault.SERIALIZATION


class UnknownOperationError(ProtocolError):
    """No such operation in the model, or the model has it and no handler serves it."""

    fault = Fault.UNKNOWN_OPERATION


# AWS JSON 1.0/1.1 (ECR, ECS, CloudWatch Logs). Coral answers authentication faults with 400 on this
# protocol ("InvalidSignatureException: Signature expired: ... status code: 400", and
# "UnrecognizedClientException ... 400 Bad Request" are what SDKs report).
JSON_FAULTS: Mapping[Fault, tuple[str, int]] = {
    Fault.INCOMPLETE_SIGNATURE: ("IncompleteSignatureException", 400),
    Fault.MISSING_AUTHENTICATION_TOKEN: ("MissingAuthenticationTokenException", 400),
    Fault.INVALID_CLIENT_TOKEN_ID: ("UnrecognizedClientException", 400),
    Fault.SIGNATURE_DOES_NOT_MATCH: ("InvalidSignatureException", 400),
    Fault.REQUEST_TIME_TOO_SKEWED: ("InvalidSignatureException", 400),
    Fault.REQUEST_EXPIRED: ("InvalidSignatureException", 400),
    Fault.EXPIRED_TOKEN: ("ExpiredTokenException", 400),
    Fault.ACCESS_DENIED: ("AccessDeniedException", 400),
    Fault.VALIDATION: ("ValidationException", 400),
    Fault.SERIALIZATION: ("SerializationException", 400),
    Fault.UNKNOWN_OPERATION: ("UnknownOperationException", 400),
    Fault.MISSING_ACTION: ("UnknownOperationException", 400),
    Fault.REQUEST_TOO_LARGE: ("RequestEntityTooLargeException", 413),
    Fault.INTERNAL: ("InternalFailure", 500),
}

# AWS Query (IAM, STS): the "Common Errors" of the API references, and what STS answers for a skewed
# clock ("SignatureDoesNotMatch: Signature expired: ...", 403).
QUERY_FAULTS: Mapping[Fault, tuple[str, int]] = {
    Fault.INCOMPLETE_SIGNATURE: ("IncompleteSignature", 400),
    Fault.MISSING_AUTHENTICATION_TOKEN: ("MissingAuthenticationToken", 403),
    Fault.INVALID_CLIENT_TOKEN_ID: ("InvalidClientTokenId", 403),
    Fault.SIGNATURE_DOES_NOT_MATCH: ("SignatureDoesNotMatch", 403),
    Fault.REQUEST_TIME_TOO_SKEWED: ("SignatureDoesNotMatch", 403),
    Fault.REQUEST_EXPIRED: ("RequestExpired", 400),
    Fault.EXPIRED_TOKEN: ("ExpiredToken", 403),
    Fault.ACCESS_DENIED: ("AccessDenied", 403),
    Fault.VALIDATION: ("ValidationError", 400),
    Fault.SERIALIZATION: ("MalformedInput", 400),
    Fault.UNKNOWN_OPERATION: ("InvalidAction", 400),
    Fault.MISSING_ACTION: ("MissingAction", 400),
    Fault.REQUEST_TOO_LARGE: ("RequestEntityTooLarge", 413),
    Fault.INTERNAL: ("InternalFailure", 500),
}

SERVER_FAULTS = frozenset({Fault.INTERNAL})


def fault_error(error: ProtocolError, table: Mapping[Fault, tuple[str, int]]) -> AwsError:
    """The :class:`AwsError` a protocol fault is answered with under ``table``."""
    code, status = table[error.fault]
    return AwsError(code, error.message, status, sender_fault=error.fault not in SERVER_FAULTS)


DomainTable = Mapping[type[BaseException], tuple[str, int | None]]


def map_domain_error(exc: BaseException, table: DomainTable) -> AwsError | None:
    """``exc`` as the AWS error ``table`` names for its class or nearest mapped ancestor, if any.

    A service (ECR, IAM) passes its table to the endpoint; the message is ``str(exc)``.
    """
    for cls in type(exc).__mro__:
        if cls in table:
            code, status = table[cls]
            return AwsError(code, str(exc), status)
    return None


def domain_error_mapper(
    table: DomainTable, logger: logging.Logger, fallback: tuple[str, str]
) -> Callable[[Exception], AwsError]:
    """A service's ``domain_errors``: its ``table``, and for anything unmapped (a bug) a log line with the
    traceback and the service's own server error ``fallback`` (code, message) as 500, without detail."""

    def mapped(exc: Exception) -> AwsError:
        found = map_domain_error(exc, table)
        if found is not None:
            return found
        logger.exception("request failed", exc_info=exc)
        return AwsError(fallback[0], fallback[1], 500, sender_fault=False)

    return mapped
