"""``docker-credential-dockyard get`` against a real ``dockyard serve``: the token it hands Docker is the
one boto3's GetAuthorizationToken gives, it is cached and refreshed, and ``/v2/`` accepts it."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from dockyard.credential_helper import NOT_FOUND

from .support import BIN, DOCKYARD, Helper, free_port, hermetic_environ


@dataclass
class Served:
    url: str
    port: int
    account: str
    access_key: str
    secret_key: str

    @property
    def host(self) -> str:
        return f"{self.account}.dkr.dockyard.localhost:{self.port}"

    def ecr(self) -> Any:
        return boto3.client(
            "ecr",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(retries={"total_max_attempts": 1}),
        )

    def v2_status(self, username: str, password: str) -> int:
        headers = {"Host": self.host}
        return httpx.get(
            f"{self.url}/v2/", auth=(username, password), headers=headers, timeout=10
        ).status_code


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("credhelper-e2e")
    data_dir = root / "data"
    env = hermetic_environ(root)
    done = subprocess.run(
        [DOCKYARD, "admin", "init", "--data-dir", str(data_dir), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    port = free_port()
    log = root / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [DOCKYARD, "serve", "--data-dir", str(data_dir), "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"dockyard serve did not start: {log.read_text()}"
            time.sleep(0.05)
        yield Served(url, port, created["account_id"], created["access_key_id"], created["secret_access_key"])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def keyed(helper: Helper, served: Served) -> Helper:
    return helper.with_keys(served.url, served.access_key, served.secret_key)


def boto3_login(served: Served) -> tuple[str, str, datetime, str]:
    [data] = served.ecr().get_authorization_token(registryIds=[served.account])["authorizationData"]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return username, password, data["expiresAt"], data["proxyEndpoint"]


def test_get_hands_docker_the_token_boto3_gets(keyed: Helper, served: Served) -> None:
    done = keyed.run("get", stdin=served.host + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"ServerURL", "Username", "Secret"}
    assert (answer["ServerURL"], answer["Username"]) == (served.host, "AWS")
    username, password, expires, proxy = boto3_login(served)
    assert username == "AWS"
    assert proxy == f"https://{served.account}.dkr.dockyard.localhost"
    # the same kind of token: same format marker and shape, the same 12-hour expiry to within a minute
    assert answer["Secret"].split(".")[0] == password.split(".")[0]
    assert answer["Secret"].count(".") == password.count(".")
    [cached] = keyed.cached()
    assert cached["authorizationToken"] == base64.b64encode(f"AWS:{answer['Secret']}".encode()).decode()
    assert cached["proxyEndpoint"] == proxy
    assert abs(datetime.fromisoformat(str(cached["expiresAt"])) - expires) < timedelta(minutes=1)
    # both are registry passwords the server accepts on /v2/, and it accepts nothing else
    assert served.v2_status("AWS", answer["Secret"]) == 200
    assert served.v2_status("AWS", password) == 200
    assert served.v2_status("AWS", answer["Secret"] + "x") != 200
    # the second get comes from the cache (the very same token) and lists the host
    again = keyed.run("--debug", "get", stdin=served.host)
    assert json.loads(again.stdout)["Secret"] == answer["Secret"]
    assert "using the cached token" in again.stderr
    for secret in (answer["Secret"], served.secret_key):
        assert secret not in again.stderr
    listed = json.loads(keyed.run("list").stdout)
    assert listed == {served.host: "AWS", f"https://{served.host}": "AWS"}


def test_a_token_near_expiry_is_refreshed_from_the_server(keyed: Helper, served: Served) -> None:
    path = keyed.put_cached(
        served.host, served.url, "stale-password", timedelta(minutes=10), access_key=served.access_key
    )
    done = keyed.run("get", stdin=served.host)
    assert done.returncode == 0, done.stdout + done.stderr
    secret = json.loads(done.stdout)["Secret"]
    assert secret != "stale-password"
    assert served.v2_status("AWS", secret) == 200
    refreshed = json.loads(path.read_text())
    expires = datetime.fromisoformat(refreshed["expiresAt"])
    assert expires - datetime.now(UTC) > timedelta(hours=11)


def test_wrong_credentials_get_nothing(helper: Helper, served: Served) -> None:
    wrong = "wrong-secret-access-key-value"
    done = helper.with_keys(served.url, served.access_key, wrong).run("get", stdin=served.host)
    assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")
    assert "InvalidSignatureException" in done.stderr
    assert wrong not in done.stderr
    assert helper.cached() == []


def test_a_registry_the_server_does_not_name_gets_nothing(keyed: Helper, served: Served) -> None:
    for host in (f"{served.account}.dkr.ecr.us-east-1.amazonaws.com", f"{served.account}.dkr.other.example"):
        done = keyed.run("get", stdin=host)
        assert (done.returncode, done.stdout) == (1, NOT_FOUND + "\n")
    assert keyed.cached() == []


def test_the_mapping_file_names_a_load_balancer_host(helper: Helper, served: Served) -> None:
    host = f"127.0.0.1:{served.port}"
    config = helper.home / "mapping.json"
    config.write_text(json.dumps({"registries": {host: {"endpoint": served.url, "account": served.account}}}))
    done = helper.with_keys("", served.access_key, served.secret_key).run(
        "get", stdin=host, DOCKYARD_CREDENTIAL_HELPER_CONFIG=str(config)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert served.v2_status("AWS", json.loads(done.stdout)["Secret"]) == 200


def test_the_aws_profile_can_name_the_endpoint(helper: Helper, served: Served) -> None:
    """README's aws CLI profile, with `endpoint_url`, is all the helper needs besides AWS_PROFILE."""
    (helper.home / ".aws").mkdir()
    (helper.home / ".aws" / "config").write_text(
        f"[profile dockyard]\nregion = us-east-1\nendpoint_url = {served.url}\n"
    )
    (helper.home / ".aws" / "credentials").write_text(
        f"[dockyard]\naws_access_key_id = {served.access_key}\naws_secret_access_key = {served.secret_key}\n"
    )
    env = {
        "AWS_PROFILE": "dockyard",
        "AWS_CONFIG_FILE": str(helper.home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(helper.home / ".aws" / "credentials"),
    }
    done = helper.run("get", stdin=served.host, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert served.v2_status("AWS", json.loads(done.stdout)["Secret"]) == 200


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_a_real_client_logs_in_through_the_helper(helper: Helper, served: Served) -> None:
    """containers/image (skopeo) runs the helper named in credHelpers as Docker does."""
    served.ecr().create_repository(repositoryName="credhelper/app")
    host = f"127.0.0.1:{served.port}"  # *.dkr.dockyard.localhost may not resolve here: the mapping file
    config = helper.home / ".dockyard" / "credential-helper.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"registries": {host: {"endpoint": served.url, "account": served.account}}}))
    with_helper, without = helper.home / "auth.json", helper.home / "empty-auth.json"
    with_helper.write_text(json.dumps({"credHelpers": {host: "dockyard"}}))
    without.write_text("{}")
    env = {
        **hermetic_environ(helper.home),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_ACCESS_KEY_ID": served.access_key,
        "AWS_SECRET_ACCESS_KEY": served.secret_key,
    }

    def list_tags(authfile: Path) -> subprocess.CompletedProcess[str]:
        command = ["skopeo", "list-tags", "--authfile", str(authfile), "--tls-verify=false"]
        return subprocess.run(
            [*command, f"docker://{host}/credhelper/app"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = list_tags(with_helper)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"Repository": f"{host}/credhelper/app", "Tags": []}
    refused = list_tags(without)
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower()
