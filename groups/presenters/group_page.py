"""What a group's page draws (SPEC §6.3): the member cards, the history lines, and the notices
of its actions (validate, unvalidate, undo)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from groups.models import GroupOperation, OperationKind
from groups.presenters.common import (
    Thumbnail,
    label_parts,
    plural,
    thumbnail,
)
from groups.selectors import Member
from groups.services import UndoOutcome, ValidationOutcome
from sequences.models import (
    LOCKED_STAGES,
    MACHINE_SOURCES,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import Label, annotation_label
from sequences.selectors import HeldBack

REMOVE_CONFIRM = (
    "Remove sequence #{sequence_id} from group #{group_id}? It becomes a manual outlier: the "
    "assignment job will never put it back into a group automatically. Its annotation is not "
    "changed. You can undo this with Re-include (below, or on the sequence's page)."
)


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
