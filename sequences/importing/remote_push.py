"""The push (`push_annotations`): the labels people stand behind, sent back to the annotation
API the sequences were cloned from.

What is sent: the annotation of each sequence cloned from that remote, at a done stage
(`seq_annotation_done`, `in_review`, `annotated`), labelled by a person (a human save) or by a
machine and confirmed in the check queue (unchecked machine labels only when asked). Each is
matched on the remote by (`source_api`, `alert_api_id`), its boxes moved to the remote's
detection ids through the detections' `alert_api_id`, and created or updated there.

Conflicts: the remote annotation's fingerprint is compared with the one remembered at the clone
(or after this site's last push or stage mark); a different one means someone changed it there
since, and it is left alone unless forced. After a push the fingerprint of what was sent is
remembered, so a second push sends nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from sequences.importing.pipeline import remap_annotation
from sequences.importing.platform_client import PlatformError
from sequences.importing.remote_client import (
    RemoteAuthError,
    RemoteClient,
    RemoteHTTPError,
)
from sequences.importing.remote_records import annotation_fingerprint, read_fingerprint
from sequences.importing.report import EXIT_FATAL, EXIT_OK, EXIT_RECORD_ERRORS
from sequences.models import (
    DONE_STAGES,
    MACHINE_SOURCES,
    Detection,
    LabelSource,
    RemoteCopy,
    SequenceAnnotation,
)
from sequences.services.remote_copies import remote_copy_pushed

if TYPE_CHECKING:
    from sequences.importing.cli import ProgressLine

SEQUENCE_REF = "sequence {source_api} {alert_api_id}"
NOT_ON_REMOTE = "not found on the remote"
DETECTION_NOT_ON_REMOTE = "detection {alert_api_id} is not on the remote"
CONFLICT = "the remote annotation changed since the clone; left as it is (--force overwrites it)"
# How far apart two sites' times of one sequence may be (one may drop microseconds).
MATCH_WINDOW = timedelta(seconds=1)


@dataclass(frozen=True)
class PushOptions:
    remote_url: str
    max_sequences: int | None = None
    include_unchecked: bool = False
    force: bool = False
    dry_run: bool = False


@dataclass
class PushReport:
    """What one push did; `created`/`updated` are remote annotations (would be, dry run)."""

    considered: int = 0
    created: int = 0
    updated: int = 0
    already_present: int = 0
    skipped: int = 0
    failed: int = 0
    conflicts: int = 0
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def record_failed(self, ref: str, message: str) -> None:
        self.failed += 1
        self.errors.append(f"{ref}: {message}")

    @property
    def exit_code(self) -> int:
        return EXIT_RECORD_ERRORS if self.failed or self.conflicts else EXIT_OK

    def render(self) -> str:
        lines = [
            f"annotations{' (dry run)' if self.dry_run else ''}: created={self.created} "
            f"updated={self.updated} already_present={self.already_present} "
            f"skipped={self.skipped} failed={self.failed} conflicts={self.conflicts}",
        ]
        for title, items in (("errors", self.errors), ("warnings", self.warnings)):
            if items:
                lines.append(f"{title}:")
                lines.extend(f"  {item}" for item in items)
        return "\n".join(lines)

    def as_dict(self, *, fatal: str | None = None) -> dict[str, Any]:
        return {
            "annotations": {
                "considered": self.considered,
                "created": self.created,
                "updated": self.updated,
                "already_present": self.already_present,
                "skipped": self.skipped,
                "failed": self.failed,
                "conflicts": self.conflicts,
            },
            "dry_run": self.dry_run,
            "errors": self.errors,
            "warnings": self.warnings,
            "fatal_error": fatal,
            "exit_code": EXIT_FATAL if fatal else self.exit_code,
        }


# --- What is sent -----------------------------------------------------------------------------


def pushable(annotation: SequenceAnnotation, *, include_unchecked: bool) -> bool:
    """Whether a person stands behind the label: a done stage, and a human save or a machine
    label confirmed in the check queue (any machine label with `include_unchecked`)."""
    if annotation.processing_stage not in DONE_STAGES:
        return False
    if annotation.label_source == LabelSource.HUMAN:
        return True
    if annotation.label_source in MACHINE_SOURCES:
        return include_unchecked or annotation.checked_at is not None
    return False


def _copies(options: PushOptions):
    """The clones of this remote, oldest first, with their sequence and annotation."""
    return (
        RemoteCopy.objects.filter(remote_url=options.remote_url)
        .select_related("sequence", "sequence__annotation")
        .filter(~Q(sequence__annotation=None))
        .order_by("sequence__recorded_at", "sequence_id")
    )


def _local_alert_ids(sequence_id: int) -> dict[int, int]:
    return dict(Detection.objects.filter(sequence_id=sequence_id).values_list("pk", "alert_api_id"))


def local_fingerprint(annotation: SequenceAnnotation, alert_ids: dict[int, int]) -> str:
    return annotation_fingerprint(
        annotation=annotation.annotation,
        processing_stage=annotation.processing_stage,
        has_missed_smoke=annotation.has_missed_smoke,
        is_unsure=annotation.is_unsure,
        alert_ids=alert_ids,
    )


# --- The remote side --------------------------------------------------------------------------


def _is_match(item: Any, sequence) -> bool:
    return (
        isinstance(item, dict)
        and item.get("source_api") == sequence.source_api
        and item.get("alert_api_id") == sequence.alert_api_id
    )


def remote_sequence(client: RemoteClient, copy: RemoteCopy) -> dict[str, Any] | None:
    """The remote sequence of `copy`, matched by (`source_api`, `alert_api_id`): the one it
    was cloned from when it still is that one, else looked up by its time."""
    sequence = copy.sequence
    try:
        item = client.call("GET", f"/sequences/{copy.remote_sequence_id}")
    except RemoteHTTPError as exc:
        if exc.status != 404:
            raise
        item = None
    if _is_match(item, sequence):
        return item
    params = {
        "source_api": sequence.source_api,
        "recorded_at_gte": (sequence.recorded_at - MATCH_WINDOW).isoformat(),
        "recorded_at_lte": (sequence.recorded_at + MATCH_WINDOW).isoformat(),
    }
    return next(
        (i for i in client.pages("/sequences/", params=params) if _is_match(i, sequence)), None
    )


def _remote_state(client: RemoteClient, remote_id: int) -> tuple[dict | None, dict[int, int]]:
    """The remote annotation of a sequence (or None) and its detections' alert ids by id."""
    answer = client.call(
        "GET", "/annotations/sequences/", params={"sequence_id": remote_id, "page": 1, "size": 1}
    )
    items = answer.get("items", []) if isinstance(answer, dict) else answer
    annotation = items[0] if items else None
    detections = {
        row["id"]: row["alert_api_id"]
        for row in client.pages("/detections/", params={"sequence_id": remote_id})
        if isinstance(row, dict) and isinstance(row.get("id"), int)
    }
    return annotation, detections


