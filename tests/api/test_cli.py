"""The ``dockyard`` command line on a data directory shared with a running app."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dockyard.cli import app as cli
from dockyard.config import Settings

from .conftest import RunApp

runner = CliRunner()


def dockyard(*args: str, input: str | None = None, expect: int = 0) -> str:
    result = runner.invoke(cli, list(args), input=input)
    assert result.exit_code == expect, result.output
    return result.output


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    return str(tmp_path / "cli-data")


def test_migrate_creates_the_schema(data_dir: str) -> None:
    assert "up to date" in dockyard("migrate", "--data-dir", data_dir)
    assert (Path(data_dir) / "dockyard.db").is_file()
    assert "up to date" in dockyard("migrate", "--data-dir", data_dir)  # idempotent


def test_repo_create_list_delete(data_dir: str) -> None:
    assert "created library/alpine" in dockyard("repo", "create", "library/alpine", "--data-dir", data_dir)
    dockyard("repo", "create", "app", "--data-dir", data_dir)
    dockyard("repo", "create", "app", "--data-dir", data_dir)  # creating again is harmless
    rows = json.loads(dockyard("repo", "list", "--json", "--data-dir", data_dir))
    assert [row["name"] for row in rows] == ["app", "library/alpine"]
    assert rows[0]["images"] == rows[0]["tags"] == 0
    assert "app" in dockyard("repo", "list", "--data-dir", data_dir)

    dockyard("repo", "delete", "app", "--data-dir", data_dir, input="n\n", expect=1)  # declined
    assert len(json.loads(dockyard("repo", "list", "--json", "--data-dir", data_dir))) == 2
    assert "deleted app" in dockyard("repo", "delete", "app", "--yes", "--data-dir", data_dir)
    assert [r["name"] for r in json.loads(dockyard("repo", "list", "--json", "--data-dir", data_dir))] == [
        "library/alpine"
    ]


def test_repo_errors(data_dir: str) -> None:
    assert "invalid repository name" in dockyard(
        "repo", "create", "Not/Valid", "--data-dir", data_dir, expect=1
    )
    assert "not known" in dockyard("repo", "delete", "ghost", "--yes", "--data-dir", data_dir, expect=1)
    assert "not known" in dockyard("image", "list", "ghost", "--data-dir", data_dir, expect=1)


def test_data_dir_from_the_environment_and_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file, from_env, from_flag = tmp_path / "file", tmp_path / "env", tmp_path / "flag"
    config = tmp_path / "dockyard.toml"
    config.write_text(f'data_dir = "{from_file}"\n')
    dockyard("repo", "create", "in-file", "--config", str(config))
    monkeypatch.setenv("DOCKYARD_DATA_DIR", str(from_env))
    dockyard("repo", "create", "in-env", "--config", str(config))
    dockyard("repo", "create", "in-flag", "--config", str(config), "--data-dir", str(from_flag))
    for directory, name in ((from_file, "in-file"), (from_env, "in-env"), (from_flag, "in-flag")):
        listed = json.loads(dockyard("repo", "list", "--json", "--data-dir", str(directory)))
        assert [row["name"] for row in listed] == [name]
    dockyard("repo", "list", "--config", str(tmp_path / "absent.toml"), expect=2)


def test_image_list_json(settings: Settings, run_app: RunApp) -> None:
    async def push() -> tuple[str, str, int, int]:
        async with run_app() as registry:
            first = await registry.push_image("shop/web", "v1", seed="one", layers=2)
            second = await registry.push_image("shop/web", "latest", seed="two")
            await registry.put_manifest("shop/web", "v2", second.body)
            blobs = {**first.blobs, **second.blobs}  # by digest: a shared blob counts once
            stored = len(first.body) + len(second.body) + sum(len(b) for b in blobs.values())
            return (
                first.digest,
                second.digest,
                len(first.body) + sum(len(b) for b in first.blobs.values()),
                stored,
            )

    first, second, first_size, stored = asyncio.run(push())
    rows = json.loads(dockyard("image", "list", "shop/web", "--json", "--data-dir", str(settings.data_dir)))
    by_digest = {row["digest"]: row for row in rows}
    assert set(by_digest) == {first, second}
    assert by_digest[first]["tags"] == ["v1"]
    assert by_digest[second]["tags"] == ["latest", "v2"]
    assert by_digest[first]["size"] == first_size
    assert by_digest[first]["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert "v1" in dockyard("image", "list", "shop/web", "--data-dir", str(settings.data_dir))
    repos = json.loads(dockyard("repo", "list", "--json", "--data-dir", str(settings.data_dir)))
    assert repos == [
        {"name": "shop/web", "images": 2, "tags": 3, "bytes": stored, "created_at": repos[0]["created_at"]}
    ]
    assert "size" in dockyard("repo", "list", "--data-dir", str(settings.data_dir))


def test_gc_dry_run_then_run(settings: Settings, run_app: RunApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_GC_GRACE_SECONDS", "1")
    monkeypatch.setenv("DOCKYARD_REDIRECT_TTL_SECONDS", "1")
    data_dir = str(settings.data_dir)

    async def push_and_delete() -> PushedBlobs:
        async with run_app() as registry:
            doomed = await registry.push_image("shop/web", "old", seed="doomed", layers=2)
            kept = await registry.push_image("shop/web", "v1", seed="kept")
            assert (await registry.http.delete(f"/v2/shop/web/manifests/{doomed.digest}")).status_code == 202
            return doomed.blobs, kept.blobs

    doomed, kept = asyncio.run(push_and_delete())
    time.sleep(1.1)  # past the grace of the links the deleted image leaves unused
    first = json.loads(dockyard("gc", "--json", "--data-dir", data_dir))
    assert (first["links_removed"], first["marked"], first["blobs_deleted"]) == (len(doomed), len(doomed), 0)
    time.sleep(1.1)  # past the grace of the marks
    plan = json.loads(dockyard("gc", "--dry-run", "--json", "--data-dir", data_dir))
    assert sorted(blob["digest"] for blob in plan["blobs"]) == sorted(doomed)
    assert plan["bytes"] == sum(len(data) for data in doomed.values())
    assert "would go" in dockyard("gc", "--dry-run", "--data-dir", data_dir)
    done = json.loads(dockyard("gc", "--json", "--data-dir", data_dir))
    assert sorted(done["deleted"]) == sorted(doomed)
    assert json.loads(dockyard("gc", "--dry-run", "--json", "--data-dir", data_dir))["blobs"] == []
    [repo] = json.loads(dockyard("repo", "list", "--json", "--data-dir", data_dir))
    assert repo["bytes"] - sum(len(data) for data in kept.values()) > 0  # the kept image's manifest

    async def pull_kept() -> None:
        async with run_app() as registry:
            for digest, data in kept.items():
                assert (await registry.http.get(f"/v2/shop/web/blobs/{digest}")).content == data

    asyncio.run(pull_kept())


PushedBlobs = tuple[dict[str, bytes], dict[str, bytes]]


async def test_a_running_server_sees_cli_changes_at_once(run_app: RunApp, settings: Settings) -> None:
    data_dir = str(settings.data_dir)
    async with run_app(create_on_push=False) as registry:
        refused = await registry.http.post("/v2/made-by-cli/blobs/uploads/")
        assert refused.status_code == 404  # and the server now holds "no such repository" in its cache
        await asyncio.to_thread(dockyard, "repo", "create", "made-by-cli", "--data-dir", data_dir)
        image = await registry.push_image("made-by-cli", "v1")
        assert (await registry.http.get("/v2/made-by-cli/manifests/v1")).content == image.body

        await asyncio.to_thread(dockyard, "repo", "delete", "made-by-cli", "--yes", "--data-dir", data_dir)
        gone = await registry.http.get("/v2/made-by-cli/manifests/v1")
        assert gone.status_code == 404
        assert gone.json()["errors"][0]["code"] == "NAME_UNKNOWN"
