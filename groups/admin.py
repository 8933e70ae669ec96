"""Django admin of the groups app (SPEC §6.5).

A group's label and validation fields are read-only: the actions "Validate" / "Unvalidate"
call the audited services, so every change lands in the audit log. Operations and assignment
runs are a log: read-only, with the action "Undo" on operations.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from groups import services
from groups.assignment import COUNTER_NAMES
from groups.models import AssignmentRun, GroupOperation, GroupOperationMember, SequenceGroup
from groups.presenters import TAB_LABELS
from groups.selectors import LABEL_STATES, operation_member_count
from sequences.admin import (
    NONE,
    LargeTableAdmin,
    admin_link,
    capped_links,
    json_column,
)
from sequences.models import Sequence
from sequences.payloads import Label


class ReadOnlyAdminMixin:
    """A log: visible to staff, never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# A group page and an operation page list this many of their sequences, then link to all.
RELATED_SHOWN = 20


def _changelist_url(model, **filters) -> str:
    meta = model._meta
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist") + f"?{query}"


def _report_outcomes(modeladmin, request, outcomes: list[str], warnings: list[str]) -> None:
    if outcomes:
        modeladmin.message_user(request, "; ".join(outcomes), messages.SUCCESS)
    for warning in warnings:
        modeladmin.message_user(request, warning, messages.WARNING)


MERGE_NEEDS_TWO = "Select at least two groups to merge (the lowest id keeps them all)."


class LabelStateFilter(admin.SimpleListFilter):
    """The group list's tabs: to label, unsure without a label, labeled (the label wins over
    unsure)."""

    title = "label state"
    parameter_name = "label_state"

    def lookups(self, request, model_admin):
        return [(key, text) for key, text in TAB_LABELS if key in LABEL_STATES]

    def queryset(self, request, queryset):
        state = LABEL_STATES.get(self.value())
        return queryset if state is None else queryset.filter(state)


