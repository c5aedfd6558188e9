"""Lifecycle policies over the wire: boto3 and the aws CLI against a running server whose clock the test
sets, images pushed over simulated days, the preview, a run by ``dockyard lifecycle run``, the events, and
the survivors pulled with verified digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from dockyard.cli import app as cli
from dockyard.config import Settings

from .support import ACCOUNT, AWS_CLI, Server, aws, serve


class ManualClock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment


def rule(priority: int, status: str, count_type: str, number: int, **selection: Any) -> dict[str, Any]:
    sel: dict[str, Any] = {"tagStatus": status, "countType": count_type, "countNumber": number, **selection}
    if count_type != "imageCountMoreThan":
        sel["countUnit"] = "days"
    return {"rulePriority": priority, "selection": sel, "action": {"type": "expire"}}


def text(*rules: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"rules": list(rules), **extra}, indent=2).ljust(100)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, clock: ManualClock
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("lifecycle-data")
    (data_dir / "dockyard.db").write_bytes(sqlite_template.read_bytes())
    settings = Settings(data_dir=data_dir, access_log=False, lifecycle_interval_seconds=1e9)
    with serve(settings, clock=clock) as running:
        yield running


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def test_put_get_delete_and_not_found(ecr: Any, repo: str) -> None:
    with pytest.raises(ClientError) as missing:
        ecr.get_lifecycle_policy(repositoryName=repo)
    assert code(missing) == (
        "LifecyclePolicyNotFoundException",
        f"Lifecycle policy does not exist for the repository with name '{repo}' "
        f"in the registry with id '{ACCOUNT}'",
    )
    policy = text(rule(1, "untagged", "imageCountMoreThan", 3))
    put = ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=policy)
    assert (put["repositoryName"], put["registryId"], put["lifecyclePolicyText"]) == (repo, ACCOUNT, policy)
    got = ecr.get_lifecycle_policy(repositoryName=repo)
    assert got["lifecyclePolicyText"] == policy
    assert "lastEvaluatedAt" not in got
    assert ecr.delete_lifecycle_policy(repositoryName=repo)["lifecyclePolicyText"] == policy
    with pytest.raises(ClientError) as gone:
        ecr.delete_lifecycle_policy(repositoryName=repo)
    assert code(gone)[0] == "LifecyclePolicyNotFoundException"
    with pytest.raises(ClientError) as no_repo:
        ecr.put_lifecycle_policy(repositoryName="t/absent", lifecyclePolicyText=policy)
    assert code(no_repo)[0] == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as no_preview:
        ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert code(no_preview)[0] == "LifecyclePolicyPreviewNotFoundException"


INVALID = [
    (text(rule(1, "tagged", "imageCountMoreThan", 1)), "tagPrefixList or tagPatternList is required"),
    (
        text(rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["a"], tagPatternList=["b*"])),
        "cannot both",
    ),
    (
        text(rule(1, "tagged", "imageCountMoreThan", 1, tagPatternList=["a*b*c*d*e*f"])),
        "more than 4 wildcards",
    ),
    (text(rule(1, "any", "imageCountMoreThan", 1), rule(2, "untagged", "imageCountMoreThan", 1)), "highest"),
    (
        text(rule(1, "untagged", "imageCountMoreThan", 1), rule(2, "untagged", "sinceImagePushed", 1)),
        "only one",
    ),
    (text(rule(1, "untagged", "imageCountMoreThan", 1), rule(1, "any", "imageCountMoreThan", 2)), "unique"),
    (text(rule(1, "untagged", "imageCountMoreThan", 0)), "countNumber must be an integer of at least 1"),
    (text(rule(1, "untagged", "sinceImageTransitioned", 3)), "archive storage class is not supported"),
    (text(rule(1, "untagged", "imageCountMoreThan", 1, storageClass="archive")), "archive storage class"),
    (text(rule(1, "untagged", "sinceImagePushed", 2) | {"action": {"type": "transition"}}), "archive"),
    (
        text(rule(1, "untagged", "imageCountMoreThan", 1), dockyardKeepRules=[{"pulledWithinDays": 3}]),
        "extension",
    ),
    (
        text(*[rule(n, "tagged", "imageCountMoreThan", 1, tagPrefixList=[f"p{n}"]) for n in range(1, 52)]),
        "at most 50",
    ),
]


@pytest.mark.parametrize(("policy", "words"), INVALID)
def test_invalid_policies_are_refused_as_ecr_does(ecr: Any, repo: str, policy: str, words: str) -> None:
    with pytest.raises(ClientError) as refused:
        ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=policy)
    kind, message = code(refused)
    assert kind == "InvalidParameterException"
    assert message.startswith("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint")
    assert words in message


def test_too_short_text_fails_the_model_constraint(server: Server, repo: str) -> None:
    unchecked = server.ecr(parameter_validation=False)  # the server's own check of the model's min length
    with pytest.raises(ClientError) as refused:
        unchecked.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText='{"rules": []}')
    assert code(refused)[0] == "InvalidParameterException"


def verified_pull(server: Server, repo: str, digest: str) -> int:
    response = server.http.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": "*/*"})
    if response.status_code == 200:
        assert "sha256:" + hashlib.sha256(response.content).hexdigest() == digest
    return response.status_code


@pytest.mark.skipif(AWS_CLI is None, reason="aws CLI not installed")
def test_simulated_days_preview_run_events_and_survivors(
    server: Server, ecr: Any, repo: str, clock: ManualClock, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(days=20)
    pushed: dict[str, str] = {}
    for day, name, tag in [
        (0, "prod-1", "prod-1"),
        (1, "prod-2", "prod-2"),
        (2, "u1", None),
        (3, "prod-3", "prod-3"),
        (4, "u2", None),
        (10, "dev-1", "dev-1"),
        (19, "u3", None),
    ]:
        clock.moment = start + timedelta(days=day)
        pushed[name] = server.push_image(repo, tag, seed=f"{repo}-{name}")[0]
    clock.moment = datetime.now(UTC)
    policy = text(
        rule(1, "tagged", "imageCountMoreThan", 2, tagPatternList=["prod-*"]),
        rule(2, "untagged", "sinceImagePushed", 7),
        rule(3, "any", "sinceImagePushed", 15),
    )
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(policy)
    home = tmp_path / "home"
    home.mkdir()
    put = aws(
        server,
        home,
        "put-lifecycle-policy",
        "--repository-name",
        repo,
        "--lifecycle-policy-text",
        f"file://{policy_file}",
    )
    assert put.returncode == 0, put.stderr
    started = aws(server, home, "start-lifecycle-policy-preview", "--repository-name", repo)
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["status"] == "COMPLETE"
    preview = ecr.get_lifecycle_policy_preview(repositoryName=repo)
    expected = {pushed["prod-1"]: 1, pushed["u1"]: 2, pushed["u2"]: 2}
    assert {r["imageDigest"]: r["appliedRulePriority"] for r in preview["previewResults"]} == expected
    assert preview["summary"]["expiringImageTotalCount"] == 3
    assert all(r["action"]["type"] == "EXPIRE" for r in preview["previewResults"])
    untagged = ecr.get_lifecycle_policy_preview(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert {r["imageDigest"] for r in untagged["previewResults"]} == {pushed["u1"], pushed["u2"]}

    runner = CliRunner()
    args = ["--data-dir", str(server.settings.data_dir), "--account", ACCOUNT, "--json"]
    ran = runner.invoke(cli, ["lifecycle", "run", repo, *args])
    assert ran.exit_code == 0, ran.output
    assert {row["digest"] for row in json.loads(ran.stdout)} == set(expected)
    again = runner.invoke(cli, ["lifecycle", "run", repo, *args])
    assert again.exit_code == 0
    assert json.loads(again.stdout) == []

    events = runner.invoke(cli, ["events", "list", "--repo", repo, *args])
    assert events.exit_code == 0, events.output
    rows = json.loads(events.stdout)
    assert {(r["digest"], r["rule_priority"], tuple(r["tags"])) for r in rows} == {
        (pushed["prod-1"], 1, ("prod-1",)),
        (pushed["u1"], 2, ()),
        (pushed["u2"], 2, ()),
    }
    assert {r["policy_sha256"] for r in rows} == {hashlib.sha256(policy.encode()).hexdigest()}
    for name, digest in pushed.items():
        assert verified_pull(server, repo, digest) == (404 if digest in expected else 200), name
    got = aws(server, home, "get-lifecycle-policy", "--repository-name", repo)
    assert got.returncode == 0
    assert "lastEvaluatedAt" in json.loads(got.stdout)


def test_index_children_and_referrers_follow_their_parent(
    server: Server, ecr: Any, repo: str, clock: ManualClock
) -> None:
    from .support import OCI_INDEX, descriptor, digest_of

    clock.moment = datetime.now(UTC) - timedelta(days=10)
    child, body, _ = server.push_image(repo, None, seed=f"{repo}-child")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor("application/vnd.oci.image.manifest.v1+json", body)],
        }
    ).encode()
    assert server.put_manifest(repo, "v1", index, OCI_INDEX).status_code == 201
    subject = {"mediaType": OCI_INDEX, "digest": digest_of(index), "size": len(index)}
    signature = server.push_image(repo, None, seed=f"{repo}-sig", subject=subject)[0]
    clock.moment = datetime.now(UTC)
    untagged_only = text(rule(1, "untagged", "sinceImagePushed", 1))
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=untagged_only)
    ecr.start_lifecycle_policy_preview(repositoryName=repo)
    assert ecr.get_lifecycle_policy_preview(repositoryName=repo)["previewResults"] == []  # protected
    everything = text(rule(1, "any", "sinceImagePushed", 1))
    ecr.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=everything)
    results = ecr.get_lifecycle_policy_preview(repositoryName=repo)["previewResults"]
    digests = [r["imageDigest"] for r in results]
    # The index goes first (before what it references and what refers to it); the child and the
    # signature, both dependants of the index and pushed at one instant, come in digest order.
    assert digests == [digest_of(index), *sorted([child, signature])]
