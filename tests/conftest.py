"""Shared fixtures: the data set of SPEC §9.1 and a few helpers."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from groups.models import SequenceGroup
from groups.services import label_check_confirm
from sequences.models import SequenceAnnotation
from sequences.payloads import Label
from sequences.services import annotation_write
from tests.factories import (
    CameraFactory,
    DetectionFactory,
    OrganizationFactory,
    SequenceFactory,
    UserFactory,
    export_alert,
    export_labeled,
    placeholder,
    predictions,
    smoke_annotation,
    stamp,
    validated_group,
)
from tests.support.fake_platform import build_world


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Login throttling counts in the cache: each test starts with none of another's logins."""
    cache.clear()


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def postgres_only():
    """Marks a test that needs row locks or constant-size bulk statements (SPEC §9).

    Such tests are deselected, not skipped, when the suite runs on SQLite (see the hook
    below), so a CI run reports no skipped test; the PostgreSQL run executes them.
    """


def pytest_collection_modifyitems(config, items):
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    postgres_tests = [item for item in items if "postgres_only" in item.fixturenames]
    if postgres_tests:
        config.hook.pytest_deselected(items=postgres_tests)
        items[:] = [item for item in items if "postgres_only" not in item.fixturenames]


@pytest.fixture
def staff_user(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


@pytest.fixture
def annotator(db):
    return UserFactory(username="alice")


@pytest.fixture
def world(db):
    """SPEC §9.1: two organisations, two cameras, sequences 1 and 2 with detections 1-3."""
    now = timezone.now()
    org1 = OrganizationFactory(platform_id=1, name="org-1")
    org2 = OrganizationFactory(platform_id=2, name="org-2")
    cam1 = CameraFactory(platform_id=1, name="habile", organization=org1)
    cam2 = CameraFactory(platform_id=2, name="cam-2", organization=org2)
    seq1 = SequenceFactory(
        alert_api_id=1, camera=cam1, recorded_at=now - timedelta(days=1), azimuth=None
    )
    seq2 = SequenceFactory(
        alert_api_id=2, camera=cam2, recorded_at=now - timedelta(hours=12), azimuth=None
    )
    det1 = DetectionFactory(
        sequence=seq1,
        alert_api_id=1,
        recorded_at=now - timedelta(days=4),
        algo_predictions=predictions(([0.12, 0.13, 0.45, 0.48], 0.87)),
    )
    det2 = DetectionFactory(
        sequence=seq1,
        alert_api_id=2,
        recorded_at=now - timedelta(days=3),
        algo_predictions=predictions(([0.2, 0.25, 0.5, 0.55], 0.91)),
    )
    det3 = DetectionFactory(
        sequence=seq2,
        alert_api_id=3,
        recorded_at=now - timedelta(days=2),
        algo_predictions=predictions(
            ([0.05, 0.05, 0.3, 0.35], 0.76), ([0.6, 0.65, 0.85, 0.9], 0.80)
        ),
    )

    class World:
        pass

    w = World()
    w.org1, w.org2, w.cam1, w.cam2 = org1, org2, cam1, cam2
    w.seq1, w.seq2, w.det1, w.det2, w.det3 = seq1, seq2, det1, det2, det3
    return w


@pytest.fixture
def seed_group(world):
    """SPEC §9.1 seed helper: a group on camera 1, azimuth 0 holding sequences 1 and 2."""

    def make(*, validated: bool = False, smoke_type=None, false_positive_type=None, user=None):
        now = timezone.now()
        labeled = smoke_type is not None or false_positive_type is not None
        group = SequenceGroup.objects.create(
            camera=world.cam1,
            azimuth=0,
            representative_bbox={"xyxyn": [0.1, 0.1, 0.4, 0.4], "confidence": 0.9},
            is_validated=validated,
            validated_at=now if validated else None,
            validated_by=user if validated else None,
            smoke_type=smoke_type,
            false_positive_type=false_positive_type,
            labeled_at=now if labeled else None,
            labeled_by=user if labeled else None,
        )
        type(world.seq1).objects.filter(pk__in=[world.seq1.pk, world.seq2.pk]).update(group=group)
        world.seq1.refresh_from_db()
        world.seq2.refresh_from_db()
        return group

    return make


@pytest.fixture
def human_save():
    """Save an annotation as a person would (the human write path)."""

    def save(sequence, *, detection, smoke_type, stage="seq_annotation_done", actor=None):
        return annotation_write(
            sequence=sequence,
            annotation=smoke_annotation(detection.pk, smoke_type),
            processing_stage=stage,
            has_missed_smoke=False,
            is_unsure=False,
            source="human",
            actor=actor,
        )

    return save


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Pages render `{% static %}` without a collectstatic manifest (DEBUG is off in tests)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def client_in(client, annotator):
    """Django's test client, logged in as an annotator (every page needs a login)."""
    client.force_login(annotator)
    return client


@pytest.fixture
def export_history(db, annotator):
    """A history whose training export is known.

    Cameras "cam-a" (platform 11, organisation 21 "org-a") and "cam-b" (12, organisation 22
    "org-b") on pyronear_french, "cam-c" (13, organisation 23 "org-c") on api_cenia. Alerts,
    by their alert id, each recorded `n` hours after 2026-07-01 12:00 UTC:
    1 a human smoke/wildfire label (cam-a; temporal score 0.87; 3 frames, the box on the first);
    2 an inherited FP/antenna label confirmed in the check queue (cam-a, member of `group`);
    3 a bulk FP/antenna label nobody checked (cam-b);
    4 a human smoke/industrial label marked unsure (cam-b);
    5 a human FP/building label (cam-b), for the tests to withdraw;
    6 an import placeholder (cam-b);
    7 a human smoke/other label (cam-c, api_cenia);
    8 a human FP/low_cloud label of a sequence where smoke was missed (cam-a).
    Every annotation is dated `before`; `watermark` lies between it and now.
    """

    def camera(platform_id, name, source_api="pyronear_french"):
        organization = OrganizationFactory(
            source_api=source_api, platform_id=platform_id + 10, name=f"org-{name[-1]}"
        )
        return CameraFactory(
            source_api=source_api, platform_id=platform_id, name=name, organization=organization
        )

    cam_a, cam_b, cam_c = camera(11, "cam-a"), camera(12, "cam-b"), camera(13, "cam-c", "api_cenia")
    start = datetime(2026, 7, 1, 12, tzinfo=UTC)

    def at(n):
        return {"recorded_at": start + timedelta(hours=n), "azimuth": 90 + n}

    alerts = {
        1: export_labeled(
            cam_a,
            1,
            smoke_type="wildfire",
            frames=3,
            temporal_model_score=0.87,
            temporal_model_version="0.2.0",
            temporal_api_version="0.3.1",
            **at(1),
        ),
        2: export_alert(cam_a, 2, **at(2)),
        3: export_alert(cam_b, 3, **at(3)),
        4: export_labeled(cam_b, 4, smoke_type="industrial", unsure=True, **at(4)),
        5: export_labeled(cam_b, 5, fp="building", **at(5)),
        6: export_alert(cam_b, 6, **at(6)),
        7: export_labeled(cam_c, 7, smoke_type="other", **at(7)),
        8: export_labeled(cam_a, 8, fp="low_cloud", has_missed_smoke=True, **at(8)),
    }
    group = validated_group(camera=cam_a)
    type(alerts[2]).objects.filter(pk=alerts[2].pk).update(group=group)
    stamp(group, [alerts[2].pk], label=Label.fp("antenna"))
    stamp(group, [alerts[3].pk], kind="bulk", label=Label.fp("antenna"))
    inherited = SequenceAnnotation.objects.get(sequence=alerts[2])
    label_check_confirm(annotation_ids=[inherited.pk], actor=annotator)
    placeholder(alerts[6])
    for sequence in alerts.values():
        sequence.refresh_from_db()
    now = timezone.now()
    before = now - timedelta(hours=2)
    SequenceAnnotation.objects.update(updated_at=before)

    class History:
        pass

    history = History()
    history.cam_a, history.cam_b, history.cam_c = cam_a, cam_b, cam_c
    history.alerts, history.group, history.annotator = alerts, group, annotator
    history.before, history.watermark = before, now - timedelta(hours=1)
    return history


@pytest.fixture
def dataset_dir(tmp_path):
    """The folder a test exports a dataset into (beside MEDIA_ROOT, never inside it)."""
    return tmp_path / "dataset"


@pytest.fixture
def platform(settings):
    """A fake Pyronear platform on loopback (tests.support.fake_platform.build_world), and the
    site's PLATFORM_* settings pointing at it."""
    fake = build_world()
    with fake.running():
        settings.PLATFORM_API_URL = fake.url
        settings.PLATFORM_LOGIN = "annotator"
        settings.PLATFORM_PASSWORD = "annotator-pw"
        settings.PLATFORM_ADMIN_LOGIN = "admin"
        settings.PLATFORM_ADMIN_PASSWORD = "admin-pw"
        settings.PLATFORM_RETRY_BACKOFF = 0.01  # 10, 20, 40 ms instead of 1, 2, 4 s
        settings.PLATFORM_READ_TIMEOUT = 5.0
        settings.PLATFORM_IMAGE_READ_TIMEOUT = 5.0
        yield fake
