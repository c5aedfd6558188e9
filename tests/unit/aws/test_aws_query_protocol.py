"""AWS Query against botocore itself: its serializer writes the requests we parse, its parser reads the
XML we write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import botocore.parsers
import botocore.serialize
import defusedxml.ElementTree as SafeET
import pytest
from botocore.utils import percent_encode_sequence
from starlette.requests import Request

from dockyard.http.aws.errors import AwsError, Fault, ProtocolError, SerializationError, UnknownOperationError
from dockyard.http.aws.model import service_model
from dockyard.http.aws.query_protocol import QueryProtocol, error_document, serialize_output

WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

INPUTS = [
    (
        "iam",
        "CreateUser",
        {
            "Path": "/team/",
            "UserName": "alice",
            "PermissionsBoundary": "arn:aws:iam::123456789012:policy/boundary",
            "Tags": [{"Key": "team", "Value": "core & more"}, {"Key": "empty", "Value": ""}],
        },
    ),
    ("iam", "CreateUser", {"UserName": "bob", "Tags": []}),
    (
        "iam",
        "PutUserPolicy",
        {
            "UserName": "alice",
            "PolicyName": "p",
            "PolicyDocument": '{"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*+=%"}]}',
        },
    ),
    ("iam", "ListUsers", {"PathPrefix": "/", "MaxItems": 10}),
    (
        "iam",
        "UpdateAccountPasswordPolicy",
        {"MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": False},
    ),
    (
        "sts",
        "AssumeRole",
        {
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "RoleSessionName": "session",
            "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
            "DurationSeconds": 3600,
            "Tags": [{"Key": "k", "Value": "v"}],
            "TransitiveTagKeys": ["k"],
            "ExternalId": "ext",
        },
    ),
    ("sts", "GetCallerIdentity", {}),
    (
        "sns",
        "Publish",
        {
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": "hello",
            "MessageAttributes": {
                "bin": {"DataType": "Binary", "BinaryValue": bytes(range(10))},
                "str": {"DataType": "String", "StringValue": "x"},
            },
        },
    ),
    (
        "sdb",
        "BatchPutAttributes",
        {
            "DomainName": "d",
            "Items": [
                {
                    "Name": "i1",
                    "Attributes": [{"Name": "a", "Value": "1", "Replace": True}, {"Name": "b", "Value": "2"}],
                },
                {"Name": "i2", "Attributes": [{"Name": "c", "Value": "3"}]},
            ],
        },
    ),
    (
        "autoscaling",
        "PutScheduledUpdateGroupAction",
        {"AutoScalingGroupName": "g", "ScheduledActionName": "a", "StartTime": WHEN, "MinSize": 1},
    ),
]


def botocore_form(service: str, operation: str, params: dict[str, Any]) -> dict[str, str]:
    serializer = botocore.serialize.create_serializer("query", include_validation=True)
    form: dict[str, str] = serializer.serialize_to_request(
        params, service_model(service).operation(operation)
    )["body"]
    return form


def make_request(
    body: bytes = b"", query: str = "", method: str = "POST", content_type: str = FORM
) -> Request:
    headers = [(b"content-type", content_type.encode())] if content_type else []
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": headers,
        "query_string": query.encode(),
    }
    return Request(scope)


def parse(service: str, body: bytes = b"", query: str = "") -> tuple[str, dict[str, Any]]:
    protocol = QueryProtocol(service_model(service))
    request = make_request(body, query)
    name = protocol.operation_name(request, body)
    return name, protocol.parse_input(service_model(service).operation(name), request, body)


@pytest.mark.parametrize(("service", "operation", "params"), INPUTS, ids=[f"{s}.{o}" for s, o, _ in INPUTS])
def test_what_botocore_sends_parses_back_to_the_same_params(
    service: str, operation: str, params: dict[str, Any]
) -> None:
    body = percent_encode_sequence(botocore_form(service, operation, params)).encode()
    assert parse(service, body=body) == (operation, params)


def test_parameters_may_come_in_the_query_string() -> None:
    query = percent_encode_sequence(botocore_form("sts", "GetCallerIdentity", {}))
    assert parse("sts", query=query) == ("GetCallerIdentity", {})


def test_unknown_parameters_are_ignored_and_the_first_repeat_wins() -> None:
    body = b"Action=GetUser&Version=2010-05-08&UserName=a&UserName=b&Bogus=1&Tags.member.1.Key=x"
    assert parse("iam", body=body) == ("GetUser", {"UserName": "a"})


def test_the_body_wins_over_the_query_string() -> None:
    assert parse("iam", body=b"UserName=body", query="Action=GetUser&UserName=query")[1] == {
        "UserName": "body"
    }


def test_action_and_version() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse("iam", body=b"Version=2010-05-08")
    assert caught.value.fault is Fault.MISSING_ACTION
    with pytest.raises(
        UnknownOperationError, match="Could not find operation GetUser for version 2011-01-01"
    ):
        parse("iam", body=b"Action=GetUser&Version=2011-01-01")


@pytest.mark.parametrize(
    "body",
    [
        b"Action=ListUsers&MaxItems=ten",
        b"Action=UpdateAccountPasswordPolicy&RequireSymbols=yes",
        b"Action=GetCredentialReport&Bogus=1&x",
        b"Action=PutScheduledUpdateGroupAction&StartTime=someday",
    ],
)
def test_unreadable_scalars_are_serialization_errors(body: bytes) -> None:
    service = "autoscaling" if b"Scheduled" in body else "iam"
    try:
        parse(service, body=body)
    except SerializationError:
        return
    assert body.endswith(b"&x")  # only the harmless case may pass


OUTPUTS = [
    (
        "iam",
        "CreateUser",
        {
            "User": {
                "Path": "/",
                "UserName": "alice",
                "UserId": "AIDA1",
                "CreateDate": WHEN,
                "Arn": "arn:aws:iam::123456789012:user/alice",
                "Tags": [{"Key": "a<b", "Value": "c&d"}],
            }
        },
    ),
    ("iam", "ListUsers", {"Users": [], "IsTruncated": False}),
    (
        "iam",
        "ListUsers",
        {
            "Users": [{"Path": "/", "UserName": "u", "UserId": "i", "Arn": "a", "CreateDate": WHEN}],
            "IsTruncated": True,
            "Marker": "m",
        },
    ),
    ("iam", "GetAccountSummary", {"SummaryMap": {"Users": 5, "Groups": 0}}),
    (
        "iam",
        "GetCredentialReport",
        {"Content": b"user,arn\nroot,x\n", "ReportFormat": "text/csv", "GeneratedTime": WHEN},
    ),
    (
        "sts",
        "GetCallerIdentity",
        {"UserId": "AIDA1", "Account": "123456789012", "Arn": "arn:aws:iam::1:user/a"},
    ),
    (
        "sts",
        "AssumeRole",
        {
            "Credentials": {
                "AccessKeyId": "ASIA1",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": WHEN,
            },
            "AssumedRoleUser": {"AssumedRoleId": "AROA1:s", "Arn": "arn:aws:sts::1:assumed-role/r/s"},
            "PackedPolicySize": 6,
        },
    ),
    ("sdb", "GetAttributes", {"Attributes": [{"Name": "a", "Value": "1"}, {"Name": "b", "Value": "2"}]}),
    ("sns", "GetTopicAttributes", {"Attributes": {"Policy": "{}", "Owner": "1"}}),
]


def botocore_parse(service: str, operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    op = service_model(service).operation(operation)
    response = {"body": body, "headers": {}, "status_code": status}
    parsed: dict[str, Any] = botocore.parsers.create_parser("query").parse(response, op.output_shape)
    return parsed


@pytest.mark.parametrize(("service", "operation", "output"), OUTPUTS, ids=[f"{s}.{o}" for s, o, _ in OUTPUTS])
def test_what_we_send_botocore_parses_back_to_the_same_output(
    service: str, operation: str, output: dict[str, Any]
) -> None:
    model = service_model(service)
    body = serialize_output(model.xml_namespace or "", model.operation(operation), output, "req-1")
    parsed = botocore_parse(service, operation, body)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    assert parsed == output


def test_the_document_shape_is_aws_own() -> None:
    model = service_model("iam")
    body = serialize_output(
        IAM_NS,
        model.operation("GetUser"),
        {"User": {"UserName": "a", "Path": "/", "UserId": "i", "Arn": "x", "CreateDate": WHEN}},
        "req-1",
    )
    root = SafeET.fromstring(body)
    assert root.tag == f"{{{IAM_NS}}}GetUserResponse"
    assert [child.tag.split("}")[1] for child in root] == ["GetUserResult", "ResponseMetadata"]
    assert root.find(f"{{{IAM_NS}}}GetUserResult/{{{IAM_NS}}}User/{{{IAM_NS}}}CreateDate").text == (
        "2024-05-06T07:08:09Z"
    )


def test_an_operation_without_output_has_only_metadata() -> None:
    body = serialize_output(IAM_NS, service_model("iam").operation("DeleteUser"), None, "req-2")
    parsed = botocore_parse("iam", "DeleteUser", body)
    assert list(parsed) == ["ResponseMetadata"]
    assert parsed["ResponseMetadata"]["RequestId"] == "req-2"


def test_a_handler_returning_unknown_members_is_a_bug() -> None:
    with pytest.raises(TypeError):
        serialize_output(IAM_NS, service_model("iam").operation("GetUser"), {"Bogus": 1}, "r")


@pytest.mark.parametrize(("sender", "kind"), [(True, "Sender"), (False, "Receiver")])
def test_error_documents_parse_in_botocore(sender: bool, kind: str) -> None:
    error = AwsError("NoSuchEntity", "The user with name bob cannot be found.", sender_fault=sender)
    body = error_document(IAM_NS, error, "req-3")
    response = {"body": body, "headers": {}, "status_code": 404}
    parsed = botocore.parsers.create_parser("query").parse(response, None)
    assert parsed["Error"] == {
        "Type": kind,
        "Code": "NoSuchEntity",
        "Message": "The user with name bob cannot be found.",
    }
    assert parsed["ResponseMetadata"]["RequestId"] == "req-3"
    root = SafeET.fromstring(body)
    assert root.tag == f"{{{IAM_NS}}}ErrorResponse"


def test_error_responses_are_xml_with_the_request_id() -> None:
    protocol = QueryProtocol(service_model("sts"))
    response = protocol.error_response(AwsError("ExpiredToken", "expired"), 403, "req-4")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/xml")
    assert response.headers["x-amzn-requestid"] == "req-4"
    assert b"https://sts.amazonaws.com/doc/2011-06-15/" in response.body
