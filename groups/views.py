"""HTML views of the groups app: the groups list, the group page, the check queue.

Views are thin: parse the input, call one service (writes) or selectors (reads), render. Every
action is a plain POST form (redirect back, messages) that htmx enhances: an htmx request gets
the fragments that changed, with the header and navigation badges out of band (SPEC §6.1, §9.4
#17). The presentation helpers below turn rows into what the templates draw (overlay boxes in
percent, captions, history sentences), so the templates stay free of logic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models.functions import Lower
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, retarget

from annotation_site.errors import http_status
from groups import selectors, services
from groups.forms import CheckConfirmForm, CheckRejectForm, ListParams, list_params
from groups.models import GroupOperation, OperationKind, SequenceGroup
from sequences.boxes import is_valid_box
from sequences.models import (
    LOCKED_STAGES,
    MACHINE_SOURCES,
    Camera,
    Detection,
    LabelSource,
    Organization,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import Label, annotation_label
from sequences.selectors import valid_boxes

# The list preview never zooms in further than this fraction of the image (4x).
PREVIEW_MIN_SIDE = 0.25

EMPTY_NO_GROUPS = (
    "No groups yet. Groups are built by the assignment job (manage.py assign_groups), which "
    "runs after each import and from cron. Groups with a single sequence are hidden."
)
EMPTY_ALL_LABELED = "Every listed group has a label."
EMPTY_NO_MATCH = "No groups match this filter."
REMOVE_CONFIRM = (
    "Remove sequence #{sequence_id} from group #{group_id}? It becomes a manual outlier: the "
    "assignment job will never put it back into a group automatically. Its annotation is not "
    "changed. You can undo this with Re-include (below, or on the sequence's page)."
)
SORT_COLUMNS = (
    ("member_count", "Members"),
    ("created_at", "Created"),
    ("camera", "Camera"),
    ("azimuth", "Azimuth"),
)
TAB_LABELS = (("unlabeled", "To label"), ("labeled", "Labeled"), ("all", "All"))


# --- presentation helpers ----------------------------------------------------------------------


def box_style(box: list[float], *, within: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> str:
    """CSS placing an xyxyn box over an image, in percent. `within` = (left, top, side) of the
    zoom window the image is shown through (the whole image by default)."""
    left, top, side = within
    x1, x2 = ((box[0] - left) / side, (box[2] - left) / side)
    y1, y2 = ((box[1] - top) / side, (box[3] - top) / side)
    return (
        f"left:{x1 * 100:.3f}%;top:{y1 * 100:.3f}%;"
        f"width:{(x2 - x1) * 100:.3f}%;height:{(y2 - y1) * 100:.3f}%"
    )


def reference_box(group: SequenceGroup | None) -> list[float] | None:
    """The group's representative box, or None when there is no valid one to draw."""
    if group is None or not isinstance(group.representative_bbox, dict):
        return None
    box = group.representative_bbox.get("xyxyn")
    return [float(value) for value in box] if is_valid_box(box) else None


@dataclass(frozen=True)
class PreviewFrame:
    """How a list preview shows an image zoomed on the reference region."""

    image_style: str
    region_style: str | None


def preview_frame(box: list[float] | None) -> PreviewFrame:
    """A square window (in image fractions) twice the region's size, centred on it and kept
    inside the image; the image is scaled and shifted so the window fills the preview box."""
    if box is None:
        return PreviewFrame("left:0;top:0;width:100%;height:100%", None)
    x1, y1, x2, y2 = box
    side = min(1.0, max(PREVIEW_MIN_SIDE, 2 * max(x2 - x1, y2 - y1)))
    left = min(max((x1 + x2) / 2 - side / 2, 0.0), 1.0 - side)
    top = min(max((y1 + y2) / 2 - side / 2, 0.0), 1.0 - side)
    scale = 100 / side
    image_style = (
        f"left:{-left * scale:.3f}%;top:{-top * scale:.3f}%;width:{scale:.3f}%;height:{scale:.3f}%"
    )
    return PreviewFrame(image_style, box_style(box, within=(left, top, side)))


