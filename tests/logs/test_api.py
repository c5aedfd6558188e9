"""The CloudWatch Logs API through boto3 against `dockyard serve`: shapes, errors in AWS's ``__type`` form,
paging tokens, rejected events, filter patterns, retention."""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from identity.support import error_of

from .conftest import REGION, Plane

DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def stream_in(logs: Any, group: str, name: str = "s") -> str:
    logs.create_log_stream(logGroupName=group, logStreamName=name)
    return name


def unvalidated(logs: Any) -> Any:
    """A client like ``logs`` that sends what botocore would refuse before sending."""
    credentials = logs._request_signer._credentials
    return boto3.client(
        "logs",
        endpoint_url=logs.meta.endpoint_url,
        region_name=REGION,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


def put(logs: Any, group: str, stream: str, *messages: str, at: int | None = None, **extra: Any) -> Any:
    start = now_ms() if at is None else at
    batch = [{"timestamp": start + i, "message": m} for i, m in enumerate(messages)]
    return logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch, **extra)


def test_log_groups_are_created_described_and_deleted(plane: Plane, logs: Any) -> None:
    name = f"/app/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name, tags={"team": "web"})
    [found] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    arn = f"arn:aws:logs:{REGION}:{plane.account}:log-group:{name}"
    assert found["arn"] == arn + ":*"
    assert found["logGroupArn"] == arn
    assert (found["storedBytes"], found["logGroupClass"], found["metricFilterCount"]) == (0, "STANDARD", 0)
    assert "retentionInDays" not in found
    assert abs(found["creationTime"] - now_ms()) < 600_000
    [brief] = logs.describe_log_groups(logGroupNamePattern=name.split("/")[-1])["logGroups"]
    assert set(brief) == {"logGroupName", "creationTime", "arn"}
    with pytest.raises(ClientError) as caught:
        logs.create_log_group(logGroupName=name)
    assert error_of(caught) == ("ResourceAlreadyExistsException", 400)
    assert caught.value.response["Error"]["Message"] == "The specified log group already exists"
    logs.delete_log_group(logGroupName=name)
    with pytest.raises(ClientError) as caught:
        logs.delete_log_group(logGroupName=name)
    assert error_of(caught) == ("ResourceNotFoundException", 400)
    assert caught.value.response["Error"]["Message"] == "The specified log group does not exist."


def test_invalid_parameters_are_invalid_parameter_exceptions(logs: Any) -> None:
    for bad in ({"logGroupName": "a b"}, {"logGroupName": "aws/x"}, {"logGroupName": "k", "kmsKeyId": "key"}):
        with pytest.raises(ClientError) as caught:
            logs.create_log_group(**bad)
        assert error_of(caught) == ("InvalidParameterException", 400)
    with pytest.raises(ClientError) as caught:
        logs.create_log_group(logGroupName="a b")
    assert caught.value.response["Error"]["Message"].startswith(
        "1 validation error detected: Value 'a b' at 'logGroupName' failed to satisfy constraint"
    )


def test_groups_page_in_ascii_order(logs: Any) -> None:
    prefix = f"/page-{uuid.uuid4().hex[:8]}/"
    names = [prefix + n for n in ("b", "A", "a", "c", "B")]
    for name in names:
        logs.create_log_group(logGroupName=name)
    first = logs.describe_log_groups(logGroupNamePrefix=prefix, limit=2)
    assert [g["logGroupName"] for g in first["logGroups"]] == [prefix + "A", prefix + "B"]
    pages = logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=prefix, PaginationConfig={"PageSize": 2}
    )
    assert [g["logGroupName"] for page in pages for g in page["logGroups"]] == sorted(names)
    with pytest.raises(ClientError) as caught:
        logs.describe_log_groups(nextToken="garbage")
    assert error_of(caught) == ("InvalidParameterException", 400)


