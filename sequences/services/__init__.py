"""Writes of the sequence domain, by job; the public names are re-exported here.

- `annotations`: the one write path for a single annotation (the human save among them) and the
  `SaveOutcome` it returns;
- `stamps`: set-wise machine labels, check-queue confirmations and undo restores;
- `content`: what every annotation write shares (generation, validation, provenance, snapshots);
- `ingest`: organisations, cameras, sequences and detections, for the API and every importer;
- `images`: image checks, stored names and thumbnails;
- `locks`: row locks in the one lock order;
- `errors`: the errors every service raises.
"""

from sequences.services.annotations import (
    ANNOTATION_EXISTS,
    EMPTY_ANNOTATIONS,
    NO_EFFECT,
    GroupEffect,
    HumanSave,
    SaveOutcome,
    annotation_create,
    annotation_delete,
    annotation_recompute,
    annotation_update,
    annotation_write,
    human_save_for,
)
from sequences.services.content import (
    DETECTIONS_NOT_IN_SEQUENCE,
    STAGE_INVALID,
    AutogenParams,
    annotation_content_errors,
    annotation_generate,
    annotation_snapshot,
    ordered_predictions,
)
from sequences.services.errors import (
    AlreadyExists,
    AnnotationInvalid,
    DetectionExists,
    DetectionInvalid,
    ErrorKind,
    SequenceExists,
    ServiceError,
)
from sequences.services.images import (
    IMAGE_EXTENSION_INVALID,
    IMAGE_FORMATS,
    IMAGE_INVALID,
    IMAGE_MEDIA_TYPES,
    detection_image_name,
    image_check,
    thumbnail_name,
    thumbnail_open,
)
from sequences.services.ingest import (
    AZIMUTH_INVALID,
    DETECTION_EXISTS,
    SEQUENCE_EXISTS,
    SOURCE_API_MISMATCH,
    azimuth_normalise,
    camera_upsert,
    detection_create,
    detection_payload_errors,
    organization_upsert,
    sequence_create,
)
from sequences.services.stamps import (
    CHECK_SKIP_ALREADY,
    CHECK_SKIP_NOT_MACHINE,
    SKIP_LOCKED,
    SKIP_NO_PREDICTIONS,
    MachineStamp,
    StampOutcome,
    annotation_check_many,
    annotation_restore_many,
    annotation_write_many,
    annotation_write_stamps,
)

__all__ = [
    "ANNOTATION_EXISTS",
    "AZIMUTH_INVALID",
    "CHECK_SKIP_ALREADY",
    "CHECK_SKIP_NOT_MACHINE",
    "DETECTIONS_NOT_IN_SEQUENCE",
    "DETECTION_EXISTS",
    "EMPTY_ANNOTATIONS",
    "IMAGE_EXTENSION_INVALID",
    "IMAGE_FORMATS",
    "IMAGE_INVALID",
    "IMAGE_MEDIA_TYPES",
    "NO_EFFECT",
    "SEQUENCE_EXISTS",
    "SKIP_LOCKED",
    "SKIP_NO_PREDICTIONS",
    "SOURCE_API_MISMATCH",
    "STAGE_INVALID",
    "AlreadyExists",
    "AnnotationInvalid",
    "AutogenParams",
    "DetectionExists",
    "DetectionInvalid",
    "ErrorKind",
    "GroupEffect",
    "HumanSave",
    "MachineStamp",
    "SaveOutcome",
    "SequenceExists",
    "ServiceError",
    "StampOutcome",
    "annotation_check_many",
    "annotation_content_errors",
    "annotation_create",
    "annotation_delete",
    "annotation_generate",
    "annotation_recompute",
    "annotation_restore_many",
    "annotation_snapshot",
    "annotation_update",
    "annotation_write",
    "annotation_write_many",
    "annotation_write_stamps",
    "azimuth_normalise",
    "camera_upsert",
    "detection_create",
    "detection_image_name",
    "detection_payload_errors",
    "human_save_for",
    "image_check",
    "ordered_predictions",
    "organization_upsert",
    "sequence_create",
    "thumbnail_name",
    "thumbnail_open",
]
