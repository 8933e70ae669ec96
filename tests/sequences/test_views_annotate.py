"""The annotation page (SPEC §6.4): what it shows, what a save writes, where it goes next."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils.html import escape
from django.utils.text import capfirst

from groups.services import CONFLICT_WARNING
from sequences.forms import BOTH_LABELS, CLUSTERS_CHANGED, MISSED_SMOKE_REQUIRED
from sequences.models import LabelSource, ProcessingStage, SequenceAnnotation
from sequences.payloads import CLUSTER_INCOMPLETE
from sequences.services import annotation_write
from tests.factories import DetectionFactory, SequenceFactory, predictions
from tests.support import annotation_of, text_of

pytestmark = pytest.mark.django_db


class _Inputs(HTMLParser):
    """Collects the form inputs of a page: (name, value, checked)."""

    def __init__(self):
        super().__init__()
        self.inputs = []

    def handle_starttag(self, tag, attrs):
        if tag == "input":
            attrs = dict(attrs)
            self.inputs.append((attrs.get("name"), attrs.get("value"), "checked" in attrs))


def checked(response) -> dict[str, list[str]]:
    """{input name: [checked values]} of the page."""
    parser = _Inputs()
    parser.feed(response.content.decode())
    result: dict[str, list[str]] = {}
    for name, value, is_checked in parser.inputs:
        if is_checked and value:
            result.setdefault(name, []).append(value)
    return result


def card_html(response, number: int) -> str:
    """The HTML of cluster card `number` (1-based)."""
    html = response.content.decode()
    start = html.index(f'id="cluster-{number}"')
    return html[start : html.index("</fieldset>", start)]


def placeholder(sequence):
    return annotation_write(
        sequence=sequence, processing_stage=ProcessingStage.READY_TO_ANNOTATE, source=None
    )


def annotate_url(sequence, query: str = "") -> str:
    url = reverse("sequences:annotate", args=[sequence.pk])
    return f"{url}?{query}" if query else url


def post_data(**fields) -> dict:
    """A form post; `cluster_count` defaults to the fields' cluster count."""
    clusters = {key.split("-")[1] for key in fields if key.startswith("cluster-")}
    return {"cluster_count": len(clusters), **fields}


# --- GET ----------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(annotate_url(world.seq1))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_unknown_sequence_is_404(client_in, world):
    assert client_in.get(reverse("sequences:annotate", args=[99999])).status_code == 404


def test_ready_to_annotate_starts_blank(client_in, world):
    placeholder(world.seq2)
    response = client_in.get(annotate_url(world.seq2))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Cluster 1" in content and "Cluster 2" in content and "Cluster 3" not in content
    state = checked(response)
    assert not any(name.startswith("cluster-") for name in state)
    assert "missed_smoke" not in state and "unsure" not in state
    # Each cluster's boxes are drawn in its colour on its frame; the frame image is the thumb.
    assert content.count('class="cluster-box"') == 2
    thumb = reverse("sequences:detection_image", args=[world.det3.pk]) + "?variant=thumb"
    assert thumb in content


def test_header_shows_the_sequence(client_in, world):
    response = client_in.get(annotate_url(world.seq1))
    content = response.content.decode()
    assert "habile" in content and "org-1" in content
    assert "Not grouped" in content
    recorded = world.seq1.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f'<time datetime="{recorded}">' in content


def test_without_a_row_clusters_are_generated_in_memory_and_nothing_written(client_in, world):
    response = client_in.get(annotate_url(world.seq2))
    assert response.status_code == 200
    assert 'id="cluster-2"' in response.content.decode()
    assert not SequenceAnnotation.objects.exists()


def test_saved_labels_show_at_other_stages(client_in, world, human_save):
    human_save(world.seq1, detection=world.det1, smoke_type="industrial")
    state = checked(client_in.get(annotate_url(world.seq1)))
    assert state["cluster-0-smoke_type"] == ["industrial"]
    assert state["missed_smoke"] == ["no"]


def test_others_bboxes_are_drawn_read_only(client_in, world):
    world.det1.others_bboxes = predictions(([0.6, 0.6, 0.7, 0.7], 0.4), ([2, 0, 1, 1], 0.4))
    world.det1.save()
    content = client_in.get(annotate_url(world.seq1)).content.decode()
    # The invalid box is not drawn.
    assert content.count('class="other-box"') == 1


