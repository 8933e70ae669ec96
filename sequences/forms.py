"""Forms of the sequence pages: the list filters and the annotation form.

The annotation form is a plain POST of radio buttons and checkboxes (SPEC §6.4), so the page
works without JavaScript; the keyboard map below is rendered into the page, where the script
reads it, so the keys are defined once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms

from sequences.choice_fields import (
    CameraChoiceField,
    OrganizationChoiceField,
    SelectChoiceField,
)
from sequences.models import (
    LOCKED_STAGES,
    WRITABLE_STAGES,
    FalsePositiveType,
    LabelSource,
    ProcessingStage,
    SmokeType,
    SourceApi,
)
from sequences.payloads import cluster_completeness_errors
from sequences.selectors import BY_GROUP, NO_ANNOTATION, AnnotationPage, SequenceFilters

# SPEC §6.4 keyboard map.
SMOKE_KEYS = {"wildfire": "1", "industrial": "2", "other": "3"}
FALSE_POSITIVE_KEYS = {
    "antenna": "A",
    "building": "B",
    "cliff": "C",
    "dark": "D",
    "dust": "U",
    "high_cloud": "H",
    "low_cloud": "L",
    "lens_flare": "G",
    "lens_droplet": "P",
    "light": "I",
    "rain": "R",
    "trail": "T",
    "road": "O",
    "sky": "K",
    "tree": "E",
    "water_body": "W",
    "other": "X",
}
MISSED_SMOKE_KEYS = {"yes": "Y", "no": "N"}
UNSURE_KEY = "Q"
# "Save and validate the group", offered when the page was opened from an unvalidated group.
VALIDATE_GROUP_KEY = "V"

# Distinct on a sky photo and on each other; cluster i takes colour i modulo the list.
CLUSTER_COLOURS = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
)

MISSED_SMOKE_REQUIRED = "Answer whether the model missed smoke (or mark the sequence unsure)."
BOTH_LABELS = "Choose a smoke type or false-positive types, not both."
CLUSTERS_CHANGED = (
    "This sequence's clusters changed since the page was opened; its current state is shown "
    "below. Label it again, then save."
)


# --- list filters -----------------------------------------------------------------------------


class KeptInLinksForm(forms.Form):
    """A form of list filters whose valid values the list's links (its pager) keep."""

    def querystring(self) -> str:
        """The valid, non-empty filters as a query string, for links that keep them."""
        self.is_valid()
        pairs = [
            (name, self.data[name])
            for name in self.fields
            if self.cleaned_data.get(name) not in (None, "") and name in self.data
        ]
        return urlencode(pairs)


class SequenceFilterForm(KeptInLinksForm):
    """GET filters of the To-annotate list; invalid values are reported and ignored."""

    STAGE_CHOICES = [
        ("", "Any stage"),
        (ProcessingStage.READY_TO_ANNOTATE, ProcessingStage.READY_TO_ANNOTATE.label),
        (ProcessingStage.IMPORTED, ProcessingStage.IMPORTED.label),
        (NO_ANNOTATION, "No annotation"),
    ]

    camera = CameraChoiceField(required=False, empty_label="All cameras")
    organization = OrganizationChoiceField(
        required=False, empty_label="All organisations", label="Organisation"
    )
    source = SelectChoiceField(choices=[("", "All sources"), *SourceApi.choices], required=False)
    stage = SelectChoiceField(required=False)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = self.STAGE_CHOICES

    def filters(self) -> SequenceFilters:
        self.is_valid()  # cleaned_data then holds the valid fields only
        data = self.cleaned_data
        camera, organization = data.get("camera"), data.get("organization")
        return SequenceFilters(
            camera_id=camera.pk if camera else None,
            organization_id=organization.pk if organization else None,
            source_api=data.get("source") or None,
            stage=data.get("stage") or None,
            recorded_from=data.get("date_from"),
            recorded_to=data.get("date_to"),
            label_source=data.get("label_source") or None,
        )


class DoneFilterForm(SequenceFilterForm):
    STAGE_CHOICES = [
        ("", "Any stage"),
        *((stage.value, stage.label) for stage in ProcessingStage if stage in LOCKED_STAGES),
    ]

    label_source = SelectChoiceField(
        choices=[
            ("", "Anyone"),
            (LabelSource.HUMAN, "A person"),
            (LabelSource.PROPAGATED, "Propagation"),
            (LabelSource.INHERITED, "Inheritance"),
            (LabelSource.BULK, "Bulk"),
            (BY_GROUP, "A group (propagation or inheritance)"),
        ],
        required=False,
        label="Labeled by",
    )


# --- the annotation form ----------------------------------------------------------------------


def smoke_field(index: int) -> str:
    return f"cluster-{index}-smoke_type"


def false_positive_field(index: int) -> str:
    return f"cluster-{index}-fp"


