"""The generic endpoint: parse → authenticate → validate → dispatch → serialize, and every error path."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import botocore.parsers
import httpx
import pytest
from botocore.utils import percent_encode_sequence

from dockyard.http.aws.endpoint import AwsEndpoint, Handler
from dockyard.http.aws.errors import AwsError, Fault, ProtocolError, SignatureError
from dockyard.http.aws.model import service_model

WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."


class RepositoryMissing(Exception):
    """A domain error that knows nothing of HTTP."""


async def authenticate(request: Any, body: bytes) -> str:
    caller = request.headers.get("x-test-caller")
    if caller is None:
        raise SignatureError(
            "The security token included in the request is invalid.", Fault.INVALID_CLIENT_TOKEN_ID
        )
    return str(caller)


async def describe_repositories(caller: str, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("repositoryNames", ["app"])
    if names == ["missing"]:
        raise AwsError("RepositoryNotFoundException", "The repository with name 'missing' does not exist")
    if names == ["domain"]:
        raise RepositoryMissing("repository domain is not there")
    if names == ["boom"]:
        raise RuntimeError("secret internals")
    if names == ["bad-output"]:
        return {"repositories": [{"createdAt": "not a date"}]}
    if names == ["denied"]:
        raise ProtocolError(
            f"User: {caller} is not authorized to perform: ecr:DescribeRepositories", Fault.ACCESS_DENIED
        )
    return {"repositories": [{"repositoryName": n, "createdAt": WHEN, "registryId": caller} for n in names]}


async def get_user(caller: str, params: dict[str, Any]) -> dict[str, Any]:
    if params["UserName"] == "ghost":
        raise AwsError("NoSuchEntityException", "The user with name ghost cannot be found.")
    return {
        "User": {
            "Path": "/",
            "UserName": params["UserName"],
            "UserId": caller,
            "Arn": "arn",
            "CreateDate": WHEN,
        }
    }


async def delete_user(caller: str, params: dict[str, Any]) -> None:
    return None


ECR_HANDLERS: dict[str, Handler[str]] = {"DescribeRepositories": describe_repositories}
IAM_HANDLERS: dict[str, Handler[str]] = {"GetUser": get_user, "DeleteUser": delete_user}


def ecr_app(**kwargs: Any) -> AwsEndpoint[str]:
    return AwsEndpoint(
        service="ecr",
        handlers=ECR_HANDLERS,
        authenticator=authenticate,
        domain_errors={RepositoryMissing: ("RepositoryNotFoundException", None)},
        **kwargs,
    )


IAM_APP = AwsEndpoint(service="iam", handlers=IAM_HANDLERS, authenticator=authenticate)


async def call_ecr(
    operation: str, payload: Any, caller: str | None = "alice", **kwargs: Any
) -> httpx.Response:
    headers = {"X-Amz-Target": ECR_TARGET + operation, "Content-Type": "application/x-amz-json-1.1"}
    if caller:
        headers["X-Test-Caller"] = caller
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    transport = httpx.ASGITransport(app=ecr_app(**kwargs))
    async with httpx.AsyncClient(transport=transport, base_url="http://ecr.test") as client:
        return await client.post("/", content=body, headers=headers)


async def call_iam(params: dict[str, str], caller: str | None = "alice") -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if caller:
        headers["X-Test-Caller"] = caller
    transport = httpx.ASGITransport(app=IAM_APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://iam.test") as client:
        return await client.post("/", content=percent_encode_sequence(params), headers=headers)


def json_error(response: httpx.Response) -> tuple[int, str, str]:
    parsed = botocore.parsers.create_parser("json").parse(
        {"body": response.content, "headers": dict(response.headers), "status_code": response.status_code},
        None,
    )
    return response.status_code, parsed["Error"]["Code"], parsed["Error"]["Message"]


def query_error(response: httpx.Response) -> tuple[int, str, str]:
    parsed = botocore.parsers.create_parser("query").parse(
        {"body": response.content, "headers": dict(response.headers), "status_code": response.status_code},
        None,
    )
    return response.status_code, parsed["Error"]["Code"], parsed["Error"]["Message"]


async def test_a_json_call_is_dispatched_with_its_caller_and_typed_params() -> None:
    response = await call_ecr("DescribeRepositories", {"repositoryNames": ["app", "web"]})
    assert response.status_code == 200
    assert response.headers["x-amzn-requestid"]
    assert response.json() == {
        "repositories": [
            {"repositoryName": "app", "createdAt": 1714979289, "registryId": "alice"},
            {"repositoryName": "web", "createdAt": 1714979289, "registryId": "alice"},
        ]
    }


async def test_an_operation_without_a_handler_is_unknown_never_a_fake_success() -> None:
    for operation in ("ListImages", "NoSuchOperation"):
        status, code, _ = json_error(await call_ecr(operation, {"repositoryName": "app"}))
        assert (status, code) == (400, "UnknownOperationException")
    status, code, message = query_error(await call_iam({"Action": "ListUsers", "Version": "2010-05-08"}))
    assert (status, code, message) == (
        400,
        "InvalidAction",
        "Could not find operation ListUsers for version 2010-05-08",
    )
    status, code, _ = query_error(await call_iam({"Version": "2010-05-08"}))
    assert (status, code) == (400, "MissingAction")


async def test_validation_errors_per_protocol() -> None:
    status, code, message = json_error(await call_ecr("DescribeRepositories", {"repositoryNames": ["A B"]}))
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("1 validation error detected: Value 'A B' at 'repositoryNames.1.member'")
    status, code, message = query_error(await call_iam({"Action": "GetUser", "UserName": "bad name!"}))
    assert (status, code) == (400, "ValidationError")
    assert "at 'userName' failed to satisfy constraint" in message


async def test_serialization_errors() -> None:
    status, code, _ = json_error(await call_ecr("DescribeRepositories", b"{broken"))
    assert (status, code) == (400, "SerializationException")
    status, code, _ = json_error(await call_ecr("DescribeRepositories", {"maxResults": "ten"}))
    assert (status, code) == (400, "SerializationException")
    response = await call_ecr("DescribeRepositories", {"bogus": 1}, reject_unknown_members=False)
    assert response.status_code == 200


async def test_handler_errors_keep_their_code_and_take_the_model_status() -> None:
    status, code, message = json_error(
        await call_ecr("DescribeRepositories", {"repositoryNames": ["missing"]})
    )
    assert (status, code) == (400, "RepositoryNotFoundException")
    assert "'missing'" in message
    status, code, message = query_error(await call_iam({"Action": "GetUser", "UserName": "ghost"}))
    assert (status, code, message) == (404, "NoSuchEntity", "The user with name ghost cannot be found.")


async def test_domain_errors_go_through_the_service_table() -> None:
    status, code, message = json_error(
        await call_ecr("DescribeRepositories", {"repositoryNames": ["domain"]})
    )
    assert (status, code, message) == (400, "RepositoryNotFoundException", "repository domain is not there")


async def test_domain_errors_can_go_through_a_function() -> None:
    def mapper(exc: Exception) -> AwsError | None:
        return (
            AwsError("RepositoryNotFoundException", "mapped", 404)
            if isinstance(exc, RepositoryMissing)
            else None
        )

    app = AwsEndpoint(service="ecr", handlers=ECR_HANDLERS, authenticator=authenticate, domain_errors=mapper)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ecr.test") as client:
        response = await client.post(
            "/",
            json={"repositoryNames": ["domain"]},
            headers={"X-Amz-Target": ECR_TARGET + "DescribeRepositories", "X-Test-Caller": "a"},
        )
    assert json_error(response) == (404, "RepositoryNotFoundException", "mapped")


async def test_anything_else_is_an_internal_failure_that_tells_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="dockyard.aws"):
        for names in (["boom"], ["bad-output"]):
            status, code, message = json_error(
                await call_ecr("DescribeRepositories", {"repositoryNames": names})
            )
            assert (status, code) == (500, "InternalFailure")
            assert "secret" not in message
    assert len([r for r in caplog.records if r.message == "aws request failed"]) == 2


async def test_authentication_failures_per_protocol() -> None:
    assert json_error(await call_ecr("DescribeRepositories", {}, caller=None))[:2] == (
        400,
        "UnrecognizedClientException",
    )
    assert query_error(await call_iam({"Action": "GetUser", "UserName": "a"}, caller=None))[:2] == (
        403,
        "InvalidClientTokenId",
    )


async def test_authentication_comes_before_operation_lookup() -> None:
    assert json_error(await call_ecr("NoSuchOperation", {}, caller=None))[1] == "UnrecognizedClientException"


async def test_access_denied_per_protocol() -> None:
    status, code, message = json_error(
        await call_ecr("DescribeRepositories", {"repositoryNames": ["denied"]})
    )
    assert (status, code) == (400, "AccessDeniedException")
    assert message == "User: alice is not authorized to perform: ecr:DescribeRepositories"


async def test_an_operation_without_output_answers_its_empty_document() -> None:
    response = await call_iam({"Action": "DeleteUser", "Version": "2010-05-08", "UserName": "bob"})
    assert response.status_code == 200
    assert b"<DeleteUserResponse" in response.content
    assert b"<RequestId>" in response.content


async def test_a_body_too_large_is_refused() -> None:
    status, code, _ = json_error(
        await call_ecr("DescribeRepositories", b"{" + b" " * 100 + b"}", max_body_bytes=50)
    )
    assert (status, code) == (413, "RequestEntityTooLargeException")


def test_handlers_must_name_operations_of_the_model() -> None:
    with pytest.raises(ValueError, match="NoSuchOperation"):
        AwsEndpoint(
            service="ecr", handlers={"NoSuchOperation": describe_repositories}, authenticator=authenticate
        )


def test_a_protocol_the_layer_does_not_speak_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported AWS protocol"):
        AwsEndpoint(service="s3", handlers={}, authenticator=authenticate)


def test_every_model_operation_exists_for_our_services() -> None:
    for name in ("ecr", "iam", "sts", "ecs", "logs"):
        model = service_model(name)
        AwsEndpoint(
            service=name,
            handlers={op: describe_repositories for op in model.operation_names},
            authenticator=authenticate,
        )


async def test_absurd_nesting_is_a_serialization_error_not_a_crash() -> None:
    deep = b'{"repositoryNames": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, code, _ = json_error(await call_ecr("DescribeRepositories", deep))
    assert (status, code) == (400, "SerializationException")
