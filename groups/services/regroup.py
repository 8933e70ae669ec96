"""What merging and splitting groups share: the locks they take, where a retired group's
members go, and the undo of the memberships they changed.

Lock order (SPEC §5.1, with two groups): the member sequences of every group involved
(ascending id), then the group rows in ascending id, then annotation rows (inside the stamping).
A concurrent assignment batch locks its candidates (sequences in no group, so never ours) and
then the groups it joins in ascending id, and a human save locks its sequence then its group:
both orders agree with this one, so no pair of them can deadlock. A sequence that joined one
of our groups between the member lock and the group lock (an assignment batch that committed
in between) is caught after the group lock, and the locks are taken again from the start in a
savepoint, so that lock is never waited for while a group is held.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q

from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services.errors import GroupNotFound
from sequences.models import Sequence

# Times the locks are taken again when members keep arriving meanwhile (an assignment batch
# commits within a second; three misses in a row mean something is wrong: the last try then
# simply waits for the newcomers' rows).
LOCK_ATTEMPTS = 3

REGROUP_KINDS = (OperationKind.MERGE, OperationKind.SPLIT)

LEFT_ALONE_MOVED = "moved to another group since"


class _MembersArrived(Exception):
    """Members joined a group between the member lock and the group lock."""


def groups_lock(
    group_ids: list[int], *, sequence_ids: list[int] | None = None
) -> dict[int, SequenceGroup]:
    """Lock the members of `group_ids` (and `sequence_ids`), then the groups, in id order.

    Returns the locked groups by id; GroupNotFound names the first one missing. Runs in the
    caller's transaction (each attempt in a savepoint, so a retry releases what it took).
    """
    for attempt in range(LOCK_ATTEMPTS):
        try:
            with transaction.atomic():
                return _groups_lock_once(
                    group_ids, sequence_ids or [], last=attempt == LOCK_ATTEMPTS - 1
                )
        except _MembersArrived:
            continue
    raise AssertionError("unreachable: the last attempt never raises _MembersArrived")


def _groups_lock_once(
    group_ids: list[int], sequence_ids: list[int], *, last: bool
) -> dict[int, SequenceGroup]:
    # The members are selected by their predicate (a subquery-sized statement, never a list
    # of every member's id); being locked, none of them can leave meanwhile.
    locked = (
        Sequence.objects.select_for_update(no_key=True)
        .filter(Q(group_id__in=group_ids) | Q(pk__in=sequence_ids))
        .order_by("pk")
        .values_list("group_id", flat=True)
    )
    locked_members = sum(1 for group_id in locked if group_id in group_ids)
    groups = {
        group.pk: group
        for group in SequenceGroup.objects.select_for_update(no_key=True)
        .filter(pk__in=group_ids)
        .order_by("pk")
    }
    for group_id in group_ids:
        if group_id not in groups:
            raise GroupNotFound(group_id)
    if not last and Sequence.objects.filter(group_id__in=group_ids).count() != locked_members:
        raise _MembersArrived()
    return groups


def live_group_id(group_id: int | None) -> int | None:
    """The group that holds a group's members now: itself, or the group it was merged into
    (following merges of merges); None when the group no longer exists."""
    seen: set[int] = set()
    while group_id is not None and group_id not in seen:
        seen.add(group_id)
        row = SequenceGroup.objects.filter(pk=group_id).values_list("merged_into_id").first()
        if row is None:
            return None
        if row[0] is None:
            return group_id
        group_id = row[0]
    return group_id


def retire(group: SequenceGroup, *, into: SequenceGroup) -> None:
    """Mark an emptied group as merged into `into` (the assignment passes it by)."""
    group.merged_into = into
    group.save(update_fields=["merged_into", "updated_at"])


# --- undo --------------------------------------------------------------------------------------


def regroup_membership_undo(
    operation: GroupOperation,
) -> tuple[SequenceGroup | None, list[int], list[dict[str, Any]], dict[str, Any]]:
    """Move the members a merge or split moved back where they were, as far as they still are
    where it put them; revive the group a merge retired, retire the group a split made when the
    undo empties it. Takes the locks (above) itself.

    Returns `(the operation's group, locked; sequences moved back; left alone; what the undo
    records in its details)`.
    """
    details = operation.details
    moved = sorted(details.get("moved", []))
    if operation.kind == OperationKind.MERGE:
        home_id, away_id = details["source_group_id"], operation.group_id
    else:
        home_id, away_id = operation.group_id, details["new_group_id"]
    ids = sorted({gid for gid in (home_id, away_id) if gid is not None})
    present = set(SequenceGroup.objects.filter(pk__in=ids).values_list("pk", flat=True))
    try:
        groups = groups_lock(sorted(present), sequence_ids=moved)
    except GroupNotFound:  # deleted between the read above and the lock
        groups = {}
    home, away = groups.get(home_id), groups.get(away_id)
    group = groups.get(operation.group_id) if operation.group_id else None
    if home is None or away is None:
        reason = "group no longer exists"
        return group, [], [{"sequence_id": sid, "reason": reason} for sid in moved], {}
    back = list(
        Sequence.objects.filter(pk__in=moved, group_id=away.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    target = home
    if home.merged_into_id is not None and operation.kind == OperationKind.SPLIT:
        # The split's group was merged away since: its members went there, so do these.
        target = SequenceGroup.objects.get(pk=live_group_id(home.pk))
    if operation.kind == OperationKind.MERGE and home.merged_into_id == away.pk:
        home.merged_into = None
        home.save(update_fields=["merged_into", "updated_at"])
    Sequence.objects.filter(pk__in=back).update(group=target)
    left_alone = [
        {"sequence_id": sid, "reason": LEFT_ALONE_MOVED} for sid in moved if sid not in set(back)
    ]
    recorded: dict[str, Any] = {"moved_back": back, "moved_back_to": target.pk}
    if (
        operation.kind == OperationKind.SPLIT
        and away.merged_into_id is None
        and not Sequence.objects.filter(group_id=away.pk).exists()
    ):
        retire(away, into=target)
        recorded["retired_group_id"] = away.pk
    return group, back, left_alone, recorded
