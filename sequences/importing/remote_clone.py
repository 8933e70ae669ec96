"""The clone (`clone_sequences`): sequences of another annotation API, with their detections,
images and (optionally) annotations, through the shared import pipeline.

`remote_clone` lists the remote's sequences first (by stage, dates and alert ids, capped), so
that marking them on the remote while cloning cannot shift the pages; then each one goes
through the pipeline (`records_process`, the next one fetched while one is written): a
sequence already cloned from this remote costs no further call, a new one is fetched
(detections, images) and written whole in one transaction together with its `RemoteCopy` (the
fingerprint of its remote annotation), or reported with nothing left behind.
Only once a sequence is stored here is its remote annotation set to `--mark-source-stage`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sequences.importing.ahead import PipelineItem, records_process
from sequences.importing.pipeline import RecordError, SequenceRecord
from sequences.importing.platform_client import PlatformError
from sequences.importing.remote_client import RemoteAuthError, RemoteClient
from sequences.importing.remote_records import (
    identity_errors,
    read_fingerprint,
    remote_key,
    remote_record,
)
from sequences.importing.report import EXIT_RECORD_ERRORS, ImportReport
from sequences.models import ProcessingStage, RemoteCopy, Sequence
from sequences.services import AutogenParams
from sequences.services.remote_copies import remote_copy_create, remote_copy_seen

if TYPE_CHECKING:
    from sequences.importing.cli import ProgressLine

ALL_STAGES = "all"
NO_ANNOTATION = "no_annotation"
CLONE_STAGES = (
    NO_ANNOTATION,
    ProcessingStage.IMPORTED,
    ProcessingStage.READY_TO_ANNOTATE,
    ProcessingStage.UNDER_ANNOTATION,
    ProcessingStage.SEQ_ANNOTATION_DONE,
    ProcessingStage.IN_REVIEW,
    ProcessingStage.NEEDS_MANUAL,
    ProcessingStage.ANNOTATED,
    ALL_STAGES,
)
SEQUENCE_REF = "remote sequence {remote_id} ({source_api} {alert_api_id})"
ITEM_REF = "listed item {index}"
PRESENT_FROM_ELSEWHERE = (
    "is here already, not cloned from this remote (pulled from the platform, or cloned from "
    "another remote): left as it is, and never pushed back"
)
MARK_FAILED = "cloned, but its remote annotation could not be set to {stage}: {reason}"


@dataclass(frozen=True)
class CloneOptions:
    """What `clone_sequences` asks for."""

    remote_url: str
    autogen: AutogenParams
    stage: str = ProcessingStage.READY_TO_ANNOTATE
    alert_ids: frozenset[int] | None = None
    max_sequences: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    mark_stage: str | None = None
    with_annotations: bool = False


@dataclass
class CloneReport(ImportReport):
    """An import report with what only a clone does: sequences present here from another
    source (`conflicts`), and the remote annotations set to `--mark-source-stage`."""

    conflicts: int = 0
    marked: int = 0
    marks_failed: int = 0
    listed: int = 0
    missing_ids: list[int] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        code = super().exit_code
        if code == 0 and self.marks_failed:
            return EXIT_RECORD_ERRORS
        return code

    def render(self) -> str:
        lines = super().render().splitlines()
        extra = [f"remote: listed={self.listed} conflicts={self.conflicts}"]
        if self.marked or self.marks_failed:
            extra.append(f"marked: done={self.marked} failed={self.marks_failed}")
        if self.missing_ids:
            extra.append(f"not found on the remote: {', '.join(map(str, self.missing_ids))}")
        return "\n".join([*lines[:1], *extra, *lines[1:]])

    def as_dict(self) -> dict[str, Any]:
        data = super().as_dict()
        data["sequences"]["conflicts"] = self.conflicts
        data["remote"] = {
            "listed": self.listed,
            "marked": self.marked,
            "marks_failed": self.marks_failed,
            "missing_ids": self.missing_ids,
        }
        data["exit_code"] = self.exit_code
        return data


def listing_params(options: CloneOptions) -> dict[str, Any]:
    """The query of the remote's sequence list: stage, dates, oldest first, with annotations."""
    params: dict[str, Any] = {
        "order_by": "recorded_at",
        "order_direction": "asc",
        "include_annotation": "true",
    }
    if options.stage != ALL_STAGES:
        params["processing_stage"] = options.stage
    if options.date_from is not None:
        params["recorded_at_gte"] = datetime.combine(options.date_from, time.min, UTC).isoformat()
    if options.date_to is not None:
        params["recorded_at_lte"] = datetime.combine(options.date_to, time.max, UTC).isoformat()
    return params


