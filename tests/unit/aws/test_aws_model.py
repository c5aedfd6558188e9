"""Service models and validation: constraints come from botocore's models, messages read like AWS's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from dockyard.http.aws import patterns
from dockyard.http.aws.errors import SerializationError
from dockyard.http.aws.model import ParamValidationError, Problem, service_model, validate

ECR_NAME_PATTERN = service_model("ecr").botocore.shape_for("RepositoryName").metadata["pattern"]


def problems(service: str, operation: str, params: dict[str, Any]) -> str:
    shape = service_model(service).operation(operation).input_shape
    with pytest.raises(ParamValidationError) as caught:
        validate(shape, params)
    return caught.value.message


def ok(service: str, operation: str, params: dict[str, Any]) -> None:
    validate(service_model(service).operation(operation).input_shape, params)


def test_models_are_loaded_once_with_their_metadata() -> None:
    ecr = service_model("ecr")
    assert ecr is service_model("ecr")
    assert (ecr.protocol, ecr.target_prefix, ecr.signing_name) == (
        "json",
        "AmazonEC2ContainerRegistry_V20150921",
        "ecr",
    )
    iam = service_model("iam")
    assert (iam.protocol, iam.api_version, iam.xml_namespace) == (
        "query",
        "2010-05-08",
        "https://iam.amazonaws.com/doc/2010-05-08/",
    )
    assert service_model("sts").signing_name == "sts"


def test_operations_are_looked_up_by_exact_name() -> None:
    ecr = service_model("ecr")
    assert ecr.operation("DescribeRepositories").name == "DescribeRepositories"
    assert ecr.operation("describeRepositories") is None
    assert ecr.operation("Nope") is None


def test_errors_carry_the_model_code_and_status() -> None:
    iam = service_model("iam")
    for name in ("NoSuchEntityException", "NoSuchEntity"):
        info = iam.error(name)
        assert info is not None
        assert (info.code, info.status, info.sender_fault) == ("NoSuchEntity", 404, True)
    assert iam.error("EntityAlreadyExists").status == 409
    ecr = service_model("ecr")
    assert ecr.error("RepositoryNotFoundException").status is None
    server = ecr.error("ServerException")
    assert server is not None
    assert (server.status, server.sender_fault) == (500, False)


def test_valid_input_passes() -> None:
    ok("ecr", "CreateRepository", {"repositoryName": "team/app", "tags": [{"Key": "k", "Value": "v"}]})
    ok("iam", "CreateUser", {"UserName": "alice", "Tags": [{"Key": "ключ é", "Value": "значение"}]})
    ok("logs", "CreateLogGroup", {"logGroupName": "/app", "tags": {"team": "core"}})
    ok("ecs", "SubmitTaskStateChange", {"pullStartedAt": datetime(2024, 1, 1, tzinfo=UTC)})


def test_a_missing_required_member() -> None:
    assert problems("ecr", "CreateRepository", {}) == (
        "1 validation error detected: Value null at 'repositoryName' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_too_long_and_too_short() -> None:
    assert problems("ecr", "CreateRepository", {"repositoryName": "a" * 257}).endswith(
        "Member must have length less than or equal to 256"
    )
    message = problems("ecr", "CreateRepository", {"repositoryName": "a"})
    assert "Value 'a' at 'repositoryName'" in message
    assert "Member must have length greater than or equal to 2" in message


def test_a_pattern() -> None:
    assert problems("ecr", "CreateRepository", {"repositoryName": "Bad Name"}) == (
        "1 validation error detected: Value 'Bad Name' at 'repositoryName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {ECR_NAME_PATTERN}"
    )


def test_an_enum() -> None:
    message = problems(
        "ecr", "CreateRepository", {"repositoryName": "app", "imageTagMutability": "SOMETIMES"}
    )
    assert "Value 'SOMETIMES' at 'imageTagMutability'" in message
    assert "Member must satisfy enum value set: [MUTABLE, IMMUTABLE" in message


def test_numeric_ranges() -> None:
    assert problems("ecr", "DescribeRepositories", {"maxResults": 0}).endswith(
        "Value '0' at 'maxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )
    assert "less than or equal to 1000" in problems("ecr", "DescribeRepositories", {"maxResults": 1001})


def test_list_sizes_and_nested_paths() -> None:
    message = problems("ecr", "BatchGetImage", {"repositoryName": "app", "imageIds": []})
    assert "Value '[]' at 'imageIds' failed to satisfy constraint: Member must have length greater" in message
    message = problems("ecr", "BatchGetImage", {"repositoryName": "app", "imageIds": [{}, {"imageTag": ""}]})
    assert "at 'imageIds.2.member.imageTag'" in message


def test_every_problem_is_reported_with_lower_camel_paths() -> None:
    message = problems("iam", "CreateUser", {"UserName": "bad name!", "Path": "no-slashes"})
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'bad name!' at 'userName' failed" in message
    assert "Value 'no-slashes' at 'path' failed" in message
    assert "; " in message


def test_unicode_property_patterns_of_tags() -> None:
    message = problems("iam", "TagUser", {"UserName": "alice", "Tags": [{"Key": "bad$key", "Value": "v"}]})
    assert "Value 'bad$key' at 'tags.1.member.key'" in message


def test_map_keys_and_values() -> None:
    message = problems("logs", "CreateLogGroup", {"logGroupName": "/app", "tags": {"": "v"}})
    assert "at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [" in message
    message = problems("logs", "CreateLogGroup", {"logGroupName": "/app", "tags": {"k": "x" * 257}})
    assert "Map value must satisfy constraint: [Member must have length less than or equal to 256]" in message


def test_blobs_are_shown_as_aws_shows_them() -> None:
    message = problems("iam", "UploadSSHPublicKey", {"UserName": "alice", "SSHPublicKeyBody": ""})
    assert "at 'sSHPublicKeyBody'" in message
    shape = service_model("ecr").operation("UploadLayerPart").input_shape
    params = {"repositoryName": "app", "uploadId": str(uuid.uuid4()), "partFirstByte": 0, "partLastByte": 0}
    validate(shape, {**params, "layerPartBlob": b""})
    error = ParamValidationError([Problem("layerPartBlob", b"ab", "Member must have length less than 1")])
    assert "Value 'java.nio.HeapByteBuffer[pos=0 lim=2 cap=2]' at 'layerPartBlob'" in error.message


def test_sensitive_values_are_not_echoed() -> None:
    message = problems("iam", "CreateLoginProfile", {"UserName": "alice", "Password": "\x01secret"})
    assert "secret" not in message
    assert "Value at 'password' failed to satisfy constraint" in message


def test_a_union_needs_exactly_one_member() -> None:
    logs = service_model("logs")
    shape = logs.operation("PutIntegration").input_shape
    assert shape.members["resourceConfig"].metadata.get("union")
    base = {"integrationName": "i", "integrationType": "OPENSEARCH"}
    message = problems("logs", "PutIntegration", {**base, "resourceConfig": {}})
    assert (
        "at 'resourceConfig' failed to satisfy constraint: Member must have exactly one member set" in message
    )


@pytest.mark.parametrize(
    "params",
    [
        {"repositoryName": 5},
        {"repositoryName": "app", "imageScanningConfiguration": {"scanOnPush": "yes"}},
        {"repositoryName": "app", "tags": {"Key": "k"}},
        {"repositoryName": "app", "bogus": 1},
    ],
)
def test_wrong_types_and_unknown_members_are_serialization_errors(params: dict[str, Any]) -> None:
    with pytest.raises(SerializationError):
        validate(service_model("ecr").operation("CreateRepository").input_shape, params)


def test_booleans_are_not_integers() -> None:
    with pytest.raises(SerializationError):
        validate(service_model("ecr").operation("DescribeRepositories").input_shape, {"maxResults": True})


# ------------------------------------------------------------------------------------------------ patterns


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", "héllo wörld 12", "a$b"),
        (r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$", "", "a\nb"),
        (r"[\P{C}\s]+", "line\nnext", "nul\x00"),
        (r"\p{Print}+", "ascii ~", "é"),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "emoji 😀\t", "\x01"),
        (r"[\w-_]*", "a-b_c", "a b"),
        (r"(?! )[\p{L}\p{N}\p{Z}-_]*(?<! )", "a-b_c", " a"),
        (r"[a||b]+", "a|b", "c"),
        (r"abc", "abc", "abcd"),  # the whole value must match, as Java's matches()
    ],
)
def test_java_patterns_translate(pattern: str, good: str, bad: str) -> None:
    assert patterns.matches(pattern, good)
    assert not patterns.matches(pattern, bad)


def test_untranslatable_patterns_are_skipped_not_guessed() -> None:
    assert patterns.compiled(r"[\p{Print}&&[^|:/]]+") is None
    assert patterns.matches(r"[\p{Print}&&[^|:/]]+", "anything")


def test_every_pattern_of_our_services_compiles() -> None:
    for name in ("ecr", "iam", "sts", "ecs", "logs"):
        model = service_model(name).botocore
        for shape_name in model.shape_names:
            pattern = model.shape_for(shape_name).metadata.get("pattern")
            if pattern:
                assert patterns.compiled(pattern) is not None, (name, shape_name, pattern)
