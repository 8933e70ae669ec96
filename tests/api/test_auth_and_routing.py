"""SPEC §7.1 and §9.3 Auth: credentials, permissions, paths, and the JSON shape of every error."""

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from groups.models import GroupOperation, OperationKind
from sequences.models import SequenceAnnotation
from tests.factories import SequenceGroupFactory, UserFactory
from tests.support import token_client

pytestmark = pytest.mark.django_db

# One request per operation (ids need not exist: authentication comes first).
OPERATIONS = [
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/users/me"),
    ("get", "/api/v1/sequences/"),
    ("post", "/api/v1/sequences/"),
    ("get", "/api/v1/sequences/1"),
    ("get", "/api/v1/detections/"),
    ("post", "/api/v1/detections/"),
    ("get", "/api/v1/detections/1"),
    ("get", "/api/v1/detections/1/image"),
    ("get", "/api/v1/detections/1/url"),
    ("get", "/api/v1/export/alerts"),
    ("get", "/api/v1/annotations/sequences/"),
    ("post", "/api/v1/annotations/sequences/"),
    ("get", "/api/v1/annotations/sequences/1"),
    ("patch", "/api/v1/annotations/sequences/1"),
    ("delete", "/api/v1/annotations/sequences/1"),
    ("post", "/api/v1/annotations/sequences/bulk"),
    ("get", "/api/v1/sequence_groups/"),
    ("get", "/api/v1/sequence_groups/stats"),
    ("get", "/api/v1/sequence_groups/1"),
    ("patch", "/api/v1/sequence_groups/1"),
    ("delete", "/api/v1/sequence_groups/1/members/2"),
    ("post", "/api/v1/sequence_groups/members/2/re-include"),
    ("post", "/api/v1/sequence_groups/assign"),
    ("get", "/api/v1/sequence_groups/1/operations"),
    ("post", "/api/v1/sequence_groups/operations/1/undo"),
    ("post", "/api/v1/sequence_groups/check"),
    ("post", "/api/v1/sequence_groups/check/reject"),
    ("get", "/api/v1/sequence_groups/1/merge_candidates"),
    ("post", "/api/v1/sequence_groups/1/merge"),
    ("post", "/api/v1/sequence_groups/1/split"),
    ("get", "/api/v1/stats/daily"),
    ("get", "/api/v1/stats/label_sources"),
    ("get", "/api/v1/stats/check_queue"),
    ("get", "/api/v1/stats/thresholds"),
]


# --- Login and the current user ----------------------------------------------------------------


def test_each_login_returns_a_token_of_its_own(annotator, anonymous_api):
    as_json = anonymous_api.post(
        "/api/v1/auth/login", {"username": "alice", "password": "secret-password"}, format="json"
    )
    as_form = anonymous_api.post(
        "/api/v1/auth/login", {"username": "alice", "password": "secret-password"}
    )

    assert as_json.status_code == as_form.status_code == 200
    assert as_json.json()["token_type"] == "bearer"
    assert as_json.json()["access_token"] != as_form.json()["access_token"]
    for response in (as_json, as_form):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
        assert client.get("/api/v1/users/me").json()["username"] == "alice"


def test_login_with_a_wrong_password_is_401(annotator, anonymous_api):
    response = anonymous_api.post(
        "/api/v1/auth/login", {"username": "alice", "password": "nope"}, format="json"
    )

    assert response.status_code == 401
    assert response.json() == {"detail": "Incorrect username or password"}


