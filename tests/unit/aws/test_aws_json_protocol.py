"""AWS JSON 1.1 against botocore itself: its serializer writes the requests we parse, its parser reads
the responses we write."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import botocore.parsers
import botocore.serialize
import pytest
from starlette.requests import Request

from dockyard.http.aws.errors import AwsError, SerializationError, UnknownOperationError
from dockyard.http.aws.json_protocol import JsonProtocol, error_body, parse_params, serialize_output
from dockyard.http.aws.model import service_model

WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
WHEN_MS = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32

INPUTS = [
    (
        "ecr",
        "CreateRepository",
        {
            "repositoryName": "team/app",
            "tags": [{"Key": "team", "Value": "core"}, {"Key": "env", "Value": ""}],
            "imageScanningConfiguration": {"scanOnPush": True},
            "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "alias/x"},
        },
    ),
    (
        "ecr",
        "BatchGetImage",
        {
            "registryId": "123456789012",
            "repositoryName": "app",
            "imageIds": [{"imageDigest": DIGEST}, {"imageTag": "v1"}],
            "acceptedMediaTypes": ["application/vnd.oci.image.manifest.v1+json"],
        },
    ),
    (
        "ecr",
        "UploadLayerPart",
        {
            "repositoryName": "app",
            "uploadId": "0f0e0d0c-0b0a-0908-0706-050403020100",
            "partFirstByte": 0,
            "partLastByte": 255,
            "layerPartBlob": bytes(range(256)),
        },
    ),
    (
        "ecs",
        "SubmitTaskStateChange",
        {
            "cluster": "default",
            "pullStartedAt": WHEN,
            "containers": [
                {"containerName": "web", "exitCode": 0, "networkBindings": [{"containerPort": 80}]}
            ],
        },
    ),
    (
        "ecs",
        "RegisterTaskDefinition",
        {
            "family": "web",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": "nginx",
                    "dockerLabels": {"a": "b", "c": ""},
                    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/web"}},
                }
            ],
        },
    ),
    (
        "logs",
        "PutLogEvents",
        {
            "logGroupName": "/web",
            "logStreamName": "s",
            "logEvents": [{"timestamp": 1_700_000_000_000, "message": "hello ✓"}],
        },
    ),
]


def botocore_body(service: str, operation: str, params: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    op = service_model(service).operation(operation)
    serializer = botocore.serialize.create_serializer("json", include_validation=True)
    request = serializer.serialize_to_request(params, op)
    return request["headers"], request["body"]


def botocore_parse(service: str, operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    op = service_model(service).operation(operation)
    response = {"body": body, "headers": {}, "status_code": status}
    parsed: dict[str, Any] = botocore.parsers.create_parser("json").parse(response, op.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""})


@pytest.mark.parametrize(("service", "operation", "params"), INPUTS, ids=[f"{s}.{o}" for s, o, _ in INPUTS])
def test_what_botocore_sends_parses_back_to_the_same_params(
    service: str, operation: str, params: dict[str, Any]
) -> None:
    headers, body = botocore_body(service, operation, params)
    protocol = JsonProtocol(service_model(service))
    assert protocol.operation_name(request_with(headers), body) == operation
    assert headers["Content-Type"] == protocol.content_type
    shape = service_model(service).operation(operation).input_shape
    assert parse_params(body, shape) == params


OUTPUTS = [
    (
        "ecr",
        "DescribeRepositories",
        {
            "repositories": [
                {
                    "repositoryArn": "arn:aws:ecr:us-east-1:123456789012:repository/app",
                    "registryId": "123456789012",
                    "repositoryName": "app",
                    "repositoryUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
                    "createdAt": WHEN_MS,
                    "imageTagMutability": "MUTABLE",
                    "imageScanningConfiguration": {"scanOnPush": False},
                }
            ],
            "nextToken": "t",
        },
    ),
    (
        "ecr",
        "GetAuthorizationToken",
        {
            "authorizationData": [
                {
                    "authorizationToken": "QVdTOnNlY3JldA==",
                    "expiresAt": WHEN,
                    "proxyEndpoint": "https://r.example",
                }
            ],
        },
    ),
    (
        "ecr",
        "BatchGetImage",
        {
            "images": [
                {
                    "registryId": "1",
                    "repositoryName": "app",
                    "imageId": {"imageDigest": DIGEST},
                    "imageManifest": '{"schemaVersion": 2}',
                }
            ],
            "failures": [
                {"imageId": {"imageTag": "gone"}, "failureCode": "ImageNotFound", "failureReason": "x"}
            ],
        },
    ),
    (
        "ecs",
        "RegisterTaskDefinition",
        {
            "taskDefinition": {
                "family": "web",
                "revision": 3,
                "registeredAt": WHEN,
                "containerDefinitions": [{"name": "web", "dockerLabels": {"a": "b"}, "cpu": 256}],
            },
            "tags": [],
        },
    ),
    (
        "logs",
        "GetLogEvents",
        {
            "events": [{"timestamp": 1, "message": "m", "ingestionTime": 2}],
            "nextForwardToken": "f",
        },
    ),
    ("kms", "GenerateRandom", {"Plaintext": bytes(range(32))}),
]


@pytest.mark.parametrize(("service", "operation", "output"), OUTPUTS, ids=[f"{s}.{o}" for s, o, _ in OUTPUTS])
def test_what_we_send_botocore_parses_back_to_the_same_output(
    service: str, operation: str, output: dict[str, Any]
) -> None:
    shape = service_model(service).operation(operation).output_shape
    assert botocore_parse(service, operation, serialize_output(shape, output)) == output


def test_none_members_are_left_out_and_timestamps_are_epoch_seconds() -> None:
    shape = service_model("ecr").operation("GetAuthorizationToken").output_shape
    body = serialize_output(
        shape,
        {"authorizationData": [{"authorizationToken": "t", "expiresAt": WHEN_MS, "proxyEndpoint": None}]},
    )
    assert json.loads(body) == {
        "authorizationData": [{"authorizationToken": "t", "expiresAt": 1714979289.123}]
    }


def test_no_output_shape_is_an_empty_object() -> None:
    assert serialize_output(None, None) == b"{}"


@pytest.mark.parametrize(
    "output",
    [{"bogus": 1}, {"repositories": [{"createdAt": "yesterday"}]}, {"repositories": [{"repositoryName": 5}]}],
)
def test_a_handler_returning_what_the_shape_cannot_hold_is_a_bug(output: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        serialize_output(service_model("ecr").operation("DescribeRepositories").output_shape, output)


@pytest.mark.parametrize(("code", "status"), [("RepositoryNotFoundException", 400), ("ServerException", 500)])
def test_error_bodies_parse_in_botocore(code: str, status: int) -> None:
    body = error_body(AwsError(code, "The repository 'x' does not exist"))
    response = {"body": body, "headers": {"X-Amzn-ErrorType": code}, "status_code": status}
    parsed = botocore.parsers.create_parser("json").parse(response, None)
    assert parsed["Error"] == {"Code": code, "Message": "The repository 'x' does not exist"}


def test_modeled_error_members_parse_as_botocore_clients_read_them() -> None:
    error = AwsError("InvalidSequenceTokenException", "bad token", fields={"expectedSequenceToken": "42"})
    response = {"body": error_body(error), "headers": {}, "status_code": 400}
    parser = botocore.parsers.create_parser("json")
    assert parser.parse(response, None)["Error"]["Code"] == "InvalidSequenceTokenException"
    shape = service_model("logs").botocore.shape_for_error_code("InvalidSequenceTokenException")
    assert parser.parse(response, shape)["expectedSequenceToken"] == "42"


def test_error_responses_carry_type_and_request_id_headers() -> None:
    protocol = JsonProtocol(service_model("ecr"))
    response = protocol.error_response(AwsError("RepositoryNotFoundException", "m"), 400, "req-1")
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "RepositoryNotFoundException"
    assert response.headers["x-amzn-requestid"] == "req-1"
    assert response.headers["content-type"] == "application/x-amz-json-1.1"


@pytest.mark.parametrize(
    "target",
    [
        "",
        "DescribeRepositories",
        "AmazonEC2ContainerServiceV20141113.DescribeRepositories",
        "AmazonEC2ContainerRegistry_V20150921.",
    ],
)
def test_a_wrong_target_is_an_unknown_operation(target: str) -> None:
    with pytest.raises(UnknownOperationError):
        JsonProtocol(service_model("ecr")).operation_name(request_with({"X-Amz-Target": target}), b"{}")


CREATE = service_model("ecr").operation("CreateRepository").input_shape


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'"text"',
        b"\xff\xfe",
        b'{"repositoryName": 5}',
        b'{"repositoryName": "app", "tags": {"Key": "k"}}',
        b'{"repositoryName": "app", "imageScanningConfiguration": {"scanOnPush": "true"}}',
        b'{"repositoryName": "app", "bogus": 1}',
    ],
)
def test_malformed_bodies_are_serialization_errors(body: bytes) -> None:
    with pytest.raises(SerializationError):
        parse_params(body, CREATE)


def test_unknown_members_can_be_ignored_and_nulls_are_absent() -> None:
    body = (
        b'{"repositoryName": "app", "bogus": 1, "tags": null,'
        b' "imageScanningConfiguration": {"scanOnPush": null}}'
    )
    assert parse_params(body, CREATE, reject_unknown=False) == {
        "repositoryName": "app",
        "imageScanningConfiguration": {},
    }


def test_an_empty_body_is_an_empty_input() -> None:
    assert parse_params(b"", service_model("ecr").operation("DescribeRegistry").input_shape) == {}


def test_blobs_must_be_base64_and_timestamps_numbers_or_dates() -> None:
    upload = service_model("ecr").operation("UploadLayerPart").input_shape
    with pytest.raises(SerializationError):
        parse_params(b'{"layerPartBlob": "not base64!"}', upload)
    submit = service_model("ecs").operation("SubmitTaskStateChange").input_shape
    assert parse_params(b'{"pullStartedAt": 1714979289.5}', submit)["pullStartedAt"] == WHEN.replace(
        microsecond=500000
    )
    assert parse_params(b'{"pullStartedAt": "2024-05-06T07:08:09Z"}', submit)["pullStartedAt"] == WHEN
    with pytest.raises(SerializationError):
        parse_params(b'{"pullStartedAt": true}', submit)
