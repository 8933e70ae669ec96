"""The To annotate and Done lists (SPEC §6.5): content, order, filters, paging, query counts."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sequences.models import ProcessingStage, SequenceAnnotation, SourceApi
from sequences.services import annotation_write
from tests.factories import (
    CameraFactory,
    DetectionFactory,
    OrganizationFactory,
    SequenceFactory,
    scrambled_ids,
)

pytestmark = pytest.mark.django_db

# URL names, reversed inside the tests (the URLconf is not loaded at collection time).
QUEUE = "sequences:list"
DONE = "sequences:done"


def listed_ids(response) -> list[int]:
    """Sequence ids in the order the list shows them."""
    return [int(i) for i in re.findall(r">Sequence #(\d+)</a>", response.content.decode())]


def set_stage(sequence, stage, *, smoke_type="wildfire"):
    """Give `sequence` an annotation at `stage` (a placeholder, or a human save when locked)."""
    locked = stage not in (ProcessingStage.IMPORTED, ProcessingStage.READY_TO_ANNOTATE)
    detection = sequence.detections.first() or DetectionFactory(sequence=sequence)
    return annotation_write(
        sequence=sequence,
        annotation={
            "sequences_bbox": [
                {
                    "is_smoke": True,
                    "smoke_type": smoke_type if locked else None,
                    "bboxes": [{"detection_id": detection.pk, "xyxyn": [0.1, 0.1, 0.4, 0.4]}],
                }
            ]
        },
        processing_stage=stage,
        has_missed_smoke=False,
        source="human" if locked else None,
    )


@pytest.mark.parametrize("url", [QUEUE, DONE])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(reverse(url))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_queue_lists_writable_sequences_ready_first(client_in):
    now = timezone.now()
    oldest_plain = SequenceFactory(recorded_at=now - timedelta(days=5))
    ready_late = SequenceFactory(recorded_at=now - timedelta(days=1))
    ready_early = SequenceFactory(recorded_at=now - timedelta(days=2))
    imported = SequenceFactory(recorded_at=now - timedelta(days=3))
    done = SequenceFactory(recorded_at=now - timedelta(days=4))
    set_stage(ready_late, ProcessingStage.READY_TO_ANNOTATE)
    set_stage(ready_early, ProcessingStage.READY_TO_ANNOTATE)
    set_stage(imported, ProcessingStage.IMPORTED)
    set_stage(done, ProcessingStage.SEQ_ANNOTATION_DONE)

    response = client_in.get(reverse(QUEUE))
    assert response.status_code == 200
    assert listed_ids(response) == [ready_early.pk, ready_late.pk, oldest_plain.pk, imported.pk]


def test_queue_links_keep_the_filters(client_in):
    sequence = SequenceFactory()
    content = client_in.get(reverse(QUEUE), {"source": "pyronear_french"}).content.decode()
    url = reverse("sequences:annotate", args=[sequence.pk])
    assert f'href="{url}?source=pyronear_french"' in content


def test_queue_filters(client_in):
    now = timezone.now()
    org_a, org_b = OrganizationFactory(), OrganizationFactory()
    cam_a = CameraFactory(organization=org_a)
    cam_b = CameraFactory(organization=org_b)
    cenia_cam = CameraFactory(source_api=SourceApi.API_CENIA, organization=org_b)
    a_old = SequenceFactory(camera=cam_a, recorded_at=now - timedelta(days=10))
    a_new = SequenceFactory(camera=cam_a, recorded_at=now - timedelta(days=1))
    b_ready = SequenceFactory(camera=cam_b, recorded_at=now - timedelta(days=2))
    cenia = SequenceFactory(
        camera=cenia_cam, source_api=SourceApi.API_CENIA, recorded_at=now - timedelta(days=3)
    )
    set_stage(b_ready, ProcessingStage.READY_TO_ANNOTATE)

    def ids(**params):
        return set(listed_ids(client_in.get(reverse(QUEUE), params)))

    assert ids(camera=cam_a.pk) == {a_old.pk, a_new.pk}
    assert ids(organization=org_b.pk) == {b_ready.pk, cenia.pk}
    assert ids(source="api_cenia") == {cenia.pk}
    assert ids(stage="ready_to_annotate") == {b_ready.pk}
    assert ids(stage="no_annotation") == {a_old.pk, a_new.pk, cenia.pk}
    day = (now - timedelta(days=3)).date().isoformat()
    assert ids(date_from=day) == {a_new.pk, b_ready.pk, cenia.pk}
    assert ids(date_to=day) == {a_old.pk, cenia.pk}
    assert ids(date_from=day, date_to=day) == {cenia.pk}


@pytest.mark.parametrize("url", [QUEUE, DONE])
def test_the_filters_offer_every_camera_and_keep_the_chosen_ones(client_in, url):
    north = OrganizationFactory(name="North")
    chosen = CameraFactory(name="Brison", organization=north)
    other = CameraFactory(name="Aiguille", organization=OrganizationFactory(name="South"))
    response = client_in.get(reverse(url), {"camera": chosen.pk, "source": "api_cenia"})
    html = response.content.decode()
    cameras = re.search(r'<select name="camera" id="id_camera">(.*?)</select>', html, re.S)[1]
    assert re.findall(r'<option value="(\d*)"( selected)?>([^<]*)</option>', cameras) == [
        ("", "", "All cameras"),
        (str(other.pk), "", "Aiguille (South)"),
        (str(chosen.pk), " selected", "Brison (North)"),
    ]
    assert '<option value="api_cenia" selected>' in html

    def filter_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            client_in.get(reverse(url))
        return len(queries)

    few = filter_queries()
    CameraFactory.create_batch(30)
    assert filter_queries() == few


def test_an_invalid_filter_is_reported_and_ignored(client_in):
    sequence = SequenceFactory()
    response = client_in.get(reverse(QUEUE), {"camera": "999999", "date_from": "yesterday"})
    assert response.status_code == 200
    assert listed_ids(response) == [sequence.pk]
    assert "Enter a valid date." in response.content.decode()


def test_empty_queue_says_so(client_in):
    assert "Nothing to annotate" in client_in.get(reverse(QUEUE)).content.decode()
    SequenceFactory(source_api=SourceApi.PYRONEAR_FRENCH)
    response = client_in.get(reverse(QUEUE), {"source": "api_cenia"})
    assert "No sequence to annotate matches this filter." in response.content.decode()


@pytest.mark.parametrize("url", [QUEUE, DONE])
def test_paging_with_ties_shows_every_sequence_once(client_in, url):
    """Regression #134 of the reference: equal sort keys must not repeat or skip rows."""
    same_time = timezone.now() - timedelta(days=1)
    camera = CameraFactory()
    sequences = [
        SequenceFactory(id=sequence_id, camera=camera, recorded_at=same_time)
        for sequence_id in scrambled_ids(120)
    ]
    if url == DONE:
        for sequence in sequences:
            set_stage(sequence, ProcessingStage.SEQ_ANNOTATION_DONE)
        SequenceAnnotation.objects.update(updated_at=same_time)
    seen = []
    for page in (1, 2, 3):
        response = client_in.get(reverse(url), {"page": page})
        seen += listed_ids(response)
    assert sorted(seen) == sorted(s.pk for s in sequences)
    assert len(seen) == 120
    assert seen == sorted(seen, reverse=url == DONE)  # the queue ascends, the done list descends
    assert "Page 3 of 3" in response.content.decode()


