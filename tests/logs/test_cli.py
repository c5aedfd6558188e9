"""The aws CLI's ``aws logs`` commands against `dockyard serve`, configured as a user would configure them."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from identity.support import AwsCli, allow, new_user

from .conftest import REGION, Plane


def test_the_aws_cli_writes_reads_and_filters(plane: Plane, tmp_path: Path) -> None:
    cli = AwsCli(tmp_path, plane.url)
    cli.profile("root", plane.root, region=REGION)
    group = f"/cli/{uuid.uuid4().hex[:8]}"
    assert cli.json("root", "logs", "create-log-group", "--log-group-name", group) is None
    plane.logs().create_log_stream(logGroupName=group, logStreamName="web")
    now = int(time.time() * 1000)
    batch = [
        {"timestamp": now + i, "message": m} for i, m in enumerate(["GET / 200", "ERROR boom", "GET /x 404"])
    ]
    put = cli.json(
        "root",
        "logs",
        "put-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "web",
        "--log-events",
        json.dumps(batch),
    )
    assert put["nextSequenceToken"]
    got = cli.json(
        "root",
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "web",
        "--start-from-head",
    )
    assert [e["message"] for e in got["events"]] == ["GET / 200", "ERROR boom", "GET /x 404"]
    assert got["nextForwardToken"].startswith("f/")
    found = cli.json(
        "root", "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "?ERROR ?404"
    )
    assert [(e["logStreamName"], e["message"]) for e in found["events"]] == [
        ("web", "ERROR boom"),
        ("web", "GET /x 404"),
    ]
    paged = cli.json("root", "logs", "filter-log-events", "--log-group-name", group, "--page-size", "1")
    assert len(paged["events"]) == 3  # the CLI follows nextToken page by page


def test_the_aws_cli_reports_access_denied(plane: Plane, tmp_path: Path) -> None:
    _, creds = new_user(plane.iam(), policy=allow("logs:PutLogEvents"))
    cli = AwsCli(tmp_path, plane.url)
    cli.profile("writer", creds, region=REGION)
    done = cli.run("writer", "logs", "get-log-events", "--log-group-name", "/any", "--log-stream-name", "s")
    assert done.returncode != 0
    assert "AccessDeniedException" in done.stderr
    assert "logs:GetLogEvents" in done.stderr