def _listed(client: RemoteClient, options: CloneOptions) -> Iterator[Any]:
    """The remote sequences to clone, filtered by alert id, capped at `max_sequences`."""
    count = 0
    for item in client.pages("/sequences/", params=listing_params(options)):
        if options.alert_ids is not None:
            key = remote_key(item)
            if key is None or key[1] not in options.alert_ids:
                continue
        yield item
        count += 1
        if options.max_sequences is not None and count >= options.max_sequences:
            return


def clone_count(*, client: RemoteClient, options: CloneOptions) -> int:
    """How many remote sequences a clone with `options` would consider."""
    if options.alert_ids is None:
        total = client.total("/sequences/", params=listing_params(options))
        if total is not None:
            return total if options.max_sequences is None else min(total, options.max_sequences)
    return sum(1 for _ in _listed(client, options))


@dataclass
class _Clone:
    """One listed remote sequence on its way through the pipeline."""

    item: dict[str, Any]
    ref: str
    key: tuple[str, int]
    fingerprint: str = ""
    alert_ids: dict[int, int] = field(default_factory=dict)
    copy: RemoteCopy | None = None


def _as_record_error(call):
    try:
        return call()
    except RemoteAuthError:
        raise
    except PlatformError as exc:
        raise RecordError([((), str(exc))]) from exc


def _remote_annotation(client: RemoteClient, remote_id: int, item: dict) -> dict | None:
    """The remote sequence's annotation: listed with it, or asked for (older servers)."""
    if "annotation" in item:
        return item["annotation"] if isinstance(item["annotation"], dict) else None
    items = client.call(
        "GET", "/annotations/sequences/", params={"sequence_id": remote_id, "page": 1, "size": 1}
    ).get("items", [])
    return items[0] if items else None


def _builder(client: RemoteClient, clone: _Clone, options: CloneOptions, report: CloneReport):
    def build() -> SequenceRecord:
        remote_id = clone.item["id"]  # an integer: `remote_key` checked it
        detections = _as_record_error(
            lambda: list(
                client.pages(
                    "/detections/",
                    params={
                        "sequence_id": remote_id,
                        "order_by": "recorded_at",
                        "order_direction": "asc",
                    },
                )
            )
        )
        annotation = _as_record_error(lambda: _remote_annotation(client, remote_id, clone.item))
        clone.item["annotation"] = annotation

        def fetch_image(row: dict[str, Any]) -> bytes:
            name = f"detection {row.get('id')}"
            return _as_record_error(lambda: client.image(client.image_url(row), name=name))

        mapped = remote_record(
            clone.item,
            detections=detections,
            annotation=annotation,
            with_annotation=options.with_annotations,
            fetch_image=fetch_image,
        )
        clone.fingerprint, clone.alert_ids = mapped.fingerprint, mapped.alert_ids
        report.fields_ignored += len(mapped.warnings)
        report.warnings.extend(f"{clone.ref}: {warning}" for warning in mapped.warnings)
        return mapped.record

    return build


def _stored(clone: _Clone, options: CloneOptions):
    def on_stored(sequence: Sequence) -> None:
        clone.copy = remote_copy_create(
            sequence=sequence,
            remote_url=options.remote_url,
            remote_sequence_id=clone.item["id"],
            remote_fingerprint=clone.fingerprint,
        )

    return on_stored


