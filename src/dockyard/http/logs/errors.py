"""The one table from domain errors to CloudWatch Logs' exception names (the ``logs`` model's error shapes).

Every client error is 400 with ``{"__type": ..., "message": ...}``. PutLogEvents never answers
``InvalidSequenceTokenException`` or ``DataAlreadyAcceptedException``: AWS no longer does (any sequence
token is accepted). Anything unmapped is a bug: logged, and answered as ``ServiceUnavailableException``
(the model's server fault) without detail.
"""

from __future__ import annotations

import logging

from dockyard.domain.identity import AccessDenied
from dockyard.domain.logs import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from dockyard.http.aws.errors import AwsError, DomainTable, map_domain_error

log = logging.getLogger("dockyard.logs")

LOGS_ERRORS: DomainTable = {
    ResourceNotFound: ("ResourceNotFoundException", 400),
    ResourceAlreadyExists: ("ResourceAlreadyExistsException", 400),
    InvalidParameter: ("InvalidParameterException", 400),
    AccessDenied: ("AccessDeniedException", 400),
}


def logs_error(exc: Exception) -> AwsError:
    """``exc`` as CloudWatch Logs answers it (see the module docstring)."""
    mapped = map_domain_error(exc, LOGS_ERRORS)
    if mapped is not None:
        return mapped
    log.exception("logs request failed", exc_info=exc)
    return AwsError(
        "ServiceUnavailableException", "The service cannot complete the request.", 500, sender_fault=False
    )
