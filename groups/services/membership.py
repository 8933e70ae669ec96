"""Group membership by hand (SPEC §5.6): taking a sequence out of its group for good, and
lifting that exclusion so the next assignment run may group it again."""

from __future__ import annotations

from django.db import transaction

from groups.models import GroupOperation, OperationKind
from groups.services.errors import NotAMember, group_locked, sequence_locked
from sequences.models import Sequence


@transaction.atomic
def group_member_remove(*, group_id: int, sequence_id: int, actor) -> GroupOperation:
    """Take a sequence out of its group for good: `group = NULL`, `is_group_excluded = true`.

    The annotation, the group and its label are untouched; the group is kept even when empty.
    Logs `remove_member` (`{"sequence_id": ...}`). Raises SequenceNotFound, NotAMember (also
    when the group does not exist).
    """
    sequence = sequence_locked(sequence_id)
    if sequence.group_id != group_id:
        raise NotAMember(sequence_id=sequence_id, group_id=group_id)
    group = group_locked(group_id)
    Sequence.objects.filter(pk=sequence_id).update(group=None, is_group_excluded=True)
    return GroupOperation.objects.create(
        kind=OperationKind.REMOVE_MEMBER,
        group=group,
        sequence=sequence,
        actor=actor,
        details={"sequence_id": sequence_id},
    )


def _last_removal(sequence_id: int) -> GroupOperation | None:
    """The latest operation that took the sequence out of a group (a removal or a reject)."""
    return (
        GroupOperation.objects.filter(
            sequence_id=sequence_id,
            kind__in=[OperationKind.REMOVE_MEMBER, OperationKind.REJECT],
        )
        .order_by("-created_at", "-id")
        .first()
    )


@transaction.atomic
def group_member_reinclude(*, sequence_id: int, actor) -> GroupOperation | None:
    """Lift a sequence's exclusion; the next assignment run may group it again (SPEC §5.6).

    Only `is_group_excluded` changes. Idempotent: a sequence that is not excluded returns None
    and nothing is logged. Otherwise logs `reinclude_member` against the group it was last
    removed from (found in the log; NULL if none). Raises SequenceNotFound.
    """
    sequence = sequence_locked(sequence_id)
    if not sequence.is_group_excluded:
        return None
    Sequence.objects.filter(pk=sequence_id).update(is_group_excluded=False)
    removal = _last_removal(sequence_id)
    return GroupOperation.objects.create(
        kind=OperationKind.REINCLUDE_MEMBER,
        group_id=removal.group_id if removal else None,
        sequence=sequence,
        actor=actor,
        details={"sequence_id": sequence_id},
    )
