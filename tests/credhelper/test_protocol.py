"""The credential-helper protocol (docker/docker-credential-helpers), through the console script as Docker
runs it: one action word, input on stdin, the answer or the error message on stdout, exit status 0 or 1."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from importlib.metadata import version

import pytest

from dockyard.credential_helper import MISSING_SERVER_URL, MISSING_USERNAME, NOT_FOUND, USAGE

from .support import SECRET_KEY, Helper, dead_endpoint

HOST = "111122223333.dkr.dockyard.localhost:5000"
PASSWORD = "dky-cached-password"


def test_version(helper: Helper) -> None:
    done = helper.run("version")
    assert (done.returncode, done.stdout) == (
        0,
        f"docker-credential-dockyard (dockyard) {version('dockyard')}\n",
    )
    assert helper.call("-v").stdout == done.stdout


@pytest.mark.parametrize("args", [(), ("get", "list"), ("--debug",)])
def test_exactly_one_action(helper: Helper, args: tuple[str, ...]) -> None:
    done = helper.run(*args)
    assert (done.returncode, done.stdout) == (1, USAGE + "\n")
    assert USAGE == "Usage: docker-credential-dockyard <store|get|erase|list|version>"


def test_unknown_action(helper: Helper) -> None:
    done = helper.run("bogus", stdin=HOST)
    assert (done.returncode, done.stdout) == (1, "Unknown credential action `bogus`\n")


def test_store_is_accepted_and_stores_nothing(helper: Helper) -> None:
    creds = {"ServerURL": HOST, "Username": "AWS", "Secret": "from docker login"}
    done = helper.run("store", stdin=json.dumps(creds) + "\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert helper.cached() == []
    assert not (helper.home / ".cache").exists()
    # Go decodes field names case-blind, across line breaks, and reads the first JSON value only
    assert helper.call("store", stdin='{"serverurl": "h",\n "USERNAME": "u"} trailing').returncode == 0


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ('{"Username": "AWS", "Secret": "x"}', MISSING_SERVER_URL),
        ('{"ServerURL": "", "Username": "AWS"}', MISSING_SERVER_URL),
        ('{"ServerURL": "h", "Secret": "x"}', MISSING_USERNAME),
        ("null", MISSING_SERVER_URL),
    ],
)
def test_store_validates_like_the_protocol(helper: Helper, stdin: str, message: str) -> None:
    done = helper.call("store", stdin=stdin)
    assert (done.returncode, done.stdout) == (1, message + "\n")


def test_store_rejects_what_is_not_json(helper: Helper) -> None:
    done = helper.call("store", stdin="not json")
    assert done.returncode == 1
    assert done.stdout.strip()


@pytest.mark.parametrize("action", ["get", "erase"])
def test_a_server_url_is_required(helper: Helper, action: str) -> None:
    done = helper.call(action, stdin=" \n")
    assert (done.returncode, done.stdout) == (1, MISSING_SERVER_URL + "\n")


def test_erase_succeeds_and_drops_only_that_hosts_tokens(helper: Helper) -> None:
    endpoint = dead_endpoint()
    helper.put_cached(HOST, endpoint, PASSWORD, timedelta(hours=6))
    other = helper.put_cached(
        "444455556666.dkr.dockyard.localhost:5000", endpoint, PASSWORD, timedelta(hours=6)
    )
    done = helper.run("erase", stdin=f"https://{HOST}\n")
    assert (done.returncode, done.stdout) == (0, "")
    assert [path.name for path in helper.cache_dir.glob("*.json")] == [other.name]
    assert helper.call("erase", stdin="registry.example.com").returncode == 0  # nothing cached: still fine


def test_get_answers_from_the_cache_in_the_protocols_json(helper: Helper) -> None:
    endpoint = dead_endpoint()
    helper.with_keys(endpoint).put_cached(HOST, endpoint, PASSWORD, timedelta(hours=11))
    done = helper.run("get", stdin=HOST + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == f'{{"ServerURL":"{HOST}","Username":"AWS","Secret":"{PASSWORD}"}}\n'
    # Docker may pass a URL: it is echoed as given, and names the same registry host
    done = helper.call("get", stdin=f"https://{HOST}/v2/")
    assert json.loads(done.stdout) == {
        "ServerURL": f"https://{HOST}/v2/",
        "Username": "AWS",
        "Secret": PASSWORD,
    }


def test_a_token_near_expiry_is_refreshed_or_else_used_until_it_expires(helper: Helper) -> None:
    endpoint = dead_endpoint()
    helper.with_keys(endpoint).put_cached(HOST, endpoint, PASSWORD, timedelta(minutes=10))
    done = helper.run("get", stdin=HOST)
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["Secret"] == PASSWORD
    assert "GetAuthorizationToken at" in done.stderr
    assert "cached token" in done.stderr
    assert PASSWORD not in done.stderr
    assert SECRET_KEY not in done.stderr


def test_an_expired_token_is_never_used(helper: Helper) -> None:
    endpoint = dead_endpoint()
    helper.with_keys(endpoint).put_cached(HOST, endpoint, PASSWORD, timedelta(seconds=-1))
    done = helper.run("get", stdin=HOST)
    assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")


def test_the_cache_is_per_credential_identity(helper: Helper) -> None:
    endpoint = dead_endpoint()
    helper.with_keys(endpoint).put_cached(HOST, endpoint, PASSWORD, timedelta(hours=11))
    done = helper.call("get", stdin=HOST, AWS_ACCESS_KEY_ID="AKIAANOTHERUSER00001")
    assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):  # another region: another entry too
        done = helper.call("get", stdin=HOST, **{variable: "eu-west-1"})
        assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")
    assert helper.call("get", stdin=HOST, AWS_REGION="us-east-1").returncode == 0


def test_cache_location_and_switch(helper: Helper) -> None:
    endpoint = dead_endpoint()
    helper.with_keys(endpoint).put_cached(HOST, endpoint, PASSWORD, timedelta(hours=11))
    assert helper.call("get", stdin=HOST, DOCKYARD_CREDENTIAL_HELPER_DISABLE_CACHE="1").returncode == 1
    assert helper.call("get", stdin=HOST, XDG_CACHE_HOME=str(helper.home / "elsewhere")).returncode == 1
    moved = helper.home / "moved"
    helper.cache_dir.rename(moved)
    assert helper.call("get", stdin=HOST).returncode == 1
    assert helper.call("get", stdin=HOST, DOCKYARD_CREDENTIAL_HELPER_CACHE_DIR=str(moved)).returncode == 0


def test_cache_files_are_private(helper: Helper) -> None:
    path = helper.put_cached(HOST, dead_endpoint(), PASSWORD, timedelta(hours=11))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


@pytest.mark.parametrize(
    "server_url",
    [
        "https://index.docker.io/v1/",  # Docker Hub, with credsStore pointing here
        "registry.example.com:5000",  # not <account>.dkr.<domain>, not in the mapping file
        "12345.dkr.dockyard.localhost",  # not a 12-digit account id
        "not a host",
    ],
)
def test_other_registries_get_nothing(helper: Helper, server_url: str) -> None:
    done = helper.with_keys(dead_endpoint()).call("get", stdin=server_url)
    assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")


def test_no_aws_credentials_means_not_found(helper: Helper) -> None:
    endpoint = dead_endpoint()
    helper.put_cached(HOST, endpoint, PASSWORD, timedelta(hours=11))
    done = helper.call("--debug", "get", stdin=HOST, DOCKYARD_ENDPOINT=endpoint)
    assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")
    assert "no AWS credentials were found" in done.stderr


def test_no_endpoint_means_not_found(helper: Helper) -> None:
    done = helper.call(
        "--debug", "get", stdin=HOST, AWS_ACCESS_KEY_ID="AKIAX", AWS_SECRET_ACCESS_KEY=SECRET_KEY
    )
    assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")
    assert "no Dockyard endpoint" in done.stderr


def test_the_mapping_file_routes_a_host(helper: Helper) -> None:
    endpoint = dead_endpoint()
    host = "registry.internal:5000"
    (helper.home / ".dockyard").mkdir()
    mapping = {"registries": {host: {"endpoint": endpoint, "account": "111122223333"}}}
    (helper.home / ".dockyard" / "credential-helper.json").write_text(json.dumps(mapping))
    helper.with_keys(dead_endpoint()).put_cached(host, endpoint, PASSWORD, timedelta(hours=11))
    done = helper.call("get", stdin=host)
    assert (done.returncode, json.loads(done.stdout)["Secret"]) == (0, PASSWORD)
    elsewhere = helper.home / "mapping.json"
    (helper.home / ".dockyard" / "credential-helper.json").rename(elsewhere)
    assert helper.call("get", stdin=host).returncode == 1
    assert helper.call("get", stdin=host, DOCKYARD_CREDENTIAL_HELPER_CONFIG=str(elsewhere)).returncode == 0


def test_a_broken_mapping_file_is_reported_and_ignored(helper: Helper) -> None:
    (helper.home / ".dockyard").mkdir()
    (helper.home / ".dockyard" / "credential-helper.json").write_text("{not json")
    done = helper.with_keys(dead_endpoint()).call("get", stdin=HOST)
    assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")
    assert "ignoring the mapping file" in done.stderr


def test_list(helper: Helper) -> None:
    assert helper.run("list").stdout == "{}\n"
    endpoint = dead_endpoint()
    helper.put_cached(HOST, endpoint, PASSWORD, timedelta(hours=11))
    helper.put_cached("444455556666.dkr.dockyard.localhost", endpoint, PASSWORD, timedelta(seconds=-5))
    done = helper.run("list")
    assert done.returncode == 0
    assert json.loads(done.stdout) == {HOST: "AWS", f"https://{HOST}": "AWS"}
    assert PASSWORD not in done.stdout


def test_debug_log_has_no_secrets(helper: Helper) -> None:
    endpoint = dead_endpoint()
    helper.with_keys(endpoint).put_cached(HOST, endpoint, PASSWORD, timedelta(hours=11))
    for args in (("--debug", "get"), ("get",)):
        done = helper.run(*args, stdin=HOST, DOCKYARD_CREDENTIAL_HELPER_DEBUG="1")
        assert done.returncode == 0
        assert "DEBUG using the cached token" in done.stderr
        for secret in (PASSWORD, SECRET_KEY, "AKIAHELPERTEST"):
            assert secret not in done.stderr
    assert helper.call("get", stdin=HOST).stderr == ""  # quiet without --debug
