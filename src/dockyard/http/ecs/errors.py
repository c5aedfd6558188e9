"""The one table from ECS's domain and service errors to its exception names (the model's error shapes).

Every client error is 400 (the ECS model gives none a status); anything unmapped is a bug: logged, and
answered as ``ServerException`` without detail.
"""

from __future__ import annotations

import logging

from dockyard.domain.ecs import errors as e
from dockyard.domain.identity import AccessDenied
from dockyard.http.aws.errors import DomainTable, domain_error_mapper

log = logging.getLogger("dockyard.ecs")

ECS_ERRORS: DomainTable = {
    e.ClientError: ("ClientException", 400),
    e.InvalidParameter: ("InvalidParameterException", 400),
    e.ClusterNotFound: ("ClusterNotFoundException", 400),
    e.ClusterContainsInstances: ("ClusterContainsContainerInstancesException", 400),
    e.ClusterContainsTasks: ("ClusterContainsTasksException", 400),
    AccessDenied: ("AccessDeniedException", 400),
}


SERVER_ERROR = ("ServerException", "We encountered an internal error. Please try again.")
ecs_error = domain_error_mapper(ECS_ERRORS, log, SERVER_ERROR)
