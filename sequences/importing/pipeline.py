"""The import pipeline shared by every source of sequences (SPEC §8.1), and the assignment an
import ends with (SPEC §8.4).

A source (the local export folder in `export_format`, the Pyronear platform in
`platform_pull`) only has to hand over, for each record, a reference for the report, its
natural key and a function that builds a validated `SequenceRecord`. `record_process` then:

1. counts the record `already_present` when its key exists — before any validation or image
   read, so a re-import is cheap;
2. builds the record (validation: `RecordError` lists every problem with its field path);
3. `record_import` loads and checks every image, then writes the organisation, camera,
   sequence, detections, the sequence's motion and the `ready_to_annotate` placeholder (or the
   annotation a clone copies, `AnnotationRecord`) in one transaction, with whatever the source
   records beside them (`on_stored`); image files written are deleted again if anything fails,
   so no half-imported sequence is ever seen.

`assignment_chain` then calls the assignment hook named by `IMPORT_ASSIGNMENT_HOOK` (the groups
app's run; this app never imports the groups app) and records what it returns in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from sequences import payloads
from sequences.importing.report import ChainedAssignment, ImportReport, format_error
from sequences.models import (
    MACHINE_SOURCES,
    WRITABLE_STAGES,
    Detection,
    LabelSource,
    ProcessingStage,
    Sequence,
)
from sequences.payloads import Loc
from sequences.services import (
    STAGE_INVALID,
    AutogenParams,
    SequenceExists,
    annotation_restore_many,
    annotation_write,
    detection_create,
    detection_payload_errors,
    image_check,
    sequence_create,
    sequence_motion_measure,
)

IMAGE_UNREADABLE = "cannot be read: {reason}"
ANNOTATION_DETECTION_UNKNOWN = "detection {alert_api_id} is not one of the sequence's detections"
LABEL_SOURCE_INVALID = f"must be one of {', '.join(LabelSource.values)}, or null"
ASSIGNMENT_NO_RESULT = "the assignment hook returned {value!r}, not a ChainedAssignment"


class RecordError(Exception):
    """A record that cannot be imported; `errors` lists `(loc, message)` for every problem."""

    def __init__(self, errors: list[tuple[Loc, str]]):
        self.errors = errors
        super().__init__("; ".join(format_error(loc, msg) for loc, msg in errors))


# --- Records --------------------------------------------------------------------------------

ImageSource = bytes | Callable[[], bytes]


@dataclass
class DetectionRecord:
    """One image of a sequence. `image` is the bytes or a loader called only when importing.

    A loader may raise OSError or RecordError (e.g. a download that never succeeds); either
    becomes a record error on `detections[i].image`.
    """

    alert_api_id: int
    recorded_at: datetime
    image: ImageSource
    algo_predictions: dict[str, Any]
    others_bboxes: dict[str, Any] | None = None


@dataclass
class AnnotationRecord:
    """An annotation copied with its sequence, as it is (a clone's `--with-annotations`).

    Its boxes name detections by their `alert_api_id` (the only id two sites share); the
    pipeline turns them into this site's detection ids. `label_source` None at a stage past
    `ready_to_annotate` means a person's label (the reference records no provenance).
    """

    annotation: dict[str, Any]
    processing_stage: str
    has_missed_smoke: bool = False
    is_unsure: bool = False
    label_source: str | None = None
    checked_at: datetime | None = None


@dataclass
class SequenceRecord:
    """A validated sequence with its detections, in the shape every source produces."""

    source_api: str
    alert_api_id: int
    organization_id: int
    organization_name: str
    camera_id: int
    camera_name: str
    lat: float
    lon: float
    azimuth: float | int | None
    is_wildfire_alertapi: str | None
    recorded_at: datetime
    last_seen_at: datetime | None
    detections: list[DetectionRecord] = field(default_factory=list)
    # The platform's temporal model (None: not scored, or no version given).
    temporal_model_score: float | None = None
    temporal_model_version: str | None = None
    temporal_api_version: str | None = None
    # The annotation to store instead of the `ready_to_annotate` placeholder.
    annotation: AnnotationRecord | None = None

    def sequence_fields(self) -> dict[str, Any]:
        """Everything but the detections and the annotation: the arguments of
        `sequence_create`."""
        names = (
            item.name for item in fields(self) if item.name not in ("detections", "annotation")
        )
        return {name: getattr(self, name) for name in names}


@dataclass
class ImportedCounts:
    """What `record_import` did with one record."""

    status: str  # "created" | "already_present" | "skipped_empty"
    detections: int = 0
    placeholders: int = 0


# --- The pipeline ---------------------------------------------------------------------------


def record_exists(source_api: str, alert_api_id: int) -> bool:
    """Whether the sequence `(source_api, alert_api_id)` is already imported."""
    return Sequence.objects.filter(source_api=source_api, alert_api_id=alert_api_id).exists()


def _distinct_detections(record: SequenceRecord) -> list[tuple[int, DetectionRecord]]:
    """`(index in the record, detection)`; a repeated `alert_api_id` is kept once, first."""
    seen: set[int] = set()
    kept = []
    for index, detection in enumerate(record.detections):
        if detection.alert_api_id not in seen:
            seen.add(detection.alert_api_id)
            kept.append((index, detection))
    return kept


LoadedImage = tuple[bytes, str]


def _load_image(item: tuple[int, DetectionRecord]) -> tuple[LoadedImage | None, list]:
    """One image's bytes and extension, or the errors naming why it cannot be had."""
    index, detection = item
    loc = ("detections", index, "image")
    try:
        data = detection.image() if callable(detection.image) else detection.image
        return (data, image_check(data)), []
    except RecordError as exc:
        return None, [((*loc, *sub_loc), msg) for sub_loc, msg in exc.errors]
    except OSError as exc:
        return None, [(loc, IMAGE_UNREADABLE.format(reason=exc.strerror or exc))]
    except ValueError as exc:
        return None, [(loc, str(exc))]


def _load_images(detections: list[tuple[int, DetectionRecord]]) -> list[LoadedImage]:
    """Every image's bytes and extension, or RecordError naming each one that fails.

    The images of one record are fetched and checked by a pool of at most
    IMPORT_DOWNLOAD_CONCURRENCY threads (a download mostly waits on the network, and Pillow
    decodes without the GIL), so a remote store's latency is paid once per round rather than
    once per image; only this record's images are ever held. Results keep the record's order.
    """
    workers = min(settings.IMPORT_DOWNLOAD_CONCURRENCY, len(detections))
    if workers <= 1:
        results = list(map(_load_image, detections))
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-load") as pool:
            results = list(pool.map(_load_image, detections))
    errors = [error for _, problems in results for error in problems]
    if errors:
        raise RecordError(errors)
    return [loaded for loaded, _ in results]


def _check_payloads(detections: list[tuple[int, DetectionRecord]]) -> None:
    """Validate every detection's boxes before anything is written (SPEC §3.2)."""
    errors = []
    for index, detection in detections:
        *_, problems = detection_payload_errors(
            algo_predictions=detection.algo_predictions, others_bboxes=detection.others_bboxes
        )
        errors.extend((("detections", index, *loc), msg) for loc, msg in problems)
    if errors:
        raise RecordError(errors)


def remap_annotation(annotation: dict[str, Any], ids: dict[int, int]) -> dict[str, Any]:
    """`annotation` with every box's `detection_id` replaced through `ids` (between a site's
    detection ids and alert ids); KeyError names a detection `ids` does not know."""
    return {
        "sequences_bbox": [
            {
                **cluster,
                "bboxes": [
                    {**bbox, "detection_id": ids[bbox["detection_id"]]}
                    for bbox in cluster.get("bboxes", [])
                ],
            }
            for cluster in annotation.get("sequences_bbox", [])
        ]
    }


def _check_annotation(record: SequenceRecord) -> None:
    """Validate a copied annotation before anything is written: its shape (SPEC §3.3), its
    stage and provenance, and that every box names one of the record's detections."""
    copied = record.annotation
    if copied is None:
        return
    cleaned, errors = payloads.clean_annotation(copied.annotation)
    errors = [(("annotation", "annotation", *loc), msg) for loc, msg in errors]
    known = {detection.alert_api_id for detection in record.detections}
    errors.extend(
        (("annotation", "annotation"), ANNOTATION_DETECTION_UNKNOWN.format(alert_api_id=item))
        for item in payloads.annotation_detection_ids(copied.annotation)
        if item not in known
    )
    if copied.processing_stage not in ProcessingStage.values:
        errors.append((("annotation", "processing_stage"), STAGE_INVALID))
    if copied.label_source is not None and copied.label_source not in LabelSource.values:
        errors.append((("annotation", "label_source"), LABEL_SOURCE_INVALID))
    if errors:
        raise RecordError(errors)
    copied.annotation = cleaned


def _annotation_copy(sequence: Sequence, rows: list[Detection], copied: AnnotationRecord) -> None:
    """Store a checked `AnnotationRecord` as the sequence's annotation, its boxes pointing at
    the detections just written. A copy is not a human save: it never propagates."""
    local = {row.alert_api_id: row.pk for row in rows}
    annotation = remap_annotation(copied.annotation, local)
    source = copied.label_source
    if source is None and copied.processing_stage not in WRITABLE_STAGES:
        source = LabelSource.HUMAN
    checked_at = copied.checked_at
    if checked_at is None and source == LabelSource.HUMAN:
        checked_at = sequence.created_at
    snapshot = {
        "annotation": annotation,
        "processing_stage": copied.processing_stage,
        "is_unsure": copied.is_unsure,
        "has_missed_smoke": copied.has_missed_smoke,
        "label_source": source,
        "check_risk": 0.0 if source in MACHINE_SOURCES else None,
        "label_source_group_id": None,
        "label_source_operation_id": None,
        "checked_by_id": None,
        "checked_at": checked_at.isoformat() if checked_at else None,
    }
    annotation_restore_many(snapshots={sequence.pk: snapshot})


@contextmanager
def _files_deleted_on_error() -> Iterator[list[str]]:
    """Collect the storage names written in the block; delete them if the block raises.

    Files are not transactional, so this pairs them with the transaction that references them.
    """
    written: list[str] = []
    try:
        yield written
    except BaseException:
        storage = Detection._meta.get_field("image").storage
        for name in written:
            storage.delete(name)
        raise


StoredHook = Callable[[Sequence], None]


@dataclass
class Prepared:
    """A record checked and its images loaded, ready to be written (`record_prepare`)."""

    record: SequenceRecord
    detections: list[tuple[int, DetectionRecord]]
    images: list[LoadedImage]


def record_prepare(record: SequenceRecord) -> Prepared | None:
    """Everything of an import before its transaction, and no database: the distinct
    detections, their boxes and the copied annotation checked, every image loaded and checked
    (RecordError naming each problem). None for a record without detections."""
    detections = _distinct_detections(record)
    if not detections:
        return None
    _check_payloads(detections)
    _check_annotation(record)
    return Prepared(record, detections, _load_images(detections))


def record_import(
    record: SequenceRecord,
    *,
    autogen: AutogenParams,
    on_stored: StoredHook | None = None,
    prepared: Prepared | None = None,
) -> ImportedCounts:
    """Import one validated record whole or not at all (SPEC §8.1).

    - Present already (also when a concurrent import wins the unique key) -> `already_present`.
    - No detection -> `skipped_empty`, nothing written.
    - Every image is loaded and checked, and every box validated, before the first write
      (`record_prepare`, unless `prepared` already did it); problems raise RecordError naming
      `detections[i]...`.
    - One transaction: organisation and camera upserts, the sequence, its detections, its
      motion (measured from the detections just written: one UPDATE of the sequence, none when
      too few frames have a box) and the `ready_to_annotate` placeholder (clusters generated
      with `autogen`), or the record's copied annotation (checked before the first write too);
      then `on_stored(sequence)`, whose writes commit or roll back with the sequence.
      If anything raises, the image files written are deleted and the error propagates.
    """
    if record_exists(record.source_api, record.alert_api_id):
        return ImportedCounts("already_present")
    if prepared is None:
        prepared = record_prepare(record)
    if prepared is None:
        return ImportedCounts("skipped_empty")
    detections, images = prepared.detections, prepared.images
    try:
        with _files_deleted_on_error() as written, transaction.atomic():
            sequence = sequence_create(**record.sequence_fields())
            rows = []
            for (_, detection), (data, extension) in zip(detections, images, strict=True):
                row = detection_create(
                    sequence=sequence,
                    alert_api_id=detection.alert_api_id,
                    recorded_at=detection.recorded_at,
                    image_bytes=data,
                    extension=extension,
                    algo_predictions=detection.algo_predictions,
                    others_bboxes=detection.others_bboxes,
                )
                written.append(row.image.name)
                rows.append(row)
            sequence_motion_measure(sequence=sequence, detections=rows)
            if record.annotation is not None:
                _annotation_copy(sequence, rows, record.annotation)
            else:
                annotation_write(
                    sequence=sequence,
                    processing_stage=ProcessingStage.READY_TO_ANNOTATE,
                    has_missed_smoke=False,
                    is_unsure=False,
                    source=None,
                    autogen=autogen,
                )
            if on_stored is not None:
                on_stored(sequence)
    except SequenceExists:
        return ImportedCounts("already_present")
    placeholders = 0 if record.annotation is not None else 1
    return ImportedCounts("created", detections=len(detections), placeholders=placeholders)


def record_process(
    report: ImportReport,
    *,
    ref: str,
    key: tuple[str, int] | None,
    build: Callable[[], SequenceRecord],
    autogen: AutogenParams,
    on_stored: StoredHook | None = None,
) -> None:
    """Run one record through the pipeline and count it in `report`.

    `ref` prefixes its errors (e.g. "line 7 (alert_api_id 4411)"); `key` is its
    `(source_api, alert_api_id)` when readable (None: straight to validation); `build` validates
    and returns the record or raises RecordError, and is not called for a present key;
    `on_stored` is `record_import`'s.
    """
    if key is not None and record_exists(*key):
        report.already_present += 1
        return
    try:
        counts = record_import(build(), autogen=autogen, on_stored=on_stored)
    except RecordError as exc:
        report.record_failed(ref, exc.errors)
        return
    report.record_counted(counts)


# --- The assignment an import ends with (SPEC §8.4) ------------------------------------------


def assignment_chained(no_assign: bool) -> bool:
    """Whether an import ends with an assignment run (`--no-assign`, IMPORT_CHAIN_ASSIGNMENT)."""
    return not no_assign and settings.IMPORT_CHAIN_ASSIGNMENT


def assignment_chain(report: ImportReport) -> None:
    """Run the assignment hook (`IMPORT_ASSIGNMENT_HOOK`) and record what it did in `report`.

    The hook is a dotted path in the settings because the sequences app never imports the
    groups app; it takes no argument and returns a `ChainedAssignment`. A run already in
    progress is not a failure: the report says "assignment skipped" and cron catches up. A
    failure, or a crash of the hook itself, sets `assignment_error`, which makes the import
    exit 1 with its report intact.
    """
    try:
        chained = import_string(settings.IMPORT_ASSIGNMENT_HOOK)()
    except Exception as exc:  # a crash of the run must still leave the import's report
        chained = ChainedAssignment(error=f"{type(exc).__name__}: {exc}")
    if not isinstance(chained, ChainedAssignment):
        chained = ChainedAssignment(error=ASSIGNMENT_NO_RESULT.format(value=chained))
    report.assignment_done(chained)
