"""Real servers on loopback for the deployment tests: an S3 protocol server (moto's standalone
server) and the site itself under gunicorn, each in a process of its own.

    s3 = S3Server.start(log_dir)        # raises when the server does not answer in time
    bucket = s3.bucket_new()
    ...
    s3.stop()

    site = SiteServer.start(log_dir, "a", env={...})   # gunicorn, as `make serve` runs it
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
S3_ACCESS_KEY = "testing"
S3_SECRET_KEY = "testing"
S3_REGION = "us-east-1"
# A server's start-up (imports, migrations checks, workers) on a loaded 2-CPU machine.
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port_url() -> str:
    """An http:// address on loopback where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # up, but not answering yet
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} did not answer at {url} within {START_TIMEOUT} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class S3Server:
    """moto's S3 server on a loopback port; buckets are made per test."""

    url: str
    process: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, log_dir: Path) -> S3Server:
        port = free_port()
        log = log_dir / f"s3-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "MOTO_PORT": str(port)},
            )
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{url}/moto-api/", process, log, "the S3 server")
        return cls(url=url, process=process, log=log)

    def stop(self) -> None:
        _stop(self.process)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=S3_REGION,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
        )

    def bucket_new(self) -> str:
        name = f"images-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        answer = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def get(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def backend(self, bucket: str, **options) -> dict:
        """The `STORAGES["default"]` entry the site builds from the S3_* variables."""
        from annotation_site.storage import s3_storage_backend

        return s3_storage_backend(
            bucket=bucket,
            endpoint_url=self.url,
            region=S3_REGION,
            access_key_id=S3_ACCESS_KEY,
            secret_access_key=S3_SECRET_KEY,
            **options,
        )

    def environment(self, bucket: str, **extra: str) -> dict[str, str]:
        """The site's S3_* variables for `bucket` of this server."""
        return {
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.url,
            "S3_REGION": S3_REGION,
            "S3_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            **extra,
        }


def site_environment(**variables: str) -> dict[str, str]:
    """The test run's environment without its Django and settings variables, plus `variables`
    (a server or command started from a test gets only what an operator would set)."""
    dropped = {"DEBUG", "SECURE_HTTPS", "SECRET_KEY", "DATABASE_URL", "LOG_FORMAT", "LOG_LEVEL"}
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in dropped and not name.startswith(("DJANGO_", "S3_", "PYTEST_"))
    }
    return {**env, **variables}


@dataclass
class SiteServer:
    """The site under gunicorn (annotation_site/gunicorn_config.py), as `make serve` runs it."""

    url: str
    process: subprocess.Popen
    log: Path

    @classmethod
    def start_many(cls, log_dir: Path, names: list[str], env: dict[str, str]) -> list[SiteServer]:
        """Start one server per name, all at once, and wait until each answers /healthz."""
        started = []
        for name in names:
            port = free_port()
            log = log_dir / f"site-{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "gunicorn"),
                        "-c",
                        "python:annotation_site.gunicorn_config",
                        "annotation_site.wsgi",
                    ],
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
                )
            started.append(cls(url=f"http://127.0.0.1:{port}", process=process, log=log))
        try:
            for server in started:
                _wait_until_up(f"{server.url}/healthz", server.process, server.log, "gunicorn")
        except BaseException:
            for server in started:
                server.stop()
            raise
        return started

    def stop(self) -> None:
        _stop(self.process)

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


COMMAND_AT_SCRIPT = """
import sys, time
import django
django.setup()
from django.core.management import execute_from_command_line
# Set up first, then wait for the agreed moment: processes started together run together.
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
execute_from_command_line(["manage.py", *sys.argv[2:]])
"""


def manage_at(moment: float, *arguments: str, env: dict[str, str]) -> subprocess.Popen:
    """`manage.py arguments...` in a process of its own, run at `moment` (a `time.time()`)."""
    return subprocess.Popen(
        [sys.executable, "-c", COMMAND_AT_SCRIPT, str(moment), *arguments],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "annotation_site.settings"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def postgres_url(settings_dict: dict) -> str:
    """The DATABASE_URL of a Django PostgreSQL connection's settings."""
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{settings_dict['NAME']}"


PROBE_SCRIPT = """
import json, sys
import django
django.setup()
from django.test import Client
response = Client().get(sys.argv[1])
print(json.dumps({"status": response.status_code, "body": response.content.decode()}))
"""


def probe_in_fresh_process(path: str, env: dict[str, str]) -> tuple[int, str]:
    """GET `path` from the site set up in a new process with `env`: (status, body)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE_SCRIPT, path],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "annotation_site.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return answer["status"], answer["body"]
