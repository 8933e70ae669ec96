"""Row locks, taken in the one lock order of SPEC §5.1: sequence rows (ascending id), then the
group row, then annotation rows (ascending sequence id).

Sequence and group rows are locked `FOR NO KEY UPDATE` (`no_key=True`): the writes never change a
key, and the weaker lock lets inserts that merely reference a locked row (a fan-out's member
rows referencing a sequence whose own save waits for the group) pass instead of deadlocking.
`select_for_update` is a no-op on SQLite, whose transactions take the write lock when they start.

The group model is reached through `Sequence.group`, so `sequences` never imports `groups`.
Every function runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from sequences.models import Sequence


def group_model() -> type[models.Model]:
    return Sequence._meta.get_field("group").related_model


def sequence_lock(sequence_id: int) -> Sequence | None:
    """The sequence row, locked; None when it does not exist."""
    return Sequence.objects.select_for_update(no_key=True).filter(pk=sequence_id).first()


def sequences_lock(sequence_ids: Iterable[int]) -> dict[int, int | None]:
    """Lock the sequence rows in ascending id; `{sequence_id: group_id}` of those that exist."""
    return dict(
        Sequence.objects.select_for_update(no_key=True)
        .filter(pk__in=list(sequence_ids))
        .order_by("pk")
        .values_list("pk", "group_id")
    )


def group_lock(group_id: int) -> Any | None:
    """The group row, locked; None when it does not exist."""
    return group_model().objects.select_for_update(no_key=True).filter(pk=group_id).first()


def sequence_and_group_lock(sequence_id: int) -> tuple[Sequence, Any | None]:
    """Lock a sequence, then its group row: `(sequence, group or None)`.

    Raises `Sequence.DoesNotExist`. Holding the group before an annotation is read means a
    concurrent fan-out (which holds the group while it writes members) cannot create that
    annotation between the read and the write.
    """
    sequence = Sequence.objects.select_for_update(no_key=True).get(pk=sequence_id)
    group = group_lock(sequence.group_id) if sequence.group_id is not None else None
    return sequence, group
