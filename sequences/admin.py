"""Django admin of the sequence domain (SPEC §6.5).

Admin edits are corrections without side effects: an annotation saved here has its derived
flags recomputed by `annotation_recompute` and never propagates to a group; one deleted here
goes through `annotation_delete` (audited, undoable). Group membership
(`Sequence.group`, `is_group_excluded`) is read-only here: it changes through the audited
group services (remove, re-include) and the assignment run. Detections are read-only: their
images and boxes come from the importers.
"""

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from sequences import payloads
from sequences.models import (
    Camera,
    Detection,
    Organization,
    Sequence,
    SequenceAnnotation,
)
from sequences.paging import EstimatedCountPaginator
from sequences.services import (
    DETECTIONS_NOT_IN_SEQUENCE,
    annotation_delete,
    annotation_recompute,
)

NONE = "—"


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist over a table of millions of rows: counted as `EstimatedCountPaginator`
    does, no count of the unfiltered table beside the filtered one, and no date drill-down
    (which reads every row's date)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Half the admin's default: a changelist over millions of rows is read by filter and
    # search, and its rows (a widget and a dozen columns each) are most of what a page costs.
    list_per_page = 50

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj: Any) -> str:
        """A row's selection box, the markup Django's draws through a widget template per row."""
        label = format_html(gettext("Select this object for an action - {}"), obj)
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            label,
        )


def capped_links(rows, *, total: int, more_url: str, noun: str) -> str:
    """Links to `rows` (admin change pages), one per line, then a link to all `total` of them
    when there are more: a related list that stays short whatever its size."""
    links = format_html_join("", "<li>{}</li>", ((admin_link(row),) for row in rows))
    more = (
        format_html('<li><a href="{}">all {} {}</a></li>', more_url, total, noun)
        if total > len(rows)
        else ""
    )
    return format_html('<ul style="margin: 0; padding-left: 1em">{}{}</ul>', links, more)


def json_block(value: Any) -> str:
    """A JSON value as an indented, escaped `<pre>` block for read-only admin fields."""
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False),
    )


def json_column(field: str, description: str):
    """A read-only admin column showing the JSON value of `field` as a `json_block`."""

    @admin.display(description=description)
    def column(model_admin, obj: Any) -> str:
        return json_block(getattr(obj, field))

    return column


def admin_link(obj: Any, text: str | None = None) -> str:
    """A link to `obj`'s admin change page (NONE without an object)."""
    if obj is None:
        return NONE
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def image_preview(detection: Detection, *, width: int = 160) -> str:
    """The detection's `preview` thumbnail, linked to the full image."""
    if not detection or not detection.pk:
        return NONE
    url = reverse("sequences:detection_image", args=[detection.pk])
    return format_html(
        '<a href="{}" target="_blank"><img src="{}?variant=preview" width="{}" alt="Detection {}"'
        ' loading="lazy"></a>',
        url,
        url,
        width,
        detection.pk,
    )


def sequence_stage(sequence: Sequence) -> str:
    """The processing stage of a sequence's annotation, "no annotation" without one."""
    annotation = getattr(sequence, "annotation", None)
    return annotation.processing_stage if annotation else "no annotation"


def prediction_count(value: Any) -> int:
    predictions = value.get("predictions") if isinstance(value, dict) else None
    return len(predictions) if isinstance(predictions, list) else 0


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "source_api", "platform_id", "camera_count", "updated_at")
    list_filter = ("source_api",)
    search_fields = ("name", "=platform_id")
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(camera_count=Count("cameras"))

    @admin.display(description="cameras", ordering="camera_count")
    def camera_count(self, obj: Organization) -> int:
        return obj.camera_count


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "organization", "source_api", "platform_id", "updated_at")
    list_filter = ("source_api", "organization")
    list_select_related = ("organization",)
    search_fields = ("name", "=platform_id", "organization__name")
    autocomplete_fields = ("organization",)
    readonly_fields = ("created_at", "updated_at")