def _push_one(
    client: RemoteClient, copy: RemoteCopy, options: PushOptions, report: PushReport, ref: str
) -> None:
    annotation = copy.sequence.annotation
    local_ids = _local_alert_ids(copy.sequence_id)
    sent = local_fingerprint(annotation, local_ids)
    if sent == copy.pushed_fingerprint:
        report.already_present += 1
        return
    remote = remote_sequence(client, copy)
    if remote is None:
        report.record_failed(ref, NOT_ON_REMOTE)
        return
    remote_annotation, remote_ids = _remote_state(client, remote["id"])
    current = read_fingerprint(remote_annotation, remote_ids)
    if current == sent:
        if not options.dry_run:
            remote_copy_pushed(copy=copy, remote_fingerprint=current, pushed_fingerprint=sent)
        report.already_present += 1
        return
    if current != copy.remote_fingerprint and not options.force:
        report.conflicts += 1
        report.warnings.append(f"{ref}: {CONFLICT}")
        return
    by_alert = {alert_id: remote_id for remote_id, alert_id in remote_ids.items()}
    try:
        boxes = remap_annotation(remap_annotation(annotation.annotation, local_ids), by_alert)
    except KeyError as exc:
        report.record_failed(ref, DETECTION_NOT_ON_REMOTE.format(alert_api_id=exc.args[0]))
        return
    body = {
        "annotation": boxes,
        "processing_stage": annotation.processing_stage,
        "has_missed_smoke": annotation.has_missed_smoke,
        "is_unsure": annotation.is_unsure,
    }
    if options.dry_run:
        if remote_annotation is None:
            report.created += 1
        else:
            report.updated += 1
        return
    if remote_annotation is None:
        answer = client.call(
            "POST",
            "/annotations/sequences/",
            json={"sequence_id": remote["id"], **body},
            ok=(200, 201),
        )
        report.created += 1
    else:
        answer = client.call(
            "PATCH", f"/annotations/sequences/{remote_annotation['id']}", json=body
        )
        report.updated += 1
    remote_copy_pushed(
        copy=copy,
        remote_fingerprint=read_fingerprint(answer, remote_ids),
        pushed_fingerprint=sent,
    )


def annotations_push(
    *,
    client: RemoteClient,
    options: PushOptions,
    report: PushReport,
    progress: ProgressLine | None = None,
) -> None:
    """Push the labels of the clones of `options.remote_url`, counting in `report`.

    A sequence whose push fails (not on the remote, a detection missing there, a refused
    call) is an error of its own and the push goes on; a refused login stops it
    (RemoteAuthError).
    """
    report.dry_run = options.dry_run
    chosen = []
    for copy in _copies(options).iterator(chunk_size=500):
        if not pushable(copy.sequence.annotation, include_unchecked=options.include_unchecked):
            report.skipped += 1
            continue
        chosen.append(copy)
        if options.max_sequences is not None and len(chosen) >= options.max_sequences:
            break
    report.considered = len(chosen)
    if progress is not None:
        progress.total = len(chosen)
    for copy in chosen:
        sequence = copy.sequence
        ref = SEQUENCE_REF.format(
            source_api=sequence.source_api, alert_api_id=sequence.alert_api_id
        )
        try:
            _push_one(client, copy, options, report, ref)
        except RemoteAuthError:
            raise
        except PlatformError as exc:
            report.record_failed(ref, str(exc))
        if progress is not None:
            progress.tick(report)
