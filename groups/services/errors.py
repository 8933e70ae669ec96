"""The errors of the groups services, their messages, the field checks of id lists, and the
locked lookups that raise the not-found errors.

Every error is a `sequences.services.ServiceError` with its `kind`; the API and the pages turn
kinds into HTTP statuses (`annotation_site.errors`). Field errors name their `loc` as SPEC §3.5
lists them (`("body", "sequence_ids", 2)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from groups.models import SequenceGroup
from sequences.models import Sequence
from sequences.payloads import BIGINT_MAX, Loc
from sequences.services import ErrorKind, ServiceError
from sequences.services.locks import group_lock, sequence_lock

GROUP_NOT_FOUND = "Sequence group {group_id} not found"
SEQUENCE_NOT_FOUND = "Sequence {sequence_id} not found"
NOT_A_MEMBER = "Sequence {sequence_id} is not a member of group {group_id}"
NOT_MEMBERS = "Sequences {sequence_ids} do not belong to group {group_id}"
LABEL_CONFLICT = (
    "Group {group_id} already carries a different label ({label}). Send force=true to replace "
    "the group's label and apply the new label to its writable members; members in a locked "
    "stage are never changed, even with force."
)
FORCE_PERMISSION = "groups.change_sequencegroup"
FORCE_FORBIDDEN = (
    "Replacing the label of group {group_id} (force) needs staff or the permission "
    f"{FORCE_PERMISSION}."
)
OPERATION_NOT_FOUND = "Operation {operation_id} not found"
ALREADY_UNDONE = "Operation {operation_id} has already been undone (by operation {undo_id})."
UNDO_OF_UNDO = "Undo operations cannot be undone."
ANNOTATIONS_NOT_FOUND = "Sequence annotations {annotation_ids} not found"
NOT_AN_UNCHECKED_MACHINE_LABEL = "sequence {sequence_id} does not carry an unchecked machine label"

# Field messages of an invalid request (SPEC §3.5).
IDS_REQUIRED = "must be a non-empty list of ids"
TOO_MANY_IDS = "must list at most {limit} ids"
NOT_AN_ID = "must be an integer"


class GroupServiceError(ServiceError):
    """A refused request of the groups app."""


class FieldErrors(GroupServiceError):
    """An invalid request: every field at fault, as `(loc, msg)` pairs."""

    kind = ErrorKind.INVALID

    def __init__(self, errors: Iterable[tuple[Loc, str]]):
        super().__init__(errors=errors)


class GroupNotFound(GroupServiceError):
    kind = ErrorKind.NOT_FOUND

    def __init__(self, group_id: int):
        super().__init__(GROUP_NOT_FOUND.format(group_id=group_id))


class SequenceNotFound(GroupServiceError):
    kind = ErrorKind.NOT_FOUND

    def __init__(self, sequence_id: int):
        super().__init__(SEQUENCE_NOT_FOUND.format(sequence_id=sequence_id))


class AnnotationNotFound(GroupServiceError):
    kind = ErrorKind.NOT_FOUND

    def __init__(self, annotation_ids: list[int]):
        super().__init__(ANNOTATIONS_NOT_FOUND.format(annotation_ids=annotation_ids))


class OperationNotFound(GroupServiceError):
    kind = ErrorKind.NOT_FOUND

    def __init__(self, operation_id: int):
        super().__init__(OPERATION_NOT_FOUND.format(operation_id=operation_id))


class NotAMember(GroupServiceError):
    kind = ErrorKind.REFUSED

    def __init__(self, *, sequence_id: int, group_id: int):
        super().__init__(NOT_A_MEMBER.format(sequence_id=sequence_id, group_id=group_id))


class NotMembers(GroupServiceError):
    kind = ErrorKind.REFUSED

    def __init__(self, *, sequence_ids: list[int], group_id: int):
        super().__init__(NOT_MEMBERS.format(sequence_ids=sequence_ids, group_id=group_id))


class GroupLabelConflict(GroupServiceError):
    kind = ErrorKind.CONFLICT

    def __init__(self, *, group_id: int, label):
        super().__init__(LABEL_CONFLICT.format(group_id=group_id, label=label))


class ForceForbidden(GroupServiceError):
    kind = ErrorKind.FORBIDDEN

    def __init__(self, *, group_id: int):
        super().__init__(FORCE_FORBIDDEN.format(group_id=group_id))


class AlreadyUndone(GroupServiceError):
    kind = ErrorKind.CONFLICT

    def __init__(self, *, operation_id: int, undo_id: int):
        super().__init__(ALREADY_UNDONE.format(operation_id=operation_id, undo_id=undo_id))


class UndoOfUndo(GroupServiceError):
    kind = ErrorKind.CONFLICT

    def __init__(self):
        super().__init__(UNDO_OF_UNDO)


class BulkInvalid(FieldErrors):
    """A bulk request refused before anything is read (SPEC §5.4, first row)."""


class CheckInvalid(FieldErrors):
    """A malformed check or reject request (SPEC §5.9)."""


class NotAnUncheckedMachineLabel(FieldErrors):
    def __init__(self, sequence_id: int):
        message = NOT_AN_UNCHECKED_MACHINE_LABEL.format(sequence_id=sequence_id)
        super().__init__([(("body", "sequence_id"), message)])


# --- Field checks ------------------------------------------------------------------------------


def is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= BIGINT_MAX


def id_list_errors(value: Any, loc: Loc) -> list[tuple[Loc, str]]:
    """Errors of a required, non-empty list of integer ids, at most GROUPS_MAX_REQUEST_IDS."""
    if not isinstance(value, list) or not value:
        return [(loc, IDS_REQUIRED)]
    limit = settings.GROUPS_MAX_REQUEST_IDS
    if len(value) > limit:
        return [(loc, TOO_MANY_IDS.format(limit=limit))]
    return [((*loc, index), NOT_AN_ID) for index, item in enumerate(value) if not is_id(item)]


# --- Locked lookups (SPEC §5.1 lock order) -------------------------------------------------------


def group_locked(group_id: int) -> SequenceGroup:
    """The group row, locked; GroupNotFound when it does not exist."""
    group = group_lock(group_id)
    if group is None:
        raise GroupNotFound(group_id)
    return group


def sequence_locked(sequence_id: int) -> Sequence:
    """The sequence row, locked; SequenceNotFound when it does not exist."""
    sequence = sequence_lock(sequence_id)
    if sequence is None:
        raise SequenceNotFound(sequence_id)
    return sequence