@pytest.mark.parametrize(
    ("validated", "smoke_type", "expected"),
    [(True, "wildfire", "validated · smoke/wildfire"), (False, None, "not validated · unlabeled")],
)
def test_group_line_links_to_the_group(
    client_in, world, seed_group, validated, smoke_type, expected
):
    group = seed_group(validated=validated, smoke_type=smoke_type)
    content = client_in.get(annotate_url(world.seq1)).content.decode()
    link = reverse("groups:detail", args=[group.pk])
    assert f'<a href="{link}">Member of group #{group.pk} ({expected})</a>' in content


def test_removed_sequence_offers_reinclude(client_in, world):
    type(world.seq1).objects.filter(pk=world.seq1.pk).update(is_group_excluded=True)
    content = client_in.get(annotate_url(world.seq1)).content.decode()
    assert "Removed from grouping" in content
    assert f'action="{reverse("sequence_reinclude", args=[world.seq1.pk])}"' in content


# --- POST ---------------------------------------------------------------------------------------


def test_valid_save_is_a_checked_human_save_and_moves_on(client_in, world, annotator):
    placeholder(world.seq1)
    placeholder(world.seq2)
    response = client_in.post(
        annotate_url(world.seq1),
        post_data(**{"cluster-0-smoke_type": "wildfire", "missed_smoke": "no"}),
    )
    assert response.status_code == 302
    assert response.url == annotate_url(world.seq2)
    row = annotation_of(world.seq1)
    assert row.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE
    assert row.label_source == LabelSource.HUMAN
    assert row.smoke_types == ["wildfire"] and row.has_missed_smoke is False
    assert row.checked_by == annotator and row.checked_at is not None
    # The clusters keep the boxes the page showed (both detections of sequence 1).
    assert {b["detection_id"] for b in row.annotation["sequences_bbox"][0]["bboxes"]} == {
        world.det1.pk,
        world.det2.pk,
    }
    follow = client_in.get(response.url)
    assert f"Sequence #{world.seq1.pk} saved" in follow.content.decode()


def test_false_positive_types_and_missed_smoke_are_saved(client_in, world):
    response = client_in.post(
        annotate_url(world.seq2),
        post_data(
            **{
                "cluster-0-fp": ["antenna", "building"],
                "cluster-1-smoke_type": "other",
                "missed_smoke": "yes",
            }
        ),
    )
    assert response.status_code == 302
    row = annotation_of(world.seq2)
    assert row.false_positive_types == ["antenna", "building"]
    assert row.smoke_types == ["other"] and row.has_missed_smoke is True


def test_incomplete_form_names_the_card_and_saves_nothing(client_in, world):
    placeholder(world.seq2)
    response = client_in.post(
        annotate_url(world.seq2),
        post_data(**{"cluster-0-smoke_type": "wildfire", "missed_smoke": "no"})
        | {"cluster_count": 2},
    )
    assert response.status_code == 200
    assert capfirst(CLUSTER_INCOMPLETE) in card_html(response, 2)
    assert capfirst(CLUSTER_INCOMPLETE) not in card_html(response, 1)
    # What the annotator chose is kept on the re-rendered form.
    assert checked(response)["cluster-0-smoke_type"] == ["wildfire"]
    assert annotation_of(world.seq2).processing_stage == ProcessingStage.READY_TO_ANNOTATE


def test_smoke_and_false_positive_on_one_cluster_is_refused(client_in, world):
    response = client_in.post(
        annotate_url(world.seq1),
        post_data(**{"cluster-0-smoke_type": "wildfire", "cluster-0-fp": "antenna"})
        | {"missed_smoke": "no"},
    )
    assert response.status_code == 200
    assert BOTH_LABELS in card_html(response, 1)
    assert annotation_of(world.seq1) is None


def test_missed_smoke_must_be_answered(client_in, world):
    response = client_in.post(
        annotate_url(world.seq1), post_data(**{"cluster-0-smoke_type": "wildfire"})
    )
    assert response.status_code == 200
    assert escape(MISSED_SMOKE_REQUIRED) in response.content.decode()
    assert annotation_of(world.seq1) is None