def test_done_lists_locked_sequences_last_annotated_first(client_in):
    now = timezone.now()
    first, second, third, writable = SequenceFactory.create_batch(4)
    for sequence, stage in (
        (first, ProcessingStage.SEQ_ANNOTATION_DONE),
        (second, ProcessingStage.ANNOTATED),
        (third, ProcessingStage.NEEDS_MANUAL),
    ):
        set_stage(sequence, stage)
    set_stage(writable, ProcessingStage.READY_TO_ANNOTATE)
    SequenceAnnotation.objects.filter(sequence=first).update(updated_at=now)
    # Equal update times: the higher id first.
    SequenceAnnotation.objects.filter(sequence__in=[second, third]).update(
        updated_at=now - timedelta(hours=1)
    )
    response = client_in.get(reverse(DONE))
    assert listed_ids(response) == [first.pk, third.pk, second.pk]
    assert "smoke/wildfire" in response.content.decode()


def test_done_filters_by_stage(client_in):
    done, annotated = SequenceFactory.create_batch(2)
    set_stage(done, ProcessingStage.SEQ_ANNOTATION_DONE)
    set_stage(annotated, ProcessingStage.ANNOTATED)
    assert listed_ids(client_in.get(reverse(DONE), {"stage": "annotated"})) == [annotated.pk]


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(reverse(url)).status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize("url", [QUEUE, DONE])
def test_query_count_does_not_grow_with_rows(client_in, url):
    camera = CameraFactory()

    def add(count):
        for sequence in SequenceFactory.create_batch(count, camera=camera):
            DetectionFactory(sequence=sequence)
            if url == DONE:
                set_stage(sequence, ProcessingStage.SEQ_ANNOTATION_DONE)

    add(5)
    few = _queries(client_in, url)
    add(55)
    assert _queries(client_in, url) == few


def test_a_sequence_whose_annotation_goes_back_or_is_deleted_returns_to_the_queue(client_in):
    now = timezone.now()
    first, second = (SequenceFactory(recorded_at=now - timedelta(days=d)) for d in (2, 1))
    set_stage(first, ProcessingStage.SEQ_ANNOTATION_DONE)
    set_stage(second, ProcessingStage.ANNOTATED)
    assert listed_ids(client_in.get(reverse(QUEUE))) == []
    SequenceAnnotation.objects.filter(sequence=first).update(
        processing_stage=ProcessingStage.READY_TO_ANNOTATE
    )
    SequenceAnnotation.objects.get(sequence=second).delete()  # behind the services' back
    assert listed_ids(client_in.get(reverse(QUEUE))) == [first.pk, second.pk]


@pytest.mark.parametrize("url", [QUEUE, DONE])
def test_a_long_list_is_counted_by_the_estimate_beyond_a_thousand(
    client_in, url, monkeypatch, postgres_only
):
    from sequences import paging

    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 3)
    for sequence in SequenceFactory.create_batch(5):
        if url == DONE:
            set_stage(sequence, ProcessingStage.ANNOTATED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    response = client_in.get(reverse(url))
    assert "About " in response.content.decode()
    assert len(listed_ids(response)) == 5