@admin.register(SequenceGroup)
class SequenceGroupAdmin(LargeTableAdmin):
    list_display = (
        "id",
        "camera",
        "azimuth",
        "label",
        "is_unsure",
        "is_validated",
        "validated_by",
        "member_count",
        "created_at",
    )
    list_filter = (
        LabelStateFilter,
        "is_validated",
        "smoke_type",
        "false_positive_type",
        "camera__organization",
        "camera",
    )
    list_select_related = ("camera", "validated_by")
    search_fields = ("=id", "camera__name", "camera__organization__name")
    fields = (
        "camera",
        "azimuth",
        "representative",
        "smoke_type",
        "false_positive_type",
        "is_unsure",
        "labeled_at",
        "labeled_by",
        "is_validated",
        "validated_at",
        "validated_by",
        "created_by_run",
        "created_at",
        "updated_at",
        "member_count",
        "merged_into",
        "members",
    )
    readonly_fields = fields
    actions = ("validate", "unvalidate", "merge")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # groups are built by the assignment run

    @admin.display(description="label")
    def label(self, obj: SequenceGroup) -> str:
        label = Label.from_columns(obj.smoke_type, obj.false_positive_type)
        return str(label) if label else "unlabeled"

    representative = json_column("representative_bbox", "representative bbox")

    @admin.display(description="members (first by recorded time)")
    def members(self, obj: SequenceGroup) -> str:
        rows = list(obj.members.order_by("recorded_at", "id")[:RELATED_SHOWN])
        url = _changelist_url(Sequence, group__id__exact=obj.pk)
        return capped_links(rows, total=obj.member_count, more_url=url, noun="members")

    def save_model(self, request: HttpRequest, obj: SequenceGroup, form, change) -> None:
        """Nothing here is edited by hand (labels and validation go through the actions)."""

    @admin.action(description="Validate selected groups")
    def validate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._toggle(request, queryset, services.group_validate, "validated")

    @admin.action(description="Unvalidate selected groups")
    def unvalidate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._toggle(request, queryset, services.group_unvalidate, "unvalidated")

    @admin.action(description="Merge selected groups into the one with the lowest id")
    def merge(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Each other selected group is merged into the lowest id (one audited, undoable
        `merge` operation each); a refused one is reported with its reason."""
        target, *sources = queryset.order_by("id").values_list("id", flat=True)
        if not sources:
            self.message_user(request, MERGE_NEEDS_TWO, messages.WARNING)
            return
        merged = []
        for source_id in sources:
            try:
                services.group_merge(
                    target_group_id=target, source_group_id=source_id, actor=request.user
                )
            except services.GroupServiceError as exc:
                self.message_user(request, f"Group {source_id}: {exc.message}", messages.ERROR)
                continue
            merged.append(source_id)
        if merged:
            listed = ", ".join(map(str, merged))
            self.message_user(request, f"Merged group(s) {listed} into group {target}.")

    def _toggle(self, request: HttpRequest, queryset: QuerySet, service, verb: str) -> None:
        changed, unchanged, warnings = [], [], []
        for group_id in queryset.order_by("id").values_list("id", flat=True):
            try:
                outcome = service(group_id=group_id, actor=request.user)
            except services.GroupServiceError as exc:
                self.message_user(request, f"Group {group_id}: {exc.message}", messages.ERROR)
                continue
            (changed if outcome.changed else unchanged).append(group_id)
            if outcome.validation_warning:
                warnings.append(outcome.validation_warning)
            elif outcome.propagated_count:
                warnings.append(
                    f"Group {group_id} labeled {self.label(outcome.group)}, "
                    f"{outcome.propagated_count} member(s) updated."
                )
        summary = []
        if changed:
            summary.append(f"{verb.capitalize()} group(s) {', '.join(map(str, changed))}")
        if unchanged:
            summary.append(f"Group(s) {', '.join(map(str, unchanged))} already {verb}")
        _report_outcomes(self, request, summary, warnings)


@admin.register(AssignmentRun)
class AssignmentRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "trigger",
        "triggered_by",
        "started_at",
        "finished_at",
        *COUNTER_NAMES,
    )
    list_filter = ("status", "trigger")
    list_select_related = ("triggered_by",)
    search_fields = ("=id",)
    date_hierarchy = "started_at"


class SnapshotColumnsMixin:
    """The before/after annotation snapshots of an operation member, readable."""

    before_json = json_column("before", "before")
    after_json = json_column("after", "after")


# What an operation was, on whom, by whom and when: its list columns and the head of its page.
OPERATION_FIELDS = ("kind", "group", "sequence", "actor", "run", "created_at")


@admin.register(GroupOperation)
class GroupOperationAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ("id", *OPERATION_FIELDS, "member_count", "undone_by_link")
    list_filter = ("kind", "created_at")
    list_select_related = ("group", "sequence", "actor", "run", "undone_by")
    search_fields = ("=id", "=group__id", "=sequence__id", "actor__username")
    fields = (
        *OPERATION_FIELDS,
        "undo_of",
        "undone_by_link",
        "group_before_json",
        "group_after_json",
        "details_json",
        "member_count",
        "member_rows",
    )
    readonly_fields = fields
    actions = ("undo",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(member_count=operation_member_count())

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: GroupOperation) -> int:
        return obj.member_count

    @admin.display(description="annotations written (before / after on each row's page)")
    def member_rows(self, obj: GroupOperation) -> str:
        rows = list(obj.members.select_related("sequence").order_by("sequence")[:RELATED_SHOWN])
        url = _changelist_url(GroupOperationMember, operation__id__exact=obj.pk)
        return capped_links(rows, total=obj.member_count, more_url=url, noun="rows")

    @admin.display(description="undone by")
    def undone_by_link(self, obj: GroupOperation) -> str:
        undo = getattr(obj, "undone_by", None)
        return admin_link(undo) if undo else NONE

    group_before_json = json_column("group_before", "group before")
    group_after_json = json_column("group_after", "group after")
    details_json = json_column("details", "details")

    @admin.action(description="Undo selected operations")
    def undo(self, request: HttpRequest, queryset: QuerySet) -> None:
        summary, warnings = [], []
        for operation_id in queryset.order_by("id").values_list("id", flat=True):
            try:
                outcome = services.group_operation_undo(
                    operation_id=operation_id, actor=request.user
                )
            except services.GroupServiceError as exc:
                self.message_user(request, str(exc.message), messages.ERROR)
                continue
            summary.append(
                f"Undid operation {operation_id} (undo operation {outcome.undo_operation_id}): "
                f"{len(outcome.restored)} member(s) restored"
                + (", group restored" if outcome.group_restored else "")
            )
            for item in outcome.left_alone:
                warnings.append(
                    f"Operation {operation_id}: sequence {item['sequence_id']} left alone "
                    f"({item['reason']})."
                )
        _report_outcomes(self, request, summary, warnings)


@admin.register(GroupOperationMember)
class GroupOperationMemberAdmin(SnapshotColumnsMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ("id", "operation", "sequence")
    list_select_related = ("operation", "sequence")
    list_filter = ("operation__kind", "operation__created_at")
    search_fields = ("=operation__id", "=sequence__id")
    fields = ("operation", "sequence", "before_json", "after_json")
    readonly_fields = fields