def test_unsure_bypasses_both_checks(client_in, world):
    response = client_in.post(annotate_url(world.seq2), {"cluster_count": 2, "unsure": "on"})
    assert response.status_code == 302
    row = annotation_of(world.seq2)
    assert row.is_unsure is True and row.has_missed_smoke is False
    assert row.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE
    # Blank clusters stay "smoke, type unknown".
    assert [c["smoke_type"] for c in row.annotation["sequences_bbox"]] == [None, None]


def test_changed_clusters_are_refused(client_in, world):
    response = client_in.post(
        annotate_url(world.seq2),
        {"cluster_count": 1, "cluster-0-smoke_type": "wildfire", "missed_smoke": "no"},
        follow=True,
    )
    assert response.redirect_chain == [(annotate_url(world.seq2), 302)]
    assert escape(CLUSTERS_CHANGED) in response.content.decode()
    assert annotation_of(world.seq2) is None


def test_annotated_stays_annotated(client_in, world, human_save):
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire", stage="annotated")
    response = client_in.post(
        annotate_url(world.seq1),
        post_data(**{"cluster-0-fp": "low_cloud", "missed_smoke": "no"}),
    )
    assert response.status_code == 302
    row = annotation_of(world.seq1)
    assert row.processing_stage == ProcessingStage.ANNOTATED
    assert row.false_positive_types == ["low_cloud"]


def test_other_methods_are_refused(client_in, world):
    assert client_in.put(annotate_url(world.seq1)).status_code == 405
    assert annotation_of(world.seq1) is None


# --- where a save goes next ---------------------------------------------------------------------


def wildfire(**extra) -> dict:
    return post_data(**{"cluster-0-smoke_type": "wildfire", "missed_smoke": "no"}) | extra


def test_from_a_group_next_is_the_next_writable_member_then_the_group(
    client_in, world, seed_group, human_save
):
    group = seed_group()
    later = SequenceFactory(camera=world.cam1, recorded_at=world.seq2.recorded_at + timedelta(1))
    DetectionFactory(sequence=later)
    type(later).objects.filter(pk=later.pk).update(group=group)
    # The member between them is already annotated: it is skipped.
    human_save(world.seq2, detection=world.det3, smoke_type="wildfire")
    query = f"group={group.pk}"

    response = client_in.post(annotate_url(world.seq1, query), wildfire())
    assert response.url == annotate_url(later, query)

    response = client_in.post(annotate_url(later, query), wildfire())
    assert response.url == reverse("groups:detail", args=[group.pk])


def test_next_keeps_the_list_filters(client_in, world):
    other_camera = SequenceFactory(
        camera=world.cam2, recorded_at=world.seq1.recorded_at + timedelta(minutes=1)
    )
    same_camera = SequenceFactory(
        camera=world.cam1, recorded_at=world.seq1.recorded_at + timedelta(minutes=2)
    )
    assert other_camera.pk and same_camera.pk
    query = f"camera={world.cam1.pk}"
    response = client_in.post(annotate_url(world.seq1, query), wildfire())
    assert response.url == annotate_url(same_camera, query)


def test_ready_sequences_come_next_before_unannotated_ones(client_in, world):
    earlier_unannotated = SequenceFactory(
        camera=world.cam1, recorded_at=world.seq1.recorded_at - timedelta(days=3)
    )
    placeholder(world.seq1)
    placeholder(world.seq2)
    response = client_in.post(annotate_url(world.seq1), wildfire())
    assert response.url == annotate_url(world.seq2)
    response = client_in.post(
        annotate_url(world.seq2),
        post_data(**{"cluster-0-fp": "sky", "cluster-1-fp": "sky", "missed_smoke": "no"}),
    )
    assert response.url == annotate_url(earlier_unannotated)


def test_last_of_the_list_goes_back_to_the_list(client_in, world, human_save):
    human_save(world.seq2, detection=world.det3, smoke_type="wildfire")
    response = client_in.post(annotate_url(world.seq1, "source=pyronear_french"), wildfire())
    assert response.url == reverse("sequences:list") + "?source=pyronear_french"


# --- group propagation's outcome ----------------------------------------------------------------