class TimelineInline(admin.TabularInline):
    """A read-only table of a row's children in recorded order (a sequence's detections, a
    group's members), each linked to its own page; they are never added or deleted here."""

    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("recorded_at", "id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DetectionInline(TimelineInline):
    model = Detection
    fields = ("preview", "alert_api_id", "recorded_at", "boxes", "bucket_key")
    readonly_fields = fields

    @admin.display(description="image")
    def preview(self, obj: Detection) -> str:
        return image_preview(obj)

    @admin.display(description="predicted boxes")
    def boxes(self, obj: Detection) -> int:
        return prediction_count(obj.algo_predictions)


@admin.register(Sequence)
class SequenceAdmin(LargeTableAdmin):
    list_display = (
        "id",
        "alert_api_id",
        "source_api",
        "camera",
        "organization",
        "azimuth",
        "recorded_at",
        "stage",
        "group_link",
        "is_group_excluded",
    )
    list_filter = (
        "source_api",
        "is_wildfire_alertapi",
        "is_group_excluded",
        "annotation__processing_stage",
        "organization",
        "camera",
    )
    list_select_related = ("camera", "organization", "annotation", "group")
    search_fields = ("=id", "=alert_api_id", "camera__name", "organization__name")
    raw_id_fields = ("camera", "organization")
    readonly_fields = ("group", "is_group_excluded", "created_at", "annotation_link")
    inlines = (DetectionInline,)

    @admin.display(description="stage", ordering="annotation__processing_stage")
    def stage(self, obj: Sequence) -> str:
        return sequence_stage(obj)

    @admin.display(description="group", ordering="group_id")
    def group_link(self, obj: Sequence) -> str:
        return admin_link(obj.group)

    @admin.display(description="annotation")
    def annotation_link(self, obj: Sequence) -> str:
        return admin_link(getattr(obj, "annotation", None))


@admin.register(Detection)
class DetectionAdmin(LargeTableAdmin):
    list_display = ("id", "sequence", "alert_api_id", "recorded_at", "boxes", "preview")
    list_select_related = ("sequence",)
    list_filter = ("sequence__camera",)
    search_fields = ("=id", "=alert_api_id", "=sequence__id", "=sequence__alert_api_id")
    # Newest first along the primary key: the table has no index on recorded_at alone.
    ordering = ("-id",)
    fields = (
        "sequence",
        "alert_api_id",
        "recorded_at",
        "created_at",
        "bucket_key",
        "preview",
        "predictions",
        "others",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="image")
    def preview(self, obj: Detection) -> str:
        return image_preview(obj, width=320)

    @admin.display(description="predicted boxes")
    def boxes(self, obj: Detection) -> int:
        return prediction_count(obj.algo_predictions)

    predictions = json_column("algo_predictions", "algo predictions")
    others = json_column("others_bboxes", "others bboxes")


class SequenceAnnotationForm(forms.ModelForm):
    """Validates the annotation payload as every write does (SPEC §3.3), naming the field."""

    class Meta:
        model = SequenceAnnotation
        fields = ("sequence", "annotation", "processing_stage", "has_missed_smoke", "is_unsure")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "annotation" not in cleaned:
            return cleaned
        annotation, errors = payloads.clean_annotation(cleaned["annotation"])
        for loc, message in errors:
            path = ".".join(str(part) for part in loc) or "annotation"
            self.add_error("annotation", f"{path}: {message}")
        sequence = cleaned.get("sequence") or getattr(self.instance, "sequence", None)
        if annotation is not None and sequence is not None:
            owned = set(sequence.detections.values_list("id", flat=True))
            foreign = sorted(set(payloads.annotation_detection_ids(annotation)) - owned)
            if foreign:
                message = DETECTIONS_NOT_IN_SEQUENCE.format(ids=foreign, sequence_id=sequence.pk)
                self.add_error("annotation", message)
        if annotation is not None and not errors:
            cleaned["annotation"] = annotation
        return cleaned


@admin.register(SequenceAnnotation)
class SequenceAnnotationAdmin(LargeTableAdmin):
    form = SequenceAnnotationForm
    list_display = (
        "id",
        "sequence",
        "processing_stage",
        "has_smoke",
        "has_false_positives",
        "smoke_types",
        "false_positive_types",
        "is_unsure",
        "label_source",
        "checked",
        "updated_by",
        "updated_at",
    )
    list_filter = (
        "processing_stage",
        "label_source",
        "has_smoke",
        "has_false_positives",
        "has_missed_smoke",
        "is_unsure",
        ("checked_at", admin.EmptyFieldListFilter),
    )
    list_select_related = ("sequence", "updated_by")
    search_fields = ("=id", "=sequence__id", "=sequence__alert_api_id")
    raw_id_fields = ("sequence",)
    derived_fields = ("has_smoke", "has_false_positives", "smoke_types", "false_positive_types")
    provenance_fields = (
        "label_source",
        "label_source_group",
        "label_source_operation",
        "updated_by",
        "checked_at",
        "checked_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = derived_fields + provenance_fields
    fieldsets = (
        (None, {"fields": ("sequence", "processing_stage", "annotation")}),
        ("Answers", {"fields": ("has_missed_smoke", "is_unsure")}),
        ("Derived on every save", {"fields": derived_fields}),
        ("Provenance", {"fields": provenance_fields}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A row stays with its sequence; re-pointing it would orphan its detection boxes.
        return self.readonly_fields + (("sequence",) if obj else ())

    @admin.display(description="checked", boolean=True)
    def checked(self, obj: SequenceAnnotation) -> bool | None:
        return None if obj.label_source is None else obj.checked_at is not None

    def save_model(self, request: HttpRequest, obj: SequenceAnnotation, form, change) -> None:
        obj.updated_by = request.user
        annotation_recompute(annotation=obj)

    # Deletes go through the audited service (staff can undo them from the audit log).
    def delete_model(self, request: HttpRequest, obj: SequenceAnnotation) -> None:
        annotation_delete(annotation=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for row in queryset.order_by("sequence_id"):
                annotation_delete(annotation=row, actor=request.user)
