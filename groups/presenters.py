"""What the group templates show: list rows and their previews, member and check cards, boxes in
percent, label chips, history lines and the notices of the page actions.

Pure functions of rows the selectors have already read (no queries here), so the templates stay
free of logic and the views stay thin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from groups.forms import ListParams
from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.selectors import SORT_KEYS, Member, is_look_closely
from groups.services import CheckOutcome, UndoOutcome, ValidationOutcome
from sequences.boxes import is_valid_box
from sequences.models import (
    LOCKED_STAGES,
    MACHINE_SOURCES,
    Detection,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import Label, annotation_label
from sequences.presenters import box_style
from sequences.safeguards import Thresholds, risk_text
from sequences.selectors import HeldBack, valid_boxes

# The list preview never zooms in further than this fraction of the image (4x).
PREVIEW_MIN_SIDE = 0.25

EMPTY_NO_GROUPS = (
    "No groups yet. Groups are built by the assignment job (manage.py assign_groups), which "
    "runs after each import and from cron. Groups with a single sequence are hidden."
)
EMPTY_ALL_LABELED = "Every listed group has a label."
EMPTY_ALL_LABELED_OR_UNSURE = (
    "Every listed group has a label or is marked unsure (see the Unsure tab)."
)
EMPTY_NO_UNSURE = (
    "No group is unsure. A validated group without a label comes here when one of its members "
    "is saved Unsure without a label, until a label is saved."
)
EMPTY_NO_MATCH = "No groups match this filter."
REMOVE_CONFIRM = (
    "Remove sequence #{sequence_id} from group #{group_id}? It becomes a manual outlier: the "
    "assignment job will never put it back into a group automatically. Its annotation is not "
    "changed. You can undo this with Re-include (below, or on the sequence's page)."
)
TAB_LABELS = (
    ("unlabeled", "To label"),
    ("unsure", "Unsure"),
    ("labeled", "Labeled"),
    ("all", "All"),
)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class Pager:
    """The pager of a paged section of the group page: where it stands and the query strings
    of the previous and next pages (None at either end)."""

    number: int
    pages: int
    start: int
    end: int
    total: int
    previous_query: str | None
    next_query: str | None


def pager(page, query_of: Callable[[int], str]) -> Pager:
    """A Pager of `page` (a `selectors.MembersPage`); `query_of(n)` is the query of page n."""
    return Pager(
        number=page.number,
        pages=page.pages,
        start=page.start,
        end=page.end,
        total=page.total,
        previous_query=query_of(page.number - 1) if page.has_previous else None,
        next_query=query_of(page.number + 1) if page.has_next else None,
    )


# --- boxes and labels ----------------------------------------------------------------------------


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


# --- the groups list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListRow:
    """A group as the list and the Merge page show it: its previews, label chip and how many
    of its members a safeguard holds back."""

    group: SequenceGroup
    preview_frame: PreviewFrame
    preview_ids: list[int]
    label: dict[str, str] | None
    held_back_count: int = 0


def list_rows(
    groups: Iterable[SequenceGroup],
    previews: dict[int, list[int]],
    held_back: dict[int, int] | None = None,
) -> list[ListRow]:
    """The rows of `groups`, with their preview images (`previews`, by group id) and held-back
    counts (`held_back`, by group id; absent: none)."""
    held_back = held_back or {}
    return [
        ListRow(
            group=group,
            preview_frame=preview_frame(reference_box(group)),
            preview_ids=previews.get(group.pk, []),
            label=group_label(group),
            held_back_count=held_back.get(group.pk, 0),
        )
        for group in groups
    ]


def list_tabs(params: ListParams, stats: dict) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "label": label,
            "count": stats[key if key != "all" else "total"],
            "query": params.query(tab=key, page=1),
            "current": key == params.tab,
        }
        for key, label in TAB_LABELS
    ]


def sort_columns(params: ListParams) -> dict[str, dict[str, Any]]:
    """The sortable column headers: label, the query of a click, and the current state."""
    return {
        key: {
            "label": sort_key.label,
            "query": params.sort_query(key),
            "current": key == params.sort,
            "aria": ("descending" if params.dir == "desc" else "ascending")
            if key == params.sort
            else None,
        }
        for key, sort_key in SORT_KEYS.items()
    }


def empty_message(params: ListParams, stats: dict, overall_total: int) -> str:
    if overall_total == 0:
        return EMPTY_NO_GROUPS
    if params.tab == "unlabeled" and stats["unlabeled"] == 0 and stats["total"] > 0:
        return EMPTY_ALL_LABELED_OR_UNSURE if stats["unsure"] else EMPTY_ALL_LABELED
    if params.tab == "unsure" and not params.filtered:
        return EMPTY_NO_UNSURE
    return EMPTY_NO_MATCH


# --- the group page ------------------------------------------------------------------------------


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
    # Why the group's label was not applied to this member (a safeguard held it back), or None.
    held_back: HeldBack | None = None

    @property
    def is_machine_label(self) -> bool:
        return self.annotation is not None and self.annotation.label_source in MACHINE_SOURCES


def member_card(member: Member, *, group_id: int, reference: list[float] | None) -> MemberCard:
    row = member.annotation
    locked = row is not None and row.processing_stage in LOCKED_STAGES
    if not locked:
        provenance = "to annotate"
    elif row.label_source:  # human, inherited, propagated or bulk (SPEC §6.3)
        provenance = LabelSource(row.label_source).label.lower()
    else:
        provenance = "done"  # a locked row without provenance: written before it was recorded
    return MemberCard(
        sequence=member.sequence,
        annotation=row,
        thumbnail=thumbnail(member.first_detection, reference),
        locked=locked,
        stage=ProcessingStage(row.processing_stage).label if row else "No annotation",
        label=label_parts(annotation_label(row.annotation)) if locked else None,
        provenance=provenance,
        unchecked=row is not None and row.is_unchecked_machine_label,
        confirm=REMOVE_CONFIRM.format(sequence_id=member.sequence.pk, group_id=group_id),
        held_back=member.held_back,
    )


# What the simpler operations did, in one sentence: (template, noun counted in `{members}`).
_SENTENCES = {
    OperationKind.UNVALIDATE: ("Unvalidated the group", ""),
    OperationKind.BULK: ("Bulk-labeled {members} {label}", "sequence"),
    OperationKind.REMOVE_MEMBER: ("Removed {sequence} from the group", ""),
    OperationKind.REINCLUDE_MEMBER: ("Re-included {sequence}", ""),
    OperationKind.CHECK: ("Confirmed {members}", "machine label"),
    OperationKind.REJECT: ('Rejected the machine label{label} of {sequence} ("Not this")', ""),
    OperationKind.DELETE: ("Deleted the annotation of {sequence}", ""),
}


def operation_summary(operation: GroupOperation) -> str:
    """One sentence saying what an audited operation did (the group page's history), with the
    members a safeguard held back from its label."""
    held = len((operation.details or {}).get("held_back") or [])
    summary = _operation_sentence(operation)
    return f"{summary}; {held} held back" if held else summary


def rejected_label(operation: GroupOperation) -> Label | None:
    """The label a reject ("Not this") took off its sequence, from the annotation its member
    row kept (`rejected_before`, when the read brought it along; None otherwise)."""
    before = getattr(operation, "rejected_before", None)
    payload = before.get("annotation") if isinstance(before, dict) else None
    return annotation_label(payload) if isinstance(payload, dict) else None


def _operation_sentence(operation: GroupOperation) -> str:
    details = operation.details or {}
    label = details.get("label") or details.get("derived_label")
    if operation.kind == OperationKind.REJECT:
        rejected = rejected_label(operation)
        label = f" {rejected}" if rejected else ""
    count = getattr(operation, "member_count", 0)
    kind = operation.kind
    if kind in _SENTENCES:
        template, noun = _SENTENCES[kind]
        sequence = f"sequence #{operation.sequence_id}" if operation.sequence_id else "a sequence"
        return template.format(members=plural(count, noun), label=label, sequence=sequence)
    if kind == OperationKind.VALIDATE:
        if details.get("derived_label"):
            return (
                f"Validated the group and labeled it {details['derived_label']} "
                f"({plural(count, 'member')} updated)"
            )
        if details.get("validation_warning"):
            return "Validated the group (not labeled: its annotated members disagree)"
        return "Validated the group"
    if kind == OperationKind.PROPAGATE:
        source = details.get("source_sequence_id")
        if details.get("unsure") and label is None:
            return f"Saved sequence #{source} as unsure without a label: the group is unsure"
        labeled = " and labeled the group" if operation.group_after else ""
        return (
            f"Saved sequence #{source} as {label}{labeled}; {plural(count, 'other member')} updated"
        )
    if kind == OperationKind.INHERIT:
        run = f" (assignment run {operation.run_id})" if operation.run_id else ""
        return f"{plural(count, 'joining sequence')} inherited {label}{run}"
    if kind == OperationKind.MERGE:
        moved = plural(len(details.get("moved") or []), "member")
        text = f"Merged group #{details.get('source_group_id')} into this group ({moved} moved)"
        if details.get("label_taken"):
            text += f" and took its label {details['label_taken']}"
        return text + (f"; {plural(count, 'member')} updated" if count else "")
    if kind == OperationKind.SPLIT:
        moved = plural(len(details.get("moved") or []), "member")
        return f"Split {moved} off into the new group #{details.get('new_group_id')}"
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


def validation_notice(outcome: ValidationOutcome, *, validating: bool) -> tuple[str, str]:
    """`(notice, level)` after Validate / Unvalidate on the group page."""
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
    updated = plural(outcome.propagated_count, "member")
    held = f" · {outcome.held_back_count} held back" if outcome.held_back_count else ""
    return f"Group validated · labeled {label} · {updated} updated{held}.", "success"


def undo_notice(outcome: UndoOutcome, *, operation_id: int) -> str:
    text = f"Operation #{operation_id} undone: {plural(len(outcome.restored), 'change')} reverted"
    if outcome.left_alone:
        text += f", {len(outcome.left_alone)} left alone (edited since)"
    return text + "."


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
    # A "look closely" label is confirmed on its own; `reasons` say why it is risky, in words.
    look_closely: bool = False
    reasons: str = ""

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


def check_cards(
    annotations: list[SequenceAnnotation], detections: dict[int, Detection]
) -> list[CheckCard]:
    """The cards of a page of the check queue; `detections` holds their first detections."""
    thresholds = Thresholds.from_settings(settings)
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
                look_closely=is_look_closely(row),
                reasons=risk_text(row.check_reasons or [], thresholds),
            )
        )
    return cards


def check_confirm_notice(outcome: CheckOutcome) -> str:
    text = f"Confirmed {plural(len(outcome.checked), 'label')}."
    if outcome.skipped:
        text += f" {len(outcome.skipped)} skipped (already checked or changed since)."
    return text