def test_streams_are_created_and_described(plane: Plane, logs: Any, group: str) -> None:
    for name in ("web/2", "web/1", "db/1"):
        stream_in(logs, group, name)
    put(logs, group, "web/1", "old", at=now_ms() - 60_000)
    put(logs, group, "db/1", "newer")
    with pytest.raises(ClientError) as caught:
        stream_in(logs, group, "web/1")
    assert error_of(caught) == ("ResourceAlreadyExistsException", 400)
    with pytest.raises(ClientError) as caught:
        stream_in(logs, "/missing/group", "x")
    assert error_of(caught) == ("ResourceNotFoundException", 400)
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["db/1", "web/1", "web/2"]
    db = streams[0]
    assert db["arn"] == f"arn:aws:logs:{REGION}:{plane.account}:log-group:{group}:log-stream:db/1"
    assert db["firstEventTimestamp"] == db["lastEventTimestamp"]
    assert db["storedBytes"] == 0
    latest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in latest["logStreams"]] == ["db/1", "web/1", "web/2"]
    prefixed = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="web/", limit=1)
    assert [s["logStreamName"] for s in prefixed["logStreams"]] == ["web/1"]
    pages = logs.get_paginator("describe_log_streams").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 1}
    )
    assert [s["logStreamName"] for p in pages for s in p["logStreams"]] == ["db/1", "web/1", "web/2"]
    with pytest.raises(ClientError) as caught:
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="w")
    assert error_of(caught) == ("InvalidParameterException", 400)


def test_put_accepts_any_sequence_token_and_rejects_what_aws_rejects(logs: Any, group: str) -> None:
    stream = stream_in(logs, group)
    first = put(logs, group, stream, "one")
    assert "rejectedLogEventsInfo" not in first
    put(logs, group, stream, "two", sequenceToken="not-the-token")
    put(logs, group, stream, "three", sequenceToken=first["nextSequenceToken"])  # stale: accepted too
    now = now_ms()
    batch = [
        {"timestamp": now - 15 * DAY_MS, "message": "ancient"},
        {"timestamp": now, "message": "fine"},
        {"timestamp": now + 3 * 3_600_000, "message": "future"},
    ]
    done = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
    assert done["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 2}
    stored = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert [e["message"] for e in stored] == ["one", "two", "three", "fine"]
    with pytest.raises(ClientError) as caught:
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch[::-1])
    assert error_of(caught) == ("InvalidParameterException", 400)
    assert "chronological order" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        put(logs, group, "missing", "x")
    assert error_of(caught) == ("ResourceNotFoundException", 400)
    assert caught.value.response["Error"]["Message"] == "The specified log stream does not exist."
    unchecked = unvalidated(logs)  # the server's own check of the model's constraints
    with pytest.raises(ClientError) as caught:
        put(unchecked, group, stream, "")
    assert error_of(caught) == ("InvalidParameterException", 400)
    assert caught.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '' at 'logEvents.1.member.message' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_get_log_events_tokens(logs: Any, group: str) -> None:
    stream = stream_in(logs, group)
    put(logs, group, stream, *[f"m{i}" for i in range(5)])

    def get(**query: Any) -> Any:
        return logs.get_log_events(logGroupName=group, logStreamName=stream, **query)

    tail = get(limit=2)
    assert [e["message"] for e in tail["events"]] == ["m3", "m4"]
    assert all(e["ingestionTime"] >= e["timestamp"] - 1000 for e in tail["events"])
    older = get(limit=2, nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in older["events"]] == ["m1", "m2"]
    at_end = get(nextToken=tail["nextForwardToken"], startFromHead=True)
    assert at_end["events"] == []
    assert at_end["nextForwardToken"] == tail["nextForwardToken"]
    again = get(nextToken=tail["nextForwardToken"], startFromHead=True)
    assert (again["events"], again["nextForwardToken"]) == ([], tail["nextForwardToken"])
    put(logs, group, stream, "m5")
    fresh = get(nextToken=tail["nextForwardToken"], startFromHead=True)
    assert [e["message"] for e in fresh["events"]] == ["m5"]
    with pytest.raises(ClientError) as caught:
        get(nextToken="f/123")
    assert error_of(caught) == ("InvalidParameterException", 400)


