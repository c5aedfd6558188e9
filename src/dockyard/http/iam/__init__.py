"""IAM's AWS Query API (``boto3.client("iam")``, ``aws iam``) over the identity services.

:func:`iam_endpoint` builds the :class:`~dockyard.http.aws.AwsEndpoint` for signing name ``iam``: users
and access keys, groups, roles, inline and managed policies with versions and attachments, OpenID Connect
providers, and the policy simulator. Shapes and error codes come from botocore's ``iam`` model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from dockyard.http.aws.endpoint import AwsEndpoint, Handler
from dockyard.http.iam.errors import IAM_ERRORS
from dockyard.http.iam.policies import PolicyHandlers
from dockyard.http.iam.roles import RoleHandlers
from dockyard.http.iam.simulate import SimulationHandlers
from dockyard.http.iam.users import UserHandlers
from dockyard.services.access import Access, Caller
from dockyard.services.identity import IdentityService


def iam_handlers(identity: IdentityService, access: Access) -> dict[str, Handler[Caller]]:
    handlers: dict[str, Handler[Caller]] = {}
    for group in (UserHandlers, RoleHandlers, PolicyHandlers, SimulationHandlers):
        handlers.update(group(identity, access).handlers())
    return handlers


def iam_endpoint(
    identity: IdentityService,
    access: Access,
    authenticator: Callable[[Request, bytes], Awaitable[Caller]],
) -> AwsEndpoint[Caller]:
    return AwsEndpoint(
        service="iam",
        handlers=iam_handlers(identity, access),
        authenticator=authenticator,
        domain_errors=IAM_ERRORS,
    )
