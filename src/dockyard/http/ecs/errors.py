"""The one table from ECS's domain and service errors to its exception names (the model's error shapes).

Every client error is 400 (the ECS model gives none a status); anything unmapped is a bug: logged, and
answered as ``ServerException`` without detail.
"""

from __future__ import annotations

import logging

from dockyard.domain.ecs import errors as e
from dockyard.domain.identity import AccessDenied
from dockyard.http.aws.errors import AwsError, DomainTable, map_domain_error

log = logging.getLogger("dockyard.ecs")

ECS_ERRORS: DomainTable = {
    e.ClientError: ("ClientException", 400),
    e.InvalidParameter: ("InvalidParameterException", 400),
    e.ClusterNotFound: ("ClusterNotFoundException", 400),
    e.ClusterContainsInstances: ("ClusterContainsContainerInstancesException", 400),
    e.ClusterContainsTasks: ("ClusterContainsTasksException", 400),
    AccessDenied: ("AccessDeniedException", 400),
}


def ecs_error(exc: Exception) -> AwsError:
    """``exc`` as ECS answers it (see the module docstring)."""
    mapped = map_domain_error(exc, ECS_ERRORS)
    if mapped is not None:
        return mapped
    log.exception("ecs request failed", exc_info=exc)
    return AwsError(
        "ServerException", "We encountered an internal error. Please try again.", 500, sender_fault=False
    )