def test_a_group_may_be_named_by_its_arn(plane: Plane, logs: Any, group: str) -> None:
    stream = stream_in(logs, group)
    put(logs, group, stream, "by arn")
    arn = f"arn:aws:logs:{REGION}:{plane.account}:log-group:{group}"
    got = logs.get_log_events(logGroupIdentifier=arn, logStreamName=stream)["events"]
    assert [e["message"] for e in got] == ["by arn"]
    found = logs.filter_log_events(logGroupIdentifier=arn)["events"]
    assert [e["message"] for e in found] == ["by arn"]
    with pytest.raises(ClientError) as caught:
        logs.filter_log_events(logGroupIdentifier=arn.replace(plane.account, "999999999999"))
    assert error_of(caught) == ("ResourceNotFoundException", 400)
    with pytest.raises(ClientError) as caught:
        logs.filter_log_events(logGroupIdentifier=arn, logGroupName=group)
    assert error_of(caught) == ("InvalidParameterException", 400)


def test_filter_log_events(logs: Any, group: str) -> None:
    start = now_ms()
    for stream, offset, lines in (
        ("web/1", 0, ["GET / 200", "ERROR timeout talking to db"]),
        ("web/2", 1, ['WARN "slow" request', "GET /health 200"]),
        ("db/1", 2, ["ERROR disk full", "checkpoint complete"]),
    ):
        stream_in(logs, group, stream)
        put(logs, group, stream, *lines, at=start + offset * 10)

    def messages(**query: Any) -> list[str]:
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, **query)["events"]]

    assert messages(filterPattern="ERROR") == ["ERROR timeout talking to db", "ERROR disk full"]
    assert messages(filterPattern="?WARN ?disk") == ['WARN "slow" request', "ERROR disk full"]
    assert messages(filterPattern='"GET /health"') == ["GET /health 200"]
    assert messages(filterPattern="GET -health") == ["GET / 200"]
    assert messages(filterPattern="ERROR", logStreamNamePrefix="web/") == ["ERROR timeout talking to db"]
    assert messages(logStreamNames=["db/1"]) == ["ERROR disk full", "checkpoint complete"]
    assert messages(startTime=start + 10, endTime=start + 11) == ['WARN "slow" request', "GET /health 200"]
    answer = logs.filter_log_events(logGroupName=group, filterPattern="200")
    assert [e["logStreamName"] for e in answer["events"]] == ["web/1", "web/2"]
    assert len({e["eventId"] for e in answer["events"]}) == 2
    assert answer["searchedLogStreams"] == []
    assert "nextToken" not in answer
    page = logs.filter_log_events(logGroupName=group, limit=4)
    assert len(page["events"]) == 4
    rest = logs.filter_log_events(logGroupName=group, nextToken=page["nextToken"])
    assert len(rest["events"]) == 2
    every = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 4}
    )
    assert sum(len(p["events"]) for p in every) == 6
    for bad in ({"filterPattern": "{ $.level = 1 }"}, {"logStreamNames": ["a"], "logStreamNamePrefix": "a"}):
        with pytest.raises(ClientError) as caught:
            logs.filter_log_events(logGroupName=group, **bad)
        assert error_of(caught) == ("InvalidParameterException", 400)


def test_retention_policies(logs: Any, group: str) -> None:
    stream = stream_in(logs, group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    [found] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert found["retentionInDays"] == 1
    done = put(logs, group, stream, "yesterday-ish", at=now_ms() - 2 * DAY_MS)
    assert done["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    with pytest.raises(ClientError) as caught:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert error_of(caught) == ("InvalidParameterException", 400)
    logs.delete_retention_policy(logGroupName=group)
    [found] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert "retentionInDays" not in found
    with pytest.raises(ClientError) as caught:
        logs.put_retention_policy(logGroupName=group + "-missing", retentionInDays=1)
    assert error_of(caught) == ("ResourceNotFoundException", 400)


def test_messages_round_trip_byte_for_byte(logs: Any, group: str) -> None:
    stream = stream_in(logs, group)
    odd = ["nul\x00inside", "tab\tand\r\nnewline", "ünïcødé 🐳", "x" * 200_000]
    put(logs, group, stream, *odd)
    got = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert [e["message"] for e in got] == odd
    [found] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert found["storedBytes"] == sum(len(m.encode()) for m in odd)


def test_errors_are_aws_json_with_a_type(plane: Plane) -> None:
    """The wire form any JSON 1.1 client reads: ``__type``, the error-type header, status 400."""
    response = httpx.post(
        plane.url + "/",
        headers={
            "X-Amz-Target": "Logs_20140328.DescribeLogGroups",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=b"{}",
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "MissingAuthenticationTokenException"
    assert response.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