def test_login_of_an_inactive_user_is_400(anonymous_api):
    UserFactory(username="gone", is_active=False)

    response = anonymous_api.post(
        "/api/v1/auth/login", {"username": "gone", "password": "secret-password"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "Inactive user"}


def test_login_without_fields_is_422_naming_them(anonymous_api):
    response = anonymous_api.post("/api/v1/auth/login", {}, format="json")

    assert response.status_code == 422
    locs = [error["loc"] for error in response.json()["detail"]]
    assert locs == [["body", "username"], ["body", "password"]]
    assert {error["type"] for error in response.json()["detail"]} == {"value_error"}


def test_users_me(annotator, annotator_api):
    response = annotator_api.get("/api/v1/users/me")

    assert response.json() == {
        "id": annotator.pk,
        "username": "alice",
        "is_active": True,
        "is_staff": False,
        "is_superuser": False,
    }


# --- Credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_endpoint_answers_401_without_credentials(anonymous_api, method, path):
    response = getattr(anonymous_api, method)(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"]


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
def test_bearer_and_token_schemes_both_work(annotator, scheme):
    response = token_client(annotator, scheme).get("/api/v1/users/me")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer 0123456789012345678901234567890123456789", "Token a b", "Bearer \x00x"],
    ids=["no-key", "unknown-key", "spaces", "garbage"],
)
def test_bad_credentials_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/users/me")

    assert response.status_code == 401


def test_an_inactive_users_token_is_refused(annotator):
    client = token_client(annotator)
    annotator.is_active = False
    annotator.save()

    assert client.get("/api/v1/users/me").status_code == 401


def test_session_authentication_needs_csrf_on_writes(annotator, world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(annotator)

    read = client.get("/api/v1/users/me")
    write = client.post(
        "/api/v1/annotations/sequences/bulk",
        {"sequence_ids": [world.seq1.pk], "smoke_type": "wildfire"},
        format="json",
    )

    assert read.status_code == 200
    assert write.status_code == 403
    assert "CSRF" in write.json()["detail"]


def test_assign_is_staff_only(annotator_api):
    response = annotator_api.post("/api/v1/sequence_groups/assign")

    assert response.status_code == 403
    assert response.json()["detail"]


def test_undo_is_staff_only(annotator, annotator_api):
    operation = GroupOperation.objects.create(
        kind=OperationKind.VALIDATE, group=SequenceGroupFactory(), actor=annotator
    )

    response = annotator_api.post(f"/api/v1/sequence_groups/operations/{operation.pk}/undo")

    assert response.status_code == 403
    assert not GroupOperation.objects.filter(kind=OperationKind.UNDO).exists()


# --- Paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sequences",
        "/api/v1/sequences/",
        "/api/v1/sequence_groups/stats/",
        "/api/v1/users/me/",
    ],
)
def test_paths_answer_with_and_without_trailing_slash(api, path):
    response = api.get(path)

    assert response.status_code == 200


def test_stats_is_never_taken_for_a_group_id(api):
    SequenceGroupFactory()

    response = api.get("/api/v1/sequence_groups/stats")

    assert response.status_code == 200
    assert set(response.json()) == {
        "total",
        "labeled",
        "unsure",
        "unlabeled",
        "validated",
        "unvalidated",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here",
        "/api/v1/sequences/abc",
        "/api/v1/sequences/-1",
        "/api/v1/sequences/1234567890123456789012",
        "/api/v1/sequence_groups/assign/extra",
    ],
)
def test_unknown_paths_are_json_404s(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_api_never_redirects_to_the_login_page(anonymous_api):
    response = anonymous_api.get("/api/v1/sequence_groups/")

    assert response.status_code == 401


def test_an_unexpected_error_is_a_json_500_rolled_back_and_logged(
    staff_user, world, monkeypatch, caplog
):
    """SPEC §7.1 (every error is `{"detail": ...}`) and §5.4 (an unexpected error rolls back)."""
    monkeypatch.setattr("groups.services.audit.members_log", _broken)  # after the annotations
    client = token_client(staff_user)
    client.raise_request_exception = False
    body = {"sequence_ids": [world.seq1.pk], "smoke_type": "wildfire"}

    with caplog.at_level("ERROR", logger="django.request"):
        response = client.post("/api/v1/annotations/sequences/bulk", body, format="json")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Internal server error; it has been logged."}
    assert not SequenceAnnotation.objects.exists()
    assert not GroupOperation.objects.exists()
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Internal Server Error: /api/v1/annotations/sequences/bulk"
    assert "injected failure" in str(record.exc_info[1])


def test_an_unexpected_error_is_signalled_to_error_trackers(staff_user, world, monkeypatch):
    """Django's got_request_exception is sent: the test client re-raises on it."""
    monkeypatch.setattr("groups.services.audit.members_log", _broken)
    with pytest.raises(RuntimeError, match="injected"):
        token_client(staff_user).post(
            "/api/v1/annotations/sequences/bulk",
            {"sequence_ids": [world.seq1.pk], "smoke_type": "wildfire"},
            format="json",
        )


def _broken(*args, **kwargs):
    raise RuntimeError("injected failure")


def test_unsupported_method_is_a_json_405(api):
    response = api.put("/api/v1/sequence_groups/stats")

    assert response.status_code == 405
    assert "detail" in response.json()


# --- Documentation -----------------------------------------------------------------------------


def test_the_openapi_schema_is_public_and_valid(anonymous_api):
    response = anonymous_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == len(OPERATIONS) + 1  # + login
    for path, method, operation in operations:
        assert operation.get("summary"), (path, method)
        if path != "/api/v1/auth/login":
            assert "401" in operation["responses"], (path, method)
    assert not any(path.endswith("/stats/") or "//" in path for path in schema["paths"])


def test_every_error_status_of_the_schema_has_the_detail_shape(anonymous_api):
    schema = anonymous_api.get(
        "/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    ).json()
    for item in schema["paths"].values():
        for operation in item.values():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    expected = "ValidationError" if code == "422" else "Error"
                    assert ref.endswith(f"/{expected}")


def test_swagger_ui_is_served_from_our_own_static_files(anonymous_api):
    response = anonymous_api.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    for cdn in ("cdn.", "jsdelivr", "unpkg", "https://", "http://"):
        assert cdn not in html
    for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{name}")