def test_propagation_is_reported_on_the_next_page(client_in, world, seed_group):
    group = seed_group(validated=True)
    response = client_in.post(annotate_url(world.seq1), wildfire(), follow=True)
    # Sequence 2 was labeled by the fan-out, so nothing is left to annotate: back to the list.
    assert response.redirect_chain == [(reverse("sequences:list"), 302)]
    content = response.content.decode()
    assert f"Sequence #{world.seq1.pk} saved" in content
    assert f"group #{group.pk} labeled smoke/wildfire, 1 other member updated" in content
    assert annotation_of(world.seq2).label_source == LabelSource.PROPAGATED


def test_held_back_members_are_counted_and_the_next_page_says_why(client_in, world, seed_group):
    group = seed_group(validated=True)
    type(world.seq2).objects.filter(pk=world.seq2.pk).update(is_wildfire_alertapi="other")

    response = client_in.post(annotate_url(world.seq1), wildfire(), follow=True)

    # Sequence 2 was held back: still writable, it is the next one to annotate.
    assert response.redirect_chain == [(annotate_url(world.seq2), 302)]
    text = text_of(response.content.decode())
    assert f"group #{group.pk} labeled smoke/wildfire, 0 other members updated, 1 held back" in text
    assert (
        f"Group #{group.pk} is labeled smoke/wildfire; its label was not applied here: "
        "the platform classed the alert as not smoke." in text
    )
    assert annotation_of(world.seq2) is None


def test_the_held_back_line_names_the_reason(client_in, world, seed_group):
    group = seed_group(false_positive_type="antenna")
    type(world.seq1).objects.filter(pk=world.seq1.pk).update(is_wildfire_alertapi="wildfire_smoke")

    held = text_of(client_in.get(annotate_url(world.seq1)).content.decode())
    other = client_in.get(annotate_url(world.seq2)).content.decode()

    assert (
        f"Group #{group.pk} is labeled FP/antenna; its label was not applied here: "
        "the platform classed the alert wildfire_smoke." in held
    )
    assert 'id="held-back-line"' not in other


def test_a_person_labeled_sequence_is_not_held_back(client_in, world, seed_group, human_save):
    seed_group(false_positive_type="antenna")
    type(world.seq1).objects.filter(pk=world.seq1.pk).update(motion=0.3)
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire")

    assert 'id="held-back-line"' not in client_in.get(annotate_url(world.seq1)).content.decode()


def test_conflicting_save_stays_with_the_banner(client_in, world, seed_group):
    group = seed_group(validated=True, smoke_type="industrial")
    response = client_in.post(annotate_url(world.seq1), wildfire(), follow=True)
    # POST/redirect/GET: back to the same page, so a refresh does not save again.
    assert response.redirect_chain == [(annotate_url(world.seq1), 302)]
    content = response.content.decode()
    assert "Group propagation skipped" in content
    warning = CONFLICT_WARNING.format(
        group_id=group.pk, group_label="smoke/industrial", label="smoke/wildfire"
    )
    assert escape(warning) in content
    assert f'href="{reverse("groups:detail", args=[group.pk])}">Open group</a>' in content
    assert f'href="{annotate_url(world.seq2)}">Next sequence</a>' in content
    assert f"Sequence #{world.seq1.pk} saved" in content
    # The member's own save stands and the page shows it; the group is unchanged.
    assert checked(response)["cluster-0-smoke_type"] == ["wildfire"]
    assert annotation_of(world.seq1).smoke_types == ["wildfire"]
    group.refresh_from_db()
    assert group.smoke_type == "industrial"
    # The banner does not survive a reload.
    assert (
        "Group propagation skipped" not in client_in.get(annotate_url(world.seq1)).content.decode()
    )


def test_a_stored_annotation_the_service_refuses_is_reported_not_saved(
    client_in, world, human_save
):
    row = human_save(world.seq1, detection=world.det1, smoke_type="wildfire").annotation
    # A row from before validation existed, pointing at another sequence's detection.
    stored = row.annotation
    stored["sequences_bbox"][0]["bboxes"][0]["detection_id"] = world.det3.pk
    SequenceAnnotation.objects.filter(pk=row.pk).update(annotation=stored)
    response = client_in.post(annotate_url(world.seq1), wildfire())
    assert response.status_code == 200
    assert f"do not belong to sequence {world.seq1.pk}" in response.content.decode()
    assert annotation_of(world.seq1).updated_at == row.updated_at
