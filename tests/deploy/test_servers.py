"""Several app servers (PostgreSQL): two gunicorn servers over one database and one bucket
behave as one site."""

import json
import re
import time

import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import transaction

from groups.models import AssignmentRun
from sequences.models import Detection, Sequence
from tests.factories import (
    CameraFactory,
    SequenceFactory,
    UserFactory,
    group_with_members,
    jpeg_bytes,
    predictions,
    sequence_with_boxes,
)
from tests.support.servers import manage_at

PASSWORD = "secret-password"  # tests.factories.UserFactory's password
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
EXIT_LOCKED = 2
BOX = [0.1, 0.1, 0.3, 0.3]
# Generous waits: on a loaded 2-CPU machine a first request (a password hash, an upload to the
# bucket, a thumbnail) or a command's start-up takes seconds. Only a hung server reaches them.
REQUEST_TIMEOUT = 60
COMMAND_TIMEOUT = 180


def page_login(session: requests.Session, base: str, username: str) -> requests.Response:
    form = session.get(f"{base}/login/", timeout=REQUEST_TIMEOUT)
    token = CSRF_FIELD.search(form.text).group(1)
    return session.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT,
    )


def api_token(base: str, username: str) -> str:
    answer = requests.post(
        f"{base}/api/v1/auth/login",
        data={"username": username, "password": PASSWORD},
        timeout=REQUEST_TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def first_to_exit(processes: list, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                return process
        time.sleep(0.05)
    raise AssertionError("neither command ended")


def json_lines(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_two_servers_share_logins_validations_images_and_the_assignment_lock(
    two_sites, postgres_only
):
    a, b = two_sites.a.url, two_sites.b.url
    user = UserFactory(username="alice")
    # Hashed as the servers hash (the tests' own hasher is a fast one the servers do not know).
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    group = group_with_members(2, is_validated=False)
    sequence = SequenceFactory()

    # A login on one server works on the other.
    session = requests.Session()
    assert page_login(session, a, "alice").status_code == 302
    on_b = session.get(f"{b}/groups/{group.pk}/", allow_redirects=False, timeout=REQUEST_TIMEOUT)
    assert on_b.status_code == 200 and "alice" in on_b.text
    assert "Unvalidate" not in on_b.text

    # A validation made on one shows on the other.
    validated = session.post(
        f"{a}/groups/{group.pk}/validate/",
        headers={"X-CSRFToken": session.cookies["csrftoken"], "X-Request-ID": "validate-1"},
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT,
    )
    assert validated.status_code == 302, validated.text
    assert "Unvalidate" in session.get(f"{b}/groups/{group.pk}/", timeout=REQUEST_TIMEOUT).text
    group.refresh_from_db()
    assert group.is_validated and group.validated_by == user

    # An image stored through one is served by the other (from the bucket).
    token = api_token(a, "alice")
    picture = jpeg_bytes(800, 450, color="orange")
    upload = requests.post(
        f"{a}/api/v1/detections/",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "upload-1"},
        data={
            "sequence_id": sequence.pk,
            "alert_api_id": 77,
            "recorded_at": "2026-05-10T14:03:22Z",
            "algo_predictions": json.dumps(predictions(([0.1, 0.1, 0.3, 0.3], 0.9))),
        },
        files={"file": ("frame.jpg", picture, "image/jpeg")},
        timeout=REQUEST_TIMEOUT,
    )
    assert upload.status_code == 201, upload.text
    detection = Detection.objects.get(pk=upload.json()["id"])
    served = requests.get(
        f"{b}/api/v1/detections/{detection.pk}/image",
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT,
    )
    assert served.status_code == 200 and served.content == picture
    assert served.history[0].status_code == 302  # answered by the bucket, not by server b
    page_image = session.get(
        f"{b}/sequences/detections/{detection.pk}/image/?variant=thumb", timeout=REQUEST_TIMEOUT
    )
    assert page_image.status_code == 200 and page_image.headers["Content-Type"] == "image/jpeg"

    # Each server logs its requests as JSON lines with the request id it was given.
    logged = json_lines(two_sites.a.log_lines())
    (line,) = [entry for entry in logged if entry.get("request_id") == "upload-1"]
    assert (line["status"], line["user_id"], line["path"]) == (201, user.pk, "/api/v1/detections/")
    assert any(entry.get("request_id") == "validate-1" for entry in logged)

    # Two assign_groups started at once, one per server's environment, make one run. While a
    # candidate's row is held here, whichever run takes the lock waits inside it (at its first
    # write), however long the other takes to start.
    camera = CameraFactory()
    candidates = [sequence_with_boxes(BOX, camera=camera, azimuth=90) for _ in range(3)]
    moment = time.time() + 2
    with transaction.atomic():
        list(Sequence.objects.select_for_update().filter(pk__in=[c.pk for c in candidates]))
        runs = [manage_at(moment, "assign_groups", env=two_sites.env) for _ in ("a", "b")]
        loser = first_to_exit(runs, timeout=COMMAND_TIMEOUT)
        assert loser.returncode == EXIT_LOCKED, loser.communicate()
    (winner,) = [run for run in runs if run is not loser]
    outcomes = [run.communicate(timeout=COMMAND_TIMEOUT) for run in runs]

    assert winner.returncode == 0, outcomes
    assert AssignmentRun.objects.count() == 1
    assert (
        Sequence.objects.filter(pk__in=[c.pk for c in candidates], group__isnull=True).count() == 0
    )
    ended = [
        entry
        for _, err in outcomes
        for entry in json_lines(err.splitlines())
        if entry["logger"] == "annotation_site.commands"
    ]
    assert sorted(entry["exit_status"] for entry in ended) == [0, EXIT_LOCKED]
    assert len({entry["request_id"] for entry in ended}) == 2