def label_parts(label: Label | None) -> dict[str, str] | None:
    """`{"kind": "smoke"|"fp", "text": "smoke / wildfire"}` for a label chip."""
    if label is None:
        return None
    prefix = "smoke" if label.kind == "smoke" else "FP"
    return {"kind": label.kind, "text": f"{prefix} / {label.value.replace('_', ' ')}"}


def group_label(group: SequenceGroup) -> dict[str, str] | None:
    return label_parts(Label.from_columns(group.smoke_type, group.false_positive_type))


@dataclass
class Thumbnail:
    """A detection image with its overlays: prediction boxes (red) and the reference (yellow)."""

    detection_id: int | None
    boxes: list[str]
    reference: str | None


def thumbnail(detection: Detection | None, reference: list[float] | None) -> Thumbnail:
    if detection is None:
        return Thumbnail(None, [], None)
    boxes = [box_style(box) for box in valid_boxes(detection.algo_predictions)]
    return Thumbnail(detection.pk, boxes, box_style(reference) if reference else None)


@dataclass
class MemberCard:
    """One member of the group page (SPEC §6.3)."""

    sequence: Sequence
    annotation: SequenceAnnotation | None
    thumbnail: Thumbnail
    locked: bool
    stage: str
    label: dict[str, str] | None
    provenance: str
    unchecked: bool
    confirm: str

    @property
    def is_machine_label(self) -> bool:
        return self.annotation is not None and self.annotation.label_source in MACHINE_SOURCES


