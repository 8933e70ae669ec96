"""The platform pull (SPEC §8.3): the listed sequences of some days, each through the shared
pipeline.

`platform_pull` reads cameras and organisations once, lists the days' sequences (filtered and
capped as asked), and hands every one to `record_process`, which owns all database work
(idempotency, one transaction per sequence): a present sequence costs no detections call and
no download. A failed listing or sequence is a record error; a refused login stops the pull.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sequences.importing.ahead import PipelineItem, records_process
from sequences.importing.pipeline import RecordError, SequenceRecord
from sequences.importing.platform_client import (
    PlatformAuthError,
    PlatformClient,
    PlatformError,
    is_integer,
)
from sequences.importing.platform_records import (
    PlatformMetadata,
    detections_call_limit,
    platform_record,
)
from sequences.importing.report import ImportReport
from sequences.payloads import NOT_AN_INTEGER
from sequences.services import AutogenParams

if TYPE_CHECKING:
    from sequences.importing.cli import ProgressLine

DAY_REF = "day {day}"
LISTING_ITEM_REF = "day {day} item {index}"
SEQUENCE_REF = "sequence {sequence_id}"


@dataclass(frozen=True)
class PullOptions:
    """What `pull_sequences` asks for (SPEC §8.3, §8.4)."""

    source_api: str
    days: list[date]
    autogen: AutogenParams
    sequence_ids: frozenset[int] | None = None
    max_sequences: int | None = None
    detections_limit: int = 30


@dataclass
class _Listed:
    ref: str
    key: tuple[str, int] | None
    sequence: Any


def _listed_sequences(
    client: PlatformClient, options: PullOptions, report: ImportReport
) -> list[_Listed]:
    """The sequences to pull, day by day, filtered by `sequence_ids`, capped at `max_sequences`.

    A day whose listing fails for good is reported as a failed listing and the walk goes on;
    a rejected login stops everything (PlatformAuthError).
    """
    listed: list[_Listed] = []
    for day in options.days:
        try:
            items = client.sequences_of_day(day)
        except PlatformAuthError:
            raise
        except PlatformError as exc:
            report.listing_failed(DAY_REF.format(day=day.isoformat()), str(exc))
            continue
        for index, item in enumerate(items):
            sequence_id = item.get("id") if isinstance(item, dict) else None
            if not is_integer(sequence_id):
                if options.sequence_ids is None:
                    ref = LISTING_ITEM_REF.format(day=day.isoformat(), index=index)
                    listed.append(_Listed(ref, None, item))
            elif options.sequence_ids is None or sequence_id in options.sequence_ids:
                ref = SEQUENCE_REF.format(sequence_id=sequence_id)
                listed.append(_Listed(ref, (options.source_api, sequence_id), item))
            if options.max_sequences is not None and len(listed) >= options.max_sequences:
                return listed
    return listed


def _as_record_error(call: Callable[[], Any]) -> Any:
    """Run a platform call; a failure that is not an auth failure fails only this record."""
    try:
        return call()
    except PlatformAuthError:
        raise
    except PlatformError as exc:
        raise RecordError([((), str(exc))]) from exc


def _record_builder(
    client: PlatformClient,
    listed: _Listed,
    *,
    metadata: PlatformMetadata,
    options: PullOptions,
    report: ImportReport,
) -> Callable[[], SequenceRecord]:
    """The `build` step of the pipeline for one listed sequence (run only when not present)."""

    def build() -> SequenceRecord:
        if listed.key is None:
            raise RecordError([(("id",), NOT_AN_INTEGER)])
        sequence_id = listed.key[1]
        pulled = platform_record(
            listed.sequence,
            metadata=metadata,
            source_api=options.source_api,
            wanted=options.detections_limit,
            fetch_rows=lambda: _as_record_error(
                lambda: client.detections(
                    sequence_id, limit=detections_call_limit(options.detections_limit)
                )
            ),
            fetch_image=lambda url, key: _as_record_error(lambda: client.image(url, name=key)),
        )
        report.boxes_dropped += pulled.boxes_dropped
        report.fields_ignored += pulled.fields_ignored
        report.warnings.extend(f"{listed.ref}: {warning}" for warning in pulled.warnings)
        return pulled.record

    return build


def platform_pull(
    *,
    client: PlatformClient,
    options: PullOptions,
    report: ImportReport,
    progress: ProgressLine | None = None,
) -> None:
    """Pull the platform's sequences of `options.days` into the database, counting in `report`.

    Cameras and organisations are read once; every listed sequence then goes through the
    shared pipeline (`records_process`, the next sequence fetched while one is written):
    present ones are counted `already_present` before any detections call or download; the
    others are mapped, their images downloaded, and written whole in one transaction, or
    reported as a record error with nothing left behind.
    Raises PlatformError when the metadata cannot be read and PlatformAuthError when a login
    is refused for good (fatal: the caller stops and reports).
    """
    metadata = PlatformMetadata.fetch(client)
    listed = _listed_sequences(client, options, report)
    if progress is not None:
        progress.total = len(listed)
    records_process(
        report,
        (
            PipelineItem(
                ref=item.ref,
                key=item.key,
                build=_record_builder(
                    client, item, metadata=metadata, options=options, report=report
                ),
            )
            for item in listed
        ),
        autogen=options.autogen,
        after=(lambda _: progress.tick(report)) if progress is not None else None,
    )
