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
from dockyard.http.aws.errors import DomainTable, domain_error_mapper

log = logging.getLogger("dockyard.logs")

LOGS_ERRORS: DomainTable = {
    ResourceNotFound: ("ResourceNotFoundException", 400),
    ResourceAlreadyExists: ("ResourceAlreadyExistsException", 400),
    InvalidParameter: ("InvalidParameterException", 400),
    AccessDenied: ("AccessDeniedException", 400),
}


SERVER_ERROR = ("ServiceUnavailableException", "The service cannot complete the request.")
logs_error = domain_error_mapper(LOGS_ERRORS, log, SERVER_ERROR)