def _mark(client: RemoteClient, clone: _Clone, stage: str, report: CloneReport) -> None:
    """Set the remote annotation of a sequence just cloned to `stage` (created when the remote
    has none), and remember the result's fingerprint as this site's own change."""
    annotation = clone.item.get("annotation")
    try:
        if isinstance(annotation, dict) and isinstance(annotation.get("id"), int):
            answer = client.call(
                "PATCH",
                f"/annotations/sequences/{annotation['id']}",
                json={"processing_stage": stage},
            )
        else:
            answer = client.call(
                "POST",
                "/annotations/sequences/",
                json={
                    "sequence_id": clone.item["id"],
                    "processing_stage": stage,
                    "has_missed_smoke": False,
                    "is_unsure": False,
                    "annotation": {"sequences_bbox": []},
                },
                ok=(200, 201),
            )
    except RemoteAuthError:
        raise
    except PlatformError as exc:
        report.marks_failed += 1
        report.errors.append(f"{clone.ref}: {MARK_FAILED.format(stage=stage, reason=exc)}")
        return
    remote_copy_seen(copy=clone.copy, remote_fingerprint=read_fingerprint(answer, clone.alert_ids))
    report.marked += 1


def _local_state(key: tuple[str, int], remote_url: str) -> str | None:
    """None when the sequence is not here, "cloned" when cloned from `remote_url`, else
    "other" (pulled from the platform, or cloned from another remote)."""
    found = list(
        Sequence.objects.filter(source_api=key[0], alert_api_id=key[1]).values_list(
            "remote_copy__remote_url", flat=True
        )[:1]
    )
    if not found:
        return None
    return "cloned" if found[0] == remote_url else "other"


def remote_clone(
    *,
    client: RemoteClient,
    options: CloneOptions,
    report: CloneReport,
    progress: ProgressLine | None = None,
) -> None:
    """Clone the remote sequences `options` select into this site, counting in `report`.

    Raises PlatformError when the listing cannot be read and RemoteAuthError when the login is
    refused for good (fatal: the caller stops and reports what was done).
    """
    listed = list(_listed(client, options))
    report.listed = len(listed)
    if options.alert_ids is not None:
        found = {key[1] for key in map(remote_key, listed) if key is not None}
        report.missing_ids = sorted(options.alert_ids - found)
    if progress is not None:
        progress.total = len(listed)

    def tick() -> None:
        if progress is not None:
            progress.tick(report)

    todo: list[PipelineItem] = []
    clones: dict[int, _Clone] = {}
    for index, item in enumerate(listed):
        key = remote_key(item)
        if key is None:
            report.record_failed(ITEM_REF.format(index=index), identity_errors(item))
            tick()
            continue
        ref = SEQUENCE_REF.format(remote_id=item.get("id"), source_api=key[0], alert_api_id=key[1])
        clone = _Clone(item=item, ref=ref, key=key)
        state = _local_state(key, options.remote_url)
        if state == "cloned":
            report.already_present += 1
            tick()
        elif state == "other":
            report.conflicts += 1
            report.warnings.append(f"{clone.ref}: {PRESENT_FROM_ELSEWHERE}")
            tick()
        else:
            pipeline_item = PipelineItem(
                ref=ref,
                key=key,
                build=_builder(client, clone, options, report),
                on_stored=_stored(clone, options),
            )
            clones[id(pipeline_item)] = clone
            todo.append(pipeline_item)

    def after(pipeline_item: PipelineItem) -> None:
        clone = clones[id(pipeline_item)]
        if clone.copy is not None and options.mark_stage:
            _mark(client, clone, options.mark_stage, report)
        tick()

    # The next sequence is fetched while one is written; marks run here, once it is stored.
    records_process(report, todo, autogen=options.autogen, after=after)