class AnnotationForm(forms.Form):
    """The annotator's decision on one sequence (SPEC §6.4).

    One smoke-type radio group and one FP checkbox group per cluster of `clusters` (the boxes
    come from the server, never from the post); `cluster_count` detects a sequence whose
    clusters changed between display and save. Valid means: every cluster is smoke with one
    type or FP with at least one type, and the missed-smoke question is answered — unless the
    annotator is unsure, which waives both. `clean()` builds the SPEC §3.3 payload of the
    answers once, into `cleaned_data["annotation"]`, which the view saves.
    """

    missed_smoke = forms.ChoiceField(
        choices=[("yes", "Yes"), ("no", "No")],
        required=False,
        label="Did the model miss smoke?",
        widget=forms.RadioSelect,
    )
    unsure = forms.BooleanField(required=False, label="Unsure")
    cluster_count = forms.IntegerField(min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, clusters: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clusters = clusters
        self.fields["cluster_count"].initial = len(clusters)
        for index in range(len(clusters)):
            self.fields[smoke_field(index)] = forms.ChoiceField(
                choices=SmokeType.choices, required=False, widget=forms.RadioSelect
            )
            self.fields[false_positive_field(index)] = forms.MultipleChoiceField(
                choices=FalsePositiveType.choices,
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )

    @classmethod
    def for_page(cls, page: AnnotationPage, data: Any = None) -> AnnotationForm:
        """The form of `page`, bound to `data` when given; saved answers show unless the
        annotation is still writable (a placeholder holds no human decision)."""
        annotation = page.annotation
        decided = annotation is not None and annotation.processing_stage not in WRITABLE_STAGES
        initial: dict[str, Any] = {
            "missed_smoke": ("yes" if annotation.has_missed_smoke else "no") if decided else None,
            "unsure": bool(annotation and annotation.is_unsure),
        }
        for index, cluster in enumerate(page.clusters):
            if cluster.get("is_smoke"):
                initial[smoke_field(index)] = cluster.get("smoke_type")
            elif cluster.get("is_smoke") is False:
                initial[false_positive_field(index)] = cluster.get("false_positive_types") or []
        return cls(data, clusters=page.clusters, initial=initial)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "cluster_count" in cleaned and cleaned["cluster_count"] != len(self.clusters):
            raise forms.ValidationError(CLUSTERS_CHANGED, code="stale")
        unsure = cleaned.get("unsure", False)
        for index in range(len(self.clusters)):
            if cleaned.get(smoke_field(index)) and cleaned.get(false_positive_field(index)):
                self.add_error(smoke_field(index), BOTH_LABELS)
        annotation = cleaned["annotation"] = self._payload(cleaned)
        if not unsure:
            for (_, index), message in cluster_completeness_errors(annotation):
                if smoke_field(index) not in self.errors:
                    self.add_error(smoke_field(index), message)
            if not cleaned.get("missed_smoke"):
                self.add_error("missed_smoke", MISSED_SMOKE_REQUIRED)
        return cleaned

    def _payload(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        """The SPEC §3.3 payload of the cleaned labels, built once by `clean()` into
        `cleaned_data["annotation"]`; a cluster left blank (only possible when unsure) stays
        untyped smoke, the auto-generated "smoke, type unknown"."""
        clusters = []
        for index, cluster in enumerate(self.clusters):
            smoke_type = cleaned.get(smoke_field(index)) or None
            false_positives = list(cleaned.get(false_positive_field(index)) or [])
            clusters.append(
                {
                    "is_smoke": not false_positives,
                    "smoke_type": None if false_positives else smoke_type,
                    "false_positive_types": false_positives,
                    "bboxes": cluster.get("bboxes") or [],
                }
            )
        return {"sequences_bbox": clusters}

    @property
    def has_missed_smoke(self) -> bool:
        return self.cleaned_data.get("missed_smoke") == "yes"

    @property
    def is_unsure(self) -> bool:
        return bool(self.cleaned_data.get("unsure"))

    # --- what the template draws ---

    def missed_smoke_choices(self) -> list[tuple[str, str, str, bool]]:
        """(value, label, key, checked) of the missed-smoke question."""
        chosen = self["missed_smoke"].value()
        return [
            (value, label, MISSED_SMOKE_KEYS[value], value == chosen)
            for value, label in self.fields["missed_smoke"].choices
        ]

    def cluster_cards(self, frame_numbers: dict[int, int]) -> list[dict[str, Any]]:
        """One card per cluster: its number, colour, box count, frame span (1-based, from
        `frame_numbers` = {detection_id: frame number}), choices with keys and state, error."""
        cards = []
        for index, cluster in enumerate(self.clusters):
            smoke_name, fp_name = smoke_field(index), false_positive_field(index)
            chosen_smoke = self[smoke_name].value()
            chosen_fps = set(self[fp_name].value() or [])
            frames = sorted(
                frame_numbers[bbox["detection_id"]]
                for bbox in cluster.get("bboxes") or []
                if bbox.get("detection_id") in frame_numbers
            )
            error = self.errors.get(smoke_name)
            cards.append(
                {
                    "index": index,
                    "number": index + 1,
                    "colour": cluster_colour(index),
                    "box_count": len(cluster.get("bboxes") or []),
                    "first_frame": frames[0] if frames else None,
                    "last_frame": frames[-1] if frames else None,
                    "smoke_name": smoke_name,
                    "smoke_chosen": bool(chosen_smoke),
                    "fp_name": fp_name,
                    "smoke_choices": [
                        (value, label, SMOKE_KEYS[value], value == chosen_smoke)
                        for value, label in SmokeType.choices
                    ],
                    "fp_choices": [
                        (value, label, FALSE_POSITIVE_KEYS[value], value in chosen_fps)
                        for value, label in FalsePositiveType.choices
                    ],
                    "error": error[0] if error else None,
                }
            )
        return cards


def cluster_colour(index: int) -> str:
    return CLUSTER_COLOURS[index % len(CLUSTER_COLOURS)]
