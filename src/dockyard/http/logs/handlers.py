"""CloudWatch Logs operations: model-validated parameters in, a :class:`~dockyard.services.logs.Logs` call, a
dict shaped by the output model out.

Each operation is authorised before it runs, as IAM action ``logs:<Operation>`` on the resource AWS
evaluates it on (:func:`dockyard.domain.logs.resource_arn`): ``...:log-group:<group>:log-stream:<stream>``
for the stream operations (CreateLogStream, DeleteLogStream, PutLogEvents, GetLogEvents), the same with an
empty stream for the group operations, and ``...:log-group::log-stream:`` for DescribeLogGroups. A
CreateLogGroup with tags also needs ``logs:TagResource`` on the group's ARN, as on AWS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from dockyard.domain.logs import InputEvent, InvalidParameter, event_id, group_arn, resource_arn, stream_arn
from dockyard.http.aws.endpoint import Handler
from dockyard.metadata.logs_store import (
    GroupQuery,
    LogGroupRow,
    LogStreamRow,
    StoredEvent,
    StreamQuery,
    StreamSelection,
)
from dockyard.services.access import Caller
from dockyard.services.logs import EventQuery, FilterQuery, Logs, group_name, sequence_token

Params = dict[str, Any]
Output = dict[str, Any]
Scope = Literal["group", "stream", "groups"]
INFREQUENT = ("INFREQUENT_ACCESS", "ESSENTIALS")  # DescribeLogGroups lists these two classes together


class Authorizer(Protocol):
    async def __call__(self, caller: Caller, action: str, resource: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Operation:
    run: Callable[[Caller, Params], Awaitable[Output | None]]
    scope: Scope


def _group(caller: Caller, params: Params) -> str:
    return group_name(caller.account, params.get("logGroupName"), params.get("logGroupIdentifier"))


class LogsHandlers:
    def __init__(self, logs: Logs, authorize: Authorizer, region: str) -> None:
        self.logs = logs
        self.authorize = authorize
        self.region = region

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateLogGroup": Operation(self.create_log_group, "group"),
            "DeleteLogGroup": Operation(self.delete_log_group, "group"),
            "DescribeLogGroups": Operation(self.describe_log_groups, "groups"),
            "PutRetentionPolicy": Operation(self.put_retention_policy, "group"),
            "DeleteRetentionPolicy": Operation(self.delete_retention_policy, "group"),
            "CreateLogStream": Operation(self.create_log_stream, "stream"),
            "DeleteLogStream": Operation(self.delete_log_stream, "stream"),
            "DescribeLogStreams": Operation(self.describe_log_streams, "group"),
            "PutLogEvents": Operation(self.put_log_events, "stream"),
            "GetLogEvents": Operation(self.get_log_events, "stream"),
            "FilterLogEvents": Operation(self.filter_log_events, "group"),
        }

    def handlers(self) -> dict[str, Handler[Caller]]:
        return {name: self.bound(name, op) for name, op in self.operations().items()}

    def bound(self, name: str, op: Operation) -> Handler[Caller]:
        action = f"logs:{name}"

        async def handle(caller: Caller, params: Params) -> Mapping[str, Any] | None:
            await self.authorize(caller, action, self.resource(op.scope, caller, params))
            if name == "CreateLogGroup" and params.get("tags"):
                arn = group_arn(self.region, caller.account, params["logGroupName"])
                await self.authorize(caller, "logs:TagResource", arn)
            return await op.run(caller, params)

        return handle

    def resource(self, scope: Scope, caller: Caller, params: Params) -> str:
        if scope == "groups":
            return resource_arn(self.region, caller.account, "")
        stream = params["logStreamName"] if scope == "stream" else ""
        return resource_arn(self.region, caller.account, _group(caller, params), stream)

    # -- output shapes --------------------------------------------------------------------------------

    def group(self, account: str, row: LogGroupRow, *, brief: bool = False) -> Output:
        """A ``LogGroup``; ``brief`` (logGroupNamePattern was given) keeps only what AWS then returns."""
        arn = group_arn(self.region, account, row.name)
        shown: Output = {"logGroupName": row.name, "creationTime": row.created_ms, "arn": f"{arn}:*"}
        if brief:
            return shown
        return {
            **shown,
            "retentionInDays": row.retention_days,
            "metricFilterCount": 0,
            "storedBytes": row.stored_bytes,
            "logGroupClass": row.log_group_class,
            "logGroupArn": arn,
        }

    def stream(self, account: str, group: str, row: LogStreamRow) -> Output:
        return {
            "logStreamName": row.name,
            "creationTime": row.created_ms,
            "firstEventTimestamp": row.first_event_ms,
            "lastEventTimestamp": row.last_event_ms,
            "lastIngestionTime": row.last_ingestion_ms,
            "uploadSequenceToken": sequence_token(row.upload_sequence) if row.upload_sequence else None,
            "arn": stream_arn(self.region, account, group, row.name),
            "storedBytes": 0,  # AWS has reported zero for streams since 2019
        }

    # -- groups ---------------------------------------------------------------------------------------

    async def create_log_group(self, caller: Caller, params: Params) -> None:
        if params.get("kmsKeyId"):
            raise InvalidParameter("KMS encryption of log groups is not supported by this server.")
        if params.get("deletionProtectionEnabled"):
            raise InvalidParameter("Deletion protection of log groups is not supported by this server.")
        group_class = params.get("logGroupClass", "STANDARD")
        await self.logs.create_group(caller.account, params["logGroupName"], group_class, params.get("tags"))

    async def delete_log_group(self, caller: Caller, params: Params) -> None:
        await self.logs.delete_group(caller.account, params["logGroupName"])

    async def describe_log_groups(self, caller: Caller, params: Params) -> Output:
        query = self._group_query(caller, params)
        page = await self.logs.describe_groups(caller.account, query, params.get("nextToken"))
        brief = bool(params.get("logGroupNamePattern"))
        groups = [self.group(caller.account, row, brief=brief) for row in page.items]
        return {"logGroups": groups, "nextToken": page.next_token}

    def _group_query(self, caller: Caller, params: Params) -> GroupQuery:
        prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
        identifiers = params.get("logGroupIdentifiers")
        names = None
        if identifiers is not None:
            if prefix or pattern:
                raise InvalidParameter("logGroupIdentifiers cannot be used with a name prefix or pattern.")
            names = tuple(group_name(caller.account, None, identifier) for identifier in identifiers)
        wanted = params.get("logGroupClass")
        classes = () if wanted is None else INFREQUENT if wanted in INFREQUENT else (wanted,)
        return GroupQuery(names, prefix, pattern or None, classes, limit=params.get("limit", 50))

    async def put_retention_policy(self, caller: Caller, params: Params) -> None:
        await self.logs.set_retention(caller.account, params["logGroupName"], params["retentionInDays"])

    async def delete_retention_policy(self, caller: Caller, params: Params) -> None:
        await self.logs.set_retention(caller.account, params["logGroupName"], None)

    # -- streams --------------------------------------------------------------------------------------

    async def create_log_stream(self, caller: Caller, params: Params) -> None:
        await self.logs.create_stream(caller.account, params["logGroupName"], params["logStreamName"])

    async def delete_log_stream(self, caller: Caller, params: Params) -> None:
        await self.logs.delete_stream(caller.account, params["logGroupName"], params["logStreamName"])

    async def describe_log_streams(self, caller: Caller, params: Params) -> Output:
        group = _group(caller, params)
        query = StreamQuery(
            prefix=params.get("logStreamNamePrefix"),
            by_last_event=params.get("orderBy", "LogStreamName") == "LastEventTime",
            descending=bool(params.get("descending", False)),
            limit=params.get("limit", 50),
        )
        page = await self.logs.describe_streams(caller.account, group, query, params.get("nextToken"))
        streams = [self.stream(caller.account, group, row) for row in page.items]
        return {"logStreams": streams, "nextToken": page.next_token}

    # -- events ---------------------------------------------------------------------------------------

    async def put_log_events(self, caller: Caller, params: Params) -> Output:
        """The sequence token and any ``entity`` are accepted and ignored, as AWS now does."""
        events = [InputEvent(e["timestamp"], e["message"]) for e in params["logEvents"]]
        done = await self.logs.put_events(
            caller.account, params["logGroupName"], params["logStreamName"], events
        )
        output: Output = {"nextSequenceToken": done.next_sequence_token}
        rejected = done.rejected
        if rejected:
            output["rejectedLogEventsInfo"] = {
                "tooNewLogEventStartIndex": rejected.too_new_start,
                "tooOldLogEventEndIndex": rejected.too_old_end,
                "expiredLogEventEndIndex": rejected.expired_end,
            }
        return output

    async def get_log_events(self, caller: Caller, params: Params) -> Output:
        query = EventQuery(
            start_ms=params.get("startTime"),
            end_ms=params.get("endTime"),
            limit=params.get("limit"),
            start_from_head=bool(params.get("startFromHead", False)),
            token=params.get("nextToken"),
        )
        page = await self.logs.get_events(
            caller.account, _group(caller, params), params["logStreamName"], query
        )
        return {
            "events": [_output_event(e) for e in page.events],
            "nextForwardToken": page.forward,
            "nextBackwardToken": page.backward,
        }

    async def filter_log_events(self, caller: Caller, params: Params) -> Output:
        names = params.get("logStreamNames")
        query = FilterQuery(
            streams=StreamSelection(
                None if names is None else tuple(names), params.get("logStreamNamePrefix")
            ),
            start_ms=params.get("startTime"),
            end_ms=params.get("endTime"),
            pattern=params.get("filterPattern"),
            limit=params.get("limit"),
            start_from_head=params.get("startFromHead"),
            token=params.get("nextToken"),
        )
        page = await self.logs.filter_events(caller.account, _group(caller, params), query)
        events = [
            {"logStreamName": e.stream, **_output_event(e), "eventId": event_id(e.position)}
            for e in page.items
        ]
        return {"events": events, "searchedLogStreams": [], "nextToken": page.next_token}


def _output_event(event: StoredEvent) -> Output:
    return {
        "timestamp": event.position.timestamp,
        "message": event.message,
        "ingestionTime": event.ingestion_ms,
    }
