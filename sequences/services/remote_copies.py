"""Writes of the link between a cloned sequence and the annotation API it came from
(`RemoteCopy`): made with the sequence at the clone, updated when this site changes the remote
annotation (a stage mark, a push)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sequences.models import RemoteCopy, Sequence


def remote_copy_create(
    *, sequence: Sequence, remote_url: str, remote_sequence_id: int, remote_fingerprint: str
) -> RemoteCopy:
    """Record that `sequence` is the clone of `remote_sequence_id` at `remote_url`, whose
    annotation had `remote_fingerprint` (empty: none). Runs in the import's transaction."""
    return RemoteCopy.objects.create(
        sequence=sequence,
        remote_url=remote_url,
        remote_sequence_id=remote_sequence_id,
        remote_fingerprint=remote_fingerprint,
    )


def remote_copy_seen(*, copy: RemoteCopy, remote_fingerprint: str) -> None:
    """The remote annotation is now `remote_fingerprint` by this site's own doing (a stage
    mark after the clone): a later push does not take that change for someone else's."""
    RemoteCopy.objects.filter(pk=copy.pk).update(remote_fingerprint=remote_fingerprint)
    copy.remote_fingerprint = remote_fingerprint


@transaction.atomic
def remote_copy_pushed(
    *, copy: RemoteCopy, remote_fingerprint: str, pushed_fingerprint: str
) -> None:
    """A push landed: the local annotation `pushed_fingerprint` was sent and the remote one
    is now `remote_fingerprint`. A second push of unchanged labels sends nothing."""
    now = timezone.now()
    RemoteCopy.objects.filter(pk=copy.pk).update(
        remote_fingerprint=remote_fingerprint,
        pushed_fingerprint=pushed_fingerprint,
        pushed_at=now,
        pushes=F("pushes") + 1,
    )
    copy.remote_fingerprint = remote_fingerprint
    copy.pushed_fingerprint = pushed_fingerprint
    copy.pushed_at = now
