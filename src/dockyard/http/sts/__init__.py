"""STS's AWS Query API (``boto3.client("sts")``, ``aws sts``): AssumeRole, AssumeRoleWithWebIdentity
(unsigned, as on AWS), GetCallerIdentity (no permission needed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from dockyard.http.aws.endpoint import AwsEndpoint
from dockyard.http.iam.errors import STS_ERRORS
from dockyard.services.access import Caller
from dockyard.services.sts import StsService, TemporaryCredentials

UNSIGNED_ACTIONS = frozenset({"AssumeRoleWithWebIdentity"})


def _credentials(issued: TemporaryCredentials) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": issued.access_key_id,
            "SecretAccessKey": issued.secret_access_key,
            "SessionToken": issued.session_token,
            "Expiration": issued.expiration,
        },
        "AssumedRoleUser": {"AssumedRoleId": issued.assumed_role_id, "Arn": issued.assumed_role_arn},
        "PackedPolicySize": 0,
    }


class StsHandlers:
    def __init__(self, sts: StsService) -> None:
        self.sts = sts

    async def assume_role(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        issued = await self.sts.assume_role(
            caller,
            params["RoleArn"],
            params["RoleSessionName"],
            params.get("DurationSeconds"),
            params.get("Policy"),
            params.get("ExternalId"),
        )
        return _credentials(issued)

    async def assume_role_with_web_identity(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        issued = await self.sts.assume_role_with_web_identity(
            params["RoleArn"],
            params["RoleSessionName"],
            params["WebIdentityToken"],
            params.get("DurationSeconds"),
            params.get("Policy"),
        )
        return {
            **_credentials(issued),
            "SubjectFromWebIdentityToken": issued.subject,
            "Provider": issued.provider,
            "Audience": issued.audience,
        }

    async def get_caller_identity(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        user_id, account, arn = await self.sts.caller_identity(caller)
        return {"UserId": user_id, "Account": account, "Arn": arn}


def sts_endpoint(
    sts: StsService, authenticator: Callable[[Request, bytes], Awaitable[Caller]]
) -> AwsEndpoint[Caller]:
    handlers = StsHandlers(sts)
    return AwsEndpoint(
        service="sts",
        handlers={
            "AssumeRole": handlers.assume_role,
            "AssumeRoleWithWebIdentity": handlers.assume_role_with_web_identity,
            "GetCallerIdentity": handlers.get_caller_identity,
        },
        authenticator=authenticator,
        domain_errors=STS_ERRORS,
    )
