"""The CloudWatch Logs API subset (AWS JSON 1.1, ``Logs_20140328.<Op>``): log groups, log streams,
PutLogEvents, GetLogEvents and FilterLogEvents, authorised by IAM, shapes from botocore's ``logs`` model.
Node agents ship containers' output here with a task execution role's credentials, as ECS's ``awslogs``
driver does."""

from __future__ import annotations

from dockyard.http.logs.api import LogsApi, build_logs_endpoint, logs_endpoint

__all__ = ["LogsApi", "build_logs_endpoint", "logs_endpoint"]