def member_card(member: Sequence, *, group_id: int, reference: list[float] | None) -> MemberCard:
    row = member.annotation_row
    locked = row is not None and row.processing_stage in LOCKED_STAGES
    if not locked:
        provenance = "to annotate"
    elif row.label_source:  # human, inherited, propagated or bulk (SPEC §6.3)
        provenance = LabelSource(row.label_source).label.lower()
    else:
        provenance = "done"  # a locked row without provenance: written before it was recorded
    return MemberCard(
        sequence=member,
        annotation=row,
        thumbnail=thumbnail(member.first_detection, reference),
        locked=locked,
        stage=ProcessingStage(row.processing_stage).label if row else "No annotation",
        label=label_parts(annotation_label(row.annotation)) if locked else None,
        provenance=provenance,
        unchecked=row is not None and row.is_unchecked_machine_label,
        confirm=REMOVE_CONFIRM.format(sequence_id=member.pk, group_id=group_id),
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def operation_summary(operation: GroupOperation) -> str:
    """One sentence saying what an audited operation did (the group page's history)."""
    details = operation.details or {}
    label = details.get("label") or details.get("derived_label")
    count = getattr(operation, "member_count", 0)
    sequence = f"sequence #{operation.sequence_id}" if operation.sequence_id else "a sequence"
    kind = operation.kind
    if kind == OperationKind.VALIDATE:
        if details.get("derived_label"):
            return (
                f"Validated the group and labeled it {details['derived_label']} "
                f"({_plural(count, 'member')} updated)"
            )
        if details.get("validation_warning"):
            return "Validated the group (not labeled: its annotated members disagree)"
        return "Validated the group"
    if kind == OperationKind.UNVALIDATE:
        return "Unvalidated the group"
    if kind == OperationKind.PROPAGATE:
        source = details.get("source_sequence_id")
        labeled = " and labeled the group" if operation.group_after else ""
        return (
            f"Saved sequence #{source} as {label}{labeled}; "
            f"{_plural(count, 'other member')} updated"
        )
    if kind == OperationKind.INHERIT:
        run = f" (assignment run {operation.run_id})" if operation.run_id else ""
        return f"{_plural(count, 'joining sequence')} inherited {label}{run}"
    if kind == OperationKind.BULK:
        return f"Bulk-labeled {_plural(count, 'sequence')} {label}"
    if kind == OperationKind.REMOVE_MEMBER:
        return f"Removed {sequence} from the group"
    if kind == OperationKind.REINCLUDE_MEMBER:
        return f"Re-included {sequence}"
    if kind == OperationKind.CHECK:
        return f"Confirmed {_plural(count, 'machine label')}"
    if kind == OperationKind.REJECT:
        return f'Rejected the machine label of {sequence} ("Not this")'
    if kind == OperationKind.UNDO:
        undone = operation.undo_of
        restored = len(details.get("restored") or [])
        left = len(details.get("left_alone") or [])
        text = f"Undid operation #{undone.pk} ({undone.get_kind_display().lower()})"
        text += f": {restored} restored"
        return text + (f", {left} left alone (edited since)" if left else "")
    return operation.get_kind_display()


@dataclass
class HistoryEntry:
    operation: GroupOperation
    summary: str
    undone_by_id: int | None

    @property
    def undoable(self) -> bool:
        return self.operation.kind != OperationKind.UNDO and self.undone_by_id is None


def history_entries(operations: Iterable[GroupOperation]) -> list[HistoryEntry]:
    entries = []
    for operation in operations:
        undone_by = getattr(operation, "undone_by", None)
        entries.append(
            HistoryEntry(
                operation, operation_summary(operation), undone_by.pk if undone_by else None
            )
        )
    return entries


def _not_found(exc: services.GroupServiceError) -> bool:
    return http_status(exc) == 404


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- the groups list ---------------------------------------------------------------------------


def _empty_message(params: ListParams, stats: dict, overall_total: int) -> str:
    if overall_total == 0:
        return EMPTY_NO_GROUPS
    if params.tab == "unlabeled" and stats["unlabeled"] == 0 and stats["labeled"] > 0:
        return EMPTY_ALL_LABELED
    return EMPTY_NO_MATCH


@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    """The groups list (SPEC §6.2): tabs with counts, sortable columns, filters, 50 per page."""
    params, ignored = list_params(request.GET)
    stats = selectors.group_stats(camera_id=params.camera, organization_id=params.organization)
    overall_total = selectors.group_stats()["total"] if params.filtered else stats["total"]
    page = Paginator(
        selectors.group_list(**params.selector_kwargs()), settings.GROUPS_LIST_PAGE_SIZE
    ).get_page(params.page)
    groups = list(page.object_list)
    previews = selectors.group_previews(group_ids=[group.pk for group in groups])
    for group in groups:
        group.preview_frame = preview_frame(reference_box(group))
        group.preview_ids = previews.get(group.pk, [])
        group.label_chip = group_label(group)
    list_query = params.query(page=page.number)
    context = {
        "nav_section": "groups",
        "params": params,
        "ignored": ignored,
        "stats": stats,
        "page": page,
        "groups": groups,
        "list_query": list_query,
        "tabs": [
            {
                "key": key,
                "label": label,
                "count": stats[key if key != "all" else "total"],
                "query": params.query(tab=key, page=1),
                "current": key == params.tab,
            }
            for key, label in TAB_LABELS
        ],
        "sort_columns": {
            key: {
                "label": label,
                "query": params.sort_query(key),
                "current": key == params.sort,
                "aria": ("descending" if params.dir == "desc" else "ascending")
                if key == params.sort
                else None,
            }
            for key, label in SORT_COLUMNS
        },
        "previous_query": params.query(page=page.number - 1) if page.has_previous() else None,
        "next_query": params.query(page=page.number + 1) if page.has_next() else None,
        "empty_message": _empty_message(params, stats, overall_total),
        "cameras": Camera.objects.select_related("organization").order_by(Lower("name"), "id"),
        "organizations": Organization.objects.order_by(Lower("name"), "id"),
        "min_members": settings.GROUPS_MIN_LISTED_MEMBERS,
    }
    return render(request, "groups/group_list.html", context)


# --- the group page ----------------------------------------------------------------------------


def _group_context(
    request: HttpRequest,
    group_id: int,
    *,
    notice: str | None = None,
    notice_level: str = "success",
) -> dict[str, Any]:
    """Everything the group page and its fragments draw, in a constant number of queries."""
    params, _ = list_params(request.GET)
    try:
        group = selectors.group_detail(group_id=group_id)
    except SequenceGroup.DoesNotExist as exc:
        raise Http404(services.GROUP_NOT_FOUND.format(group_id=group_id)) from exc
    reference = reference_box(group)
    previous_id, next_id = selectors.group_neighbors(
        group=group, member_count=len(group.members_ordered), **params.selector_kwargs()
    )
    list_query = params.query()
    return {
        "nav_section": "groups",
        "group": group,
        "group_label": group_label(group),
        "cards": [
            member_card(member, group_id=group.pk, reference=reference)
            for member in group.members_ordered
        ],
        "removed": selectors.group_removed_members(group_id=group.pk),
        "history": history_entries(selectors.group_history(group_id=group.pk)),
        "list_query": list_query,
        "query_suffix": f"?{list_query}" if list_query else "",
        "previous_id": previous_id,
        "next_id": next_id,
        "notice": notice,
        "notice_level": notice_level,
    }


@require_GET
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    """The group review page (SPEC §6.3)."""
    return render(request, "groups/group_detail.html", _group_context(request, group_id))


def _group_fragments(
    request: HttpRequest,
    context: dict[str, Any],
    *,
    main: str | None,
    oob: Iterable[str],
) -> HttpResponse:
    """An htmx answer: the `main` partial of the group page (None: nothing, which removes the
    swapped element), then `oob` partials and the navigation swapped out of band."""
    context = {**context, "main": main, "oob": set(oob)}
    return render(request, "groups/_group_update.html", context)


def _detail_url(request: HttpRequest, group_id: int) -> str:
    params, _ = list_params(request.GET)
    query = params.query()
    return reverse("groups:detail", args=[group_id]) + (f"?{query}" if query else "")


def _group_action(
    request: HttpRequest,
    group_id: int,
    action: Callable[[], tuple[str, str]],
    *,
    main: str | None,
    oob: Callable[[], Iterable[str]],
) -> HttpResponse:
    """Run a group page action and answer it: a redirect back to the page (with a message)
    without htmx, the changed fragments with htmx. `action` returns `(notice, level)`; a refused
    request shows its message in the header, with the members and history redrawn so the page
    matches the database again (without htmx: the whole page, 200, as for any invalid form)."""
    try:
        notice, level = action()
    except services.GroupServiceError as exc:
        if _not_found(exc):
            raise Http404(exc.message) from exc
        context = _group_context(request, group_id, notice=exc.message, notice_level="error")
        if not request.htmx:
            return render(request, "groups/group_detail.html", context)
        response = _group_fragments(
            request, context, main="header", oob=("members", "removed", "history")
        )
        return retarget(response, "#group-header")
    if not request.htmx:
        getattr(messages, level)(request, notice)
        return redirect(_detail_url(request, group_id))
    context = _group_context(request, group_id, notice=notice, notice_level=level)
    return _group_fragments(request, context, main=main, oob=oob())


def _validation_notice(outcome: services.ValidationOutcome, *, validating: bool) -> tuple:
    if outcome.validation_warning:
        return outcome.validation_warning, "warning"
    if not outcome.changed:
        state = "validated" if validating else "not validated"
        return f"This group was already {state}; nothing changed.", "info"
    if not validating:
        return "Group unvalidated. Its label stays.", "success"
    label = Label.from_columns(outcome.group.smoke_type, outcome.group.false_positive_type)
    if label is None:
        return "Group validated. Save one member as done to label the whole group.", "success"
    updated = _plural(outcome.propagated_count, "member")
    return f"Group validated · labeled {label} · {updated} updated.", "success"


@require_POST
def group_validate_view(request: HttpRequest, group_id: int) -> HttpResponse:
    return _toggle_validation(request, group_id, validating=True)


@require_POST
def group_unvalidate_view(request: HttpRequest, group_id: int) -> HttpResponse:
    return _toggle_validation(request, group_id, validating=False)


def _toggle_validation(request: HttpRequest, group_id: int, *, validating: bool) -> HttpResponse:
    service = services.group_validate if validating else services.group_unvalidate
    outcomes: list[services.ValidationOutcome] = []

    def action() -> tuple[str, str]:
        outcomes.append(service(group_id=group_id, actor=request.user))
        return _validation_notice(outcomes[0], validating=validating)

    def oob() -> list[str]:
        # Fanned-out labels change member captions; otherwise the cards are as they were.
        return ["history", "members"] if outcomes[0].propagated_count else ["history"]

    return _group_action(request, group_id, action, main="header", oob=oob)


@require_POST
def group_member_remove_view(request: HttpRequest, group_id: int, sequence_id: int) -> HttpResponse:
    """× on a member card: the card disappears, the header count and Removed section update."""

    def action() -> tuple[str, str]:
        services.group_member_remove(group_id=group_id, sequence_id=sequence_id, actor=request.user)
        return f"Sequence #{sequence_id} removed from this group.", "success"

    def oob() -> list[str]:
        # An emptied group shows "This group has no members." in place of the grid.
        empty = not Sequence.objects.filter(group_id=group_id).exists()
        return ["header", "removed", "history", *(["members"] if empty else [])]

    return _group_action(request, group_id, action, main=None, oob=oob)


@require_POST
def group_member_reinclude_view(request: HttpRequest, sequence_id: int) -> HttpResponse:
    """Re-include a removed sequence (SPEC §5.6). From the group page (`group` posted) htmx
    gets the redrawn Removed section; elsewhere the page is reloaded or redirected to `next`."""
    group_id = request.POST.get("group", "")
    group_id = int(group_id) if group_id.isdigit() else None

    def action() -> tuple[str, str]:
        operation = services.group_member_reinclude(sequence_id=sequence_id, actor=request.user)
        if operation is None:
            return f"Sequence #{sequence_id} was not excluded; nothing changed.", "info"
        return (
            f"Sequence #{sequence_id} re-included: it waits for the next assignment run.",
            "success",
        )

    if group_id is not None:
        # The header carries the notice; the Removed section is the swapped fragment.
        return _group_action(
            request, group_id, action, main="removed", oob=lambda: ["header", "history"]
        )
    fallback = reverse("sequences:annotate", args=[sequence_id])
    try:
        notice, level = action()
    except services.GroupServiceError as exc:
        if _not_found(exc):
            raise Http404(exc.message) from exc
        notice, level = exc.message, "error"
    getattr(messages, level)(request, notice)
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect(_safe_next(request, fallback))


@require_POST
def group_operation_undo_view(request: HttpRequest, operation_id: int) -> HttpResponse:
    """Staff "Undo" of one audited operation (SPEC §5.8); back to the page it came from."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can undo operations.")
    try:
        outcome = services.group_operation_undo(operation_id=operation_id, actor=request.user)
    except services.GroupServiceError as exc:
        if _not_found(exc):
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    else:
        text = (
            f"Operation #{operation_id} undone: {_plural(len(outcome.restored), 'change')} reverted"
        )
        if outcome.left_alone:
            text += f", {len(outcome.left_alone)} left alone (edited since)"
        messages.success(request, text + ".")
    return redirect(_safe_next(request, reverse("groups:list")))


# --- the check queue (SPEC §5.9) -----------------------------------------------------------------


@dataclass
class CheckCard:
    """One unchecked machine label: the image, the label and where it came from."""

    annotation: SequenceAnnotation
    sequence: Sequence
    group: SequenceGroup | None
    thumbnail: Thumbnail
    label: dict[str, str] | None
    source: str
    operation: GroupOperation | None

    @property
    def source_sequence_id(self) -> int | None:
        details = self.operation.details if self.operation else {}
        return (details or {}).get("source_sequence_id")

    @property
    def actor(self):
        return self.operation.actor if self.operation else self.annotation.updated_by

    @property
    def when(self):
        return self.operation.created_at if self.operation else self.annotation.updated_at


def check_cards(annotations: list[SequenceAnnotation]) -> list[CheckCard]:
    detections = selectors.detections_by_id(
        detection_ids=[row.first_detection_id for row in annotations if row.first_detection_id]
    )
    cards = []
    for row in annotations:
        group = row.label_source_group or row.sequence.group
        cards.append(
            CheckCard(
                annotation=row,
                sequence=row.sequence,
                group=group,
                thumbnail=thumbnail(detections.get(row.first_detection_id), reference_box(group)),
                label=label_parts(annotation_label(row.annotation)),
                source=row.label_source,
                operation=row.label_source_operation,
            )
        )
    return cards


def _check_context(request: HttpRequest, *, notice=None, notice_level="success") -> dict:
    number = request.GET.get("page", "1")
    page = Paginator(
        selectors.unchecked_machine_labels(), settings.GROUPS_CHECK_PAGE_SIZE
    ).get_page(number)
    cards = check_cards(list(page.object_list))
    return {
        "nav_section": "check",
        "page": page,
        "cards": cards,
        "page_query": f"?page={page.number}" if page.number > 1 else "",
        "notice": notice,
        "notice_level": notice_level,
    }


@require_GET
def check_queue(request: HttpRequest) -> HttpResponse:
    """The check queue (SPEC §5.9): unchecked machine labels, by group then recorded time."""
    return render(request, "groups/check_queue.html", _check_context(request))


def _check_action(request: HttpRequest, action: Callable[[], tuple[str, str]]) -> HttpResponse:
    try:
        notice, level = action()
    except services.GroupServiceError as exc:
        notice, level = exc.message, "error"
    if not request.htmx and level != "error":  # done: back to the queue, the notice flashed
        getattr(messages, level)(request, notice)
        query = request.GET.urlencode()
        return redirect(reverse("groups:check") + (f"?{query}" if query else ""))
    # htmx gets the changed fragments; an invalid form without htmx the page again, 200.
    template = "groups/_check_update.html" if request.htmx else "groups/check_queue.html"
    return render(request, template, _check_context(request, notice=notice, notice_level=level))


@require_POST
def check_confirm_view(request: HttpRequest) -> HttpResponse:
    """ "Confirm these N": mark the page's machine labels checked, as one operation."""
    form = CheckConfirmForm(request.POST)

    def action() -> tuple[str, str]:
        if not form.is_valid():
            return "Nothing to confirm: the page sent no valid annotation ids.", "error"
        outcome = services.label_check_confirm(
            annotation_ids=form.cleaned_data["annotation_ids"], actor=request.user
        )
        text = f"Confirmed {_plural(len(outcome.checked), 'label')}."
        if outcome.skipped:
            text += f" {len(outcome.skipped)} skipped (already checked or changed since)."
        return text, "success"

    return _check_action(request, action)


@require_POST
def check_reject_view(request: HttpRequest) -> HttpResponse:
    """ "Not this": the sequence leaves its group and goes back to the annotation queue."""
    form = CheckRejectForm(request.POST)

    def action() -> tuple[str, str]:
        if not form.is_valid():
            return "Nothing rejected: the card sent no valid sequence id.", "error"
        sequence_id = form.cleaned_data["sequence_id"]
        services.label_check_reject(sequence_id=sequence_id, actor=request.user)
        return (
            f"Sequence #{sequence_id} left its group; its label was undone and it is back in "
            "the annotation queue.",
            "success",
        )

    return _check_action(request, action)
