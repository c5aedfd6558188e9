"""``build_logs_endpoint``: the CloudWatch Logs API (AWS JSON 1.1, ``Logs_20140328.<Op>``, signing name
``logs``) over :class:`~dockyard.services.logs.Logs`, ready to mount in the ``AwsRouter``.

``logs_endpoint`` is what the composition root calls: SigV4 for the configured region against the stored
credentials, and identity-based IAM policies (:class:`~dockyard.services.access.Access`) deciding each
``logs:`` action. CloudWatch Logs' resource policies only ever grant AWS service principals, which
Dockyard has none of, so they take no part.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from dockyard.http.aws.endpoint import AwsEndpoint
from dockyard.http.aws.errors import AwsError
from dockyard.http.aws.model import ParamValidationError
from dockyard.http.iam.auth import AwsAuthenticator
from dockyard.http.logs.errors import logs_error
from dockyard.http.logs.handlers import Authorizer, LogsHandlers
from dockyard.metadata.logs_store import LogsStore
from dockyard.ports import Clock
from dockyard.services.access import Access, Caller
from dockyard.services.logs import Logs

# A PutLogEvents body: up to 1 MiB of messages, JSON-escaped (a control character takes six bytes).
MAX_BODY_BYTES = 8 * 1024 * 1024


class LogsEndpoint(AwsEndpoint[Caller]):
    """The AWS endpoint, answering a failed model constraint as CloudWatch Logs does: with Coral's
    wording ("1 validation error detected: Value '' at 'logEvents.1.member.message' failed to satisfy
    constraint: ...") under ``InvalidParameterException``, not ``ValidationException``."""

    async def _serve(self, request: Request, request_id: str) -> Response:
        try:
            return await super()._serve(request, request_id)
        except ParamValidationError as exc:
            raise AwsError("InvalidParameterException", exc.message, 400) from None


@dataclass
class LogsApi:
    endpoint: AwsEndpoint[Caller]
    logs: Logs


def build_logs_endpoint(
    *,
    engine: AsyncEngine,
    clock: Clock,
    authenticator: Callable[[Request, bytes], Awaitable[Caller]],
    authorizer: Authorizer,
    region: str,
) -> LogsApi:
    logs = Logs(LogsStore(engine, clock), clock)
    endpoint = LogsEndpoint(
        service="logs",
        handlers=LogsHandlers(logs, authorizer, region).handlers(),
        authenticator=authenticator,
        domain_errors=logs_error,
        max_body_bytes=MAX_BODY_BYTES,
    )
    return LogsApi(endpoint, logs)


def logs_endpoint(engine: AsyncEngine, access: Access, clock: Clock, region: str) -> LogsApi:
    """The API as ``dockyard serve`` mounts it: callers sign for ``region`` with stored credentials."""
    auth = AwsAuthenticator(access, clock, {region})

    async def authorize(caller: Caller, action: str, resource: str) -> None:
        await access.require(caller, action, resource, now=clock.now())

    return build_logs_endpoint(
        engine=engine,
        clock=clock,
        authenticator=auth.authenticator("logs"),
        authorizer=authorize,
        region=region,
    )
