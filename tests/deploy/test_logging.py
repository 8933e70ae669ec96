"""Logs: a request id kept from the proxy or made, one line per request and per command, text by
default and one JSON object per line with LOG_FORMAT=json."""

import io
import json
import logging
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation_site.logs import JsonFormatter, TextFormatter, request_id_bound
from tests.support.servers import ROOT, site_environment

pytestmark = pytest.mark.django_db

JSON_FIELDS = {"time", "level", "logger", "message", "request_id"}


def records_of(caplog, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


def test_a_request_id_is_made_and_returned(client):
    response = client.get("/login/")

    made = response["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0
    assert client.get("/login/")["X-Request-ID"] != made


def test_the_proxy_request_id_is_kept(client):
    response = client.get("/login/", HTTP_X_REQUEST_ID="lb-7f3a:42")

    assert response["X-Request-ID"] == "lb-7f3a:42"


@pytest.mark.parametrize("sent", ["two words", "x" * 129, 'quote"d', "line\nbreak"])
def test_a_request_id_that_is_not_a_plain_token_is_replaced(client, sent):
    response = client.get("/login/", HTTP_X_REQUEST_ID=sent)

    assert response["X-Request-ID"] != sent and len(response["X-Request-ID"]) == 32


def test_each_request_is_one_line_with_its_id_user_status_and_duration(
    client_in, annotator, caplog
):
    caplog.set_level(logging.INFO, logger="annotation_site.requests")

    client_in.get("/groups/", HTTP_X_REQUEST_ID="req-1")

    (record,) = records_of(caplog, "annotation_site.requests")
    entry = json.loads(JsonFormatter().format(record))
    assert entry.keys() >= JSON_FIELDS
    assert entry["level"] == "INFO"
    assert entry["logger"] == "annotation_site.requests"
    assert entry["message"] == "GET /groups/ 200"
    assert (entry["request_id"], entry["user_id"]) == ("req-1", annotator.pk)
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/groups/", 200)
    assert entry["duration_ms"] >= 0
    assert entry["time"].endswith("+00:00")


def test_client_and_server_errors_are_warnings_and_errors(client_in, caplog):
    caplog.set_level(logging.INFO, logger="annotation_site.requests")

    client_in.get("/sequences/999999/annotate/")

    (record,) = records_of(caplog, "annotation_site.requests")
    assert (record.levelname, record.status, record.user_id is not None) == ("WARNING", 404, True)


def test_anonymous_requests_have_no_user_and_probes_are_quiet(client, caplog):
    caplog.set_level(logging.INFO, logger="annotation_site.requests")

    client.get("/login/")
    client.get("/healthz")
    client.get("/readyz")

    (record,) = records_of(caplog, "annotation_site.requests")
    assert (record.path, record.user_id) == ("/login/", None)


def test_lines_logged_while_serving_carry_the_request_id():
    with request_id_bound("req-9"):
        record = logging.getLogger("groups.services").makeRecord(
            "groups.services", logging.WARNING, __file__, 1, "group %s changed", (4,), None
        )
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )

    with request_id_bound("req-9"):
        entry = json.loads(JsonFormatter().format(record))
        text = TextFormatter().format(record)
    assert (entry["request_id"], entry["message"]) == ("req-9", "group 4 changed")
    assert "WARNING groups.services [req-9] group 4 changed" in text
    failure = JsonFormatter().format(failed)
    assert "\n" not in failure and "ValueError: boom" in json.loads(failure)["exception"]


def test_a_command_logs_its_end_with_an_id_of_its_own(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="annotation_site.commands")
    monkeypatch.setenv("REQUEST_ID", "cron-2026-12-04T10:05")

    call_command("assign_groups", stdout=io.StringIO(), stderr=io.StringIO())

    (record,) = records_of(caplog, "annotation_site.commands")
    entry = json.loads(JsonFormatter().format(record))
    assert entry["command"] == "assign_groups"
    assert (entry["exit_status"], entry["level"]) == (0, "INFO")
    assert entry["request_id"] == "cron-2026-12-04T10:05"
    assert entry["duration_ms"] >= 0


def test_a_failed_command_logs_its_exit_status(caplog):
    caplog.set_level(logging.INFO, logger="annotation_site.commands")

    with pytest.raises(CommandError):
        call_command(
            "assign_groups", "--threshold", "2", stdout=io.StringIO(), stderr=io.StringIO()
        )

    (record,) = records_of(caplog, "annotation_site.commands")
    assert (record.levelname, record.exit_status, len(record.request_id)) == ("WARNING", 1, 32)


def test_log_format_json_makes_every_line_of_a_command_a_json_object(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "assign_groups", "--threshold", "2"],
        cwd=ROOT,
        env=site_environment(
            LOG_FORMAT="json",
            REQUEST_ID="cron-1",
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    (ended,) = [line for line in lines if line["logger"] == "annotation_site.commands"]
    assert (ended["command"], ended["exit_status"], ended["request_id"]) == (
        "assign_groups",
        1,
        "cron-1",
    )


def test_the_default_text_format_is_readable(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "assign_groups", "--threshold", "2"],
        cwd=ROOT,
        env=site_environment(
            REQUEST_ID="cron-2", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )

    (line,) = [line for line in result.stderr.splitlines() if "annotation_site.commands" in line]
    expected = "WARNING annotation_site.commands [cron-2] command assign_groups ended with status 1"
    assert expected in line
    assert "exit_status=1" in line
