"""Shape validation of the site's JSON payloads, and the label logic built on annotations.

Pure code (SPEC §3.2, §3.3, §4.3, §4.6, §4.7): no Django. The value tuples below are the
single source of the enum values; ``sequences.models`` builds its TextChoices from them.

Validators return ``(cleaned, errors)``. ``errors`` lists every problem as ``(loc, msg)``
where ``loc`` is relative to the validated value (the caller prefixes e.g.
``("body", "annotation")``); ``cleaned`` is None whenever there is an error, so nothing is
ever half-accepted. Unknown keys are dropped from the cleaned value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sequences.boxes import box_error, is_finite_number

Loc = tuple[str | int, ...]
Error = tuple[Loc, str]

# Largest values of the database's 64- and 32-bit integer columns; larger numbers in a request
# or a record are refused up front (they would overflow the database driver instead of simply
# matching nothing).
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


def id_from_text(text: str) -> int | None:
    """The id written in `text` (ASCII digits only), or None: not an id, or beyond a 64-bit
    key (such a number could name no row, and a very long one would not even convert)."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(BIGINT_MAX)):
        return None
    value = int(text)
    return value if value <= BIGINT_MAX else None


SMOKE_TYPES = ("wildfire", "industrial", "other")
FALSE_POSITIVE_TYPES = (
    "antenna",
    "building",
    "cliff",
    "dark",
    "dust",
    "high_cloud",
    "low_cloud",
    "lens_flare",
    "lens_droplet",
    "light",
    "rain",
    "trail",
    "road",
    "sky",
    "tree",
    "water_body",
    "other",
)
# Human labels, e.g. "high_cloud" -> "High cloud".
SMOKE_LABELS = {value: value.replace("_", " ").capitalize() for value in SMOKE_TYPES}
FALSE_POSITIVE_LABELS = {
    value: value.replace("_", " ").capitalize() for value in FALSE_POSITIVE_TYPES
}

FIELD_REQUIRED = "field required"
NOT_AN_OBJECT = "must be an object"
NOT_A_LIST = "must be a list"
NOT_A_BOOLEAN = "must be a boolean"
NOT_AN_INTEGER = "must be an integer"
NOT_A_NUMBER = "must be a finite number"
NUMBER_OUT_OF_RANGE = "must be between 0 and 1"
NOT_A_NON_EMPTY_STRING = "must be a non-empty string"
SMOKE_TYPE_INVALID = f"must be one of {', '.join(SMOKE_TYPES)}, or null"
FALSE_POSITIVE_TYPE_INVALID = f"must be one of {', '.join(FALSE_POSITIVE_TYPES)}"
SMOKE_TYPE_NEEDS_SMOKE = "a smoke_type requires is_smoke: true"
FALSE_POSITIVES_NEED_NO_SMOKE = "false_positive_types require is_smoke: false"
CLUSTER_INCOMPLETE = "choose a smoke type or at least one false-positive type"


# --- field checkers ---------------------------------------------------------------------------
# Each takes a value and its loc, appends its errors to ``errors`` and returns the cleaned value.

Checker = Callable[[Any, Loc, list[Error]], Any]


def _field(data: dict[str, Any], key: str, loc: Loc, errors: list[Error], check: Checker) -> Any:
    """Check the required ``data[key]``; a missing key gives "field required"."""
    if key not in data:
        errors.append(((*loc, key), FIELD_REQUIRED))
        return None
    return check(data[key], (*loc, key), errors)


def _list(value: object, loc: Loc, errors: list[Error]) -> list[Any]:
    """``value`` when it is a list; otherwise [] and an error (None counts as not a list)."""
    if isinstance(value, list):
        return value
    errors.append((loc, NOT_A_LIST))
    return []


def _box(value: object, loc: Loc, errors: list[Error]) -> list[float] | None:
    """A §3.1 box as floats, or None with the box rule's first message."""
    message = box_error(value)
    if message is not None:
        errors.append((loc, message))
        return None
    return [float(v) for v in value]  # type: ignore[union-attr]


def _confidence(value: object, loc: Loc, errors: list[Error]) -> float | None:
    """A finite number in [0, 1], as a float."""
    if not is_finite_number(value):
        errors.append((loc, NOT_A_NUMBER))
        return None
    if not 0 <= value <= 1:  # type: ignore[operator]
        errors.append((loc, NUMBER_OUT_OF_RANGE))
        return None
    return float(value)  # type: ignore[arg-type]


def _non_empty_string(value: object, loc: Loc, errors: list[Error]) -> str | None:
    if isinstance(value, str) and value:
        return value
    errors.append((loc, NOT_A_NON_EMPTY_STRING))
    return None


def _boolean(value: object, loc: Loc, errors: list[Error]) -> bool | None:
    if isinstance(value, bool):
        return value
    errors.append((loc, NOT_A_BOOLEAN))
    return None


def _integer(value: object, loc: Loc, errors: list[Error]) -> int | None:
    # bool is an int subclass, but `true` is no id.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    errors.append((loc, NOT_AN_INTEGER))
    return None


# --- algo_predictions / others_bboxes (§3.2) -------------------------------------------------


def _clean_prediction(item: object, loc: Loc, errors: list[Error]) -> dict[str, Any] | None:
    """One ``{"xyxyn", "confidence", "class_name"}`` prediction."""
    if not isinstance(item, dict):
        errors.append((loc, NOT_AN_OBJECT))
        return None
    return {
        "xyxyn": _field(item, "xyxyn", loc, errors, _box),
        "confidence": _field(item, "confidence", loc, errors, _confidence),
        "class_name": _field(item, "class_name", loc, errors, _non_empty_string),
    }


def clean_predictions(
    value: object, *, nullable: bool = False
) -> tuple[dict[str, Any] | None, list[Error]]:
    """Validate an ``algo_predictions`` (or, with ``nullable=True``, ``others_bboxes``) value.

    Shape: ``{"predictions": [{"xyxyn": box, "confidence": c, "class_name": s}, ...]}`` with
    ``predictions`` required (may be empty), ``xyxyn`` per §3.1, ``confidence`` a finite number
    in [0, 1], ``class_name`` a non-empty string. Returns the cleaned dict (numbers as floats,
    unknown keys dropped) and no errors, or None and every error found.
    """
    if value is None and nullable:
        return None, []
    if not isinstance(value, dict):
        return None, [((), NOT_AN_OBJECT)]
    errors: list[Error] = []
    items = _field(value, "predictions", (), errors, _list) or []
    predictions = [
        _clean_prediction(item, ("predictions", index), errors) for index, item in enumerate(items)
    ]
    if errors:
        return None, errors
    return {"predictions": predictions}, []


# --- annotation (§3.3) -----------------------------------------------------------------------


def _clean_bbox(item: object, loc: Loc, errors: list[Error]) -> dict[str, Any] | None:
    """One ``{"detection_id": int, "xyxyn": box}`` of a cluster."""
    if not isinstance(item, dict):
        errors.append((loc, NOT_AN_OBJECT))
        return None
    return {
        "detection_id": _field(item, "detection_id", loc, errors, _integer),
        "xyxyn": _field(item, "xyxyn", loc, errors, _box),
    }


def _clean_false_positive_types(value: object, loc: Loc, errors: list[Error]) -> list[str]:
    """FP types, each a known value, de-duplicated keeping the first occurrence's order."""
    items = _list(value, loc, errors)
    for index, item in enumerate(items):
        if not (isinstance(item, str) and item in FALSE_POSITIVE_TYPES):
            errors.append(((*loc, index), FALSE_POSITIVE_TYPE_INVALID))
    return list(dict.fromkeys(item for item in items if isinstance(item, str)))


def _clean_cluster(item: object, loc: Loc, errors: list[Error]) -> dict[str, Any] | None:
    """One cluster of ``sequences_bbox``, with the §3.3 consistency rules."""
    if not isinstance(item, dict):
        errors.append((loc, NOT_AN_OBJECT))
        return None
    # None when missing or invalid: the consistency rules below are then not judged.
    is_smoke = _field(item, "is_smoke", loc, errors, _boolean)

    smoke_type = item.get("smoke_type")
    if smoke_type is not None and not (isinstance(smoke_type, str) and smoke_type in SMOKE_TYPES):
        errors.append(((*loc, "smoke_type"), SMOKE_TYPE_INVALID))
    elif smoke_type is not None and is_smoke is False:
        errors.append(((*loc, "smoke_type"), SMOKE_TYPE_NEEDS_SMOKE))

    fp_loc = (*loc, "false_positive_types")
    false_positive_types = _clean_false_positive_types(
        item.get("false_positive_types", []), fp_loc, errors
    )
    if false_positive_types and is_smoke is True:
        errors.append((fp_loc, FALSE_POSITIVES_NEED_NO_SMOKE))

    bboxes = _field(item, "bboxes", loc, errors, _list) or []
    return {
        "is_smoke": is_smoke,
        "smoke_type": smoke_type,
        "false_positive_types": false_positive_types,
        "bboxes": [
            _clean_bbox(bbox, (*loc, "bboxes", index), errors) for index, bbox in enumerate(bboxes)
        ],
    }


def clean_annotation(value: object) -> tuple[dict[str, Any] | None, list[Error]]:
    """Validate an annotation payload ``{"sequences_bbox": [cluster, ...]}`` (§3.3).

    Cluster: ``is_smoke`` bool (required); ``smoke_type`` in SMOKE_TYPES or null (default
    null); ``false_positive_types`` list of FALSE_POSITIVE_TYPES (default [], duplicates
    removed, first order kept); ``bboxes`` required list of ``{detection_id: int, xyxyn}``.
    A non-null ``smoke_type`` requires ``is_smoke: true``; a non-empty FP list requires
    ``is_smoke: false``. Every error is collected with its full loc, e.g.
    ``("sequences_bbox", 0, "bboxes", 1, "xyxyn")``. Whether the detections belong to the
    sequence is the caller's check (it needs the database): see :func:`annotation_detection_ids`.
    """
    if not isinstance(value, dict):
        return None, [((), NOT_AN_OBJECT)]
    errors: list[Error] = []
    items = _field(value, "sequences_bbox", (), errors, _list) or []
    clusters = [
        _clean_cluster(item, ("sequences_bbox", index), errors) for index, item in enumerate(items)
    ]
    if errors:
        return None, errors
    return {"sequences_bbox": clusters}, []


def annotation_detection_ids(annotation: Any) -> list[int]:
    """The distinct detection ids an annotation refers to, ascending.

    A malformed annotation gives the ids of its well-formed boxes, so that which sequence they
    belong to can be reported beside its shape errors.
    """
    clusters = annotation.get("sequences_bbox") if isinstance(annotation, dict) else None
    ids = set()
    for cluster in clusters if isinstance(clusters, list) else []:
        bboxes = cluster.get("bboxes") if isinstance(cluster, dict) else None
        for bbox in bboxes if isinstance(bboxes, list) else []:
            detection_id = bbox.get("detection_id") if isinstance(bbox, dict) else None
            if type(detection_id) is int:  # not a bool, not a string
                ids.add(detection_id)
    return sorted(ids)


def cluster_completeness_errors(cleaned: dict[str, Any]) -> list[Error]:
    """Clusters a human has not finished labelling, for the annotation page.

    A finished cluster is smoke with a type, or not smoke with at least one FP type. Assumes a
    cleaned annotation, so the two are never mixed.
    """
    return [
        (("sequences_bbox", index), CLUSTER_INCOMPLETE)
        for index, cluster in enumerate(cleaned["sequences_bbox"])
        if not (cluster["smoke_type"] if cluster["is_smoke"] else cluster["false_positive_types"])
    ]


# --- derived flags (§4.3) --------------------------------------------------------------------


def _clusters(annotation: object) -> list[dict[str, Any]]:
    """The cluster dicts of a (cleaned or stored) annotation; malformed parts are ignored."""
    if not isinstance(annotation, dict):
        return []
    clusters = annotation.get("sequences_bbox")
    if not isinstance(clusters, list):
        return []
    return [cluster for cluster in clusters if isinstance(cluster, dict)]


def _typed_smoke(clusters: Iterable[dict[str, Any]]) -> list[str]:
    """Smoke type of each typed smoke cluster, in cluster order (repeats kept)."""
    return [c["smoke_type"] for c in clusters if c.get("is_smoke") and c.get("smoke_type")]


def _false_positives(clusters: Iterable[dict[str, Any]]) -> list[str]:
    """Every FP type of every cluster, in cluster then list order (repeats kept)."""
    return [fp for c in clusters for fp in (c.get("false_positive_types") or [])]


def derived_flags(annotation: dict[str, Any]) -> dict[str, Any]:
    """The §4.3 columns derived from an annotation on every save.

    ``has_smoke``: some cluster is smoke (untyped auto clusters count); ``has_false_positives``:
    some cluster has an FP type; ``smoke_types`` / ``false_positive_types``: de-duplicated in
    first-seen order.
    """
    clusters = _clusters(annotation)
    false_positives = _false_positives(clusters)
    return {
        "has_smoke": any(cluster.get("is_smoke") is True for cluster in clusters),
        "has_false_positives": bool(false_positives),
        "smoke_types": list(dict.fromkeys(_typed_smoke(clusters))),
        "false_positive_types": list(dict.fromkeys(false_positives)),
    }


# --- labels (§4.6, §4.7) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """A smoke type or one false-positive type, never both; renders as smoke/x or FP/x."""

    kind: Literal["smoke", "fp"]
    value: str

    def __post_init__(self) -> None:
        allowed = SMOKE_TYPES if self.kind == "smoke" else FALSE_POSITIVE_TYPES
        if self.kind not in ("smoke", "fp") or self.value not in allowed:
            raise ValueError(f"invalid label: {self.kind}/{self.value}")

    def __str__(self) -> str:
        return f"{'smoke' if self.kind == 'smoke' else 'FP'}/{self.value}"

    @classmethod
    def smoke(cls, value: str) -> Label:
        return cls("smoke", value)

    @classmethod
    def fp(cls, value: str) -> Label:
        return cls("fp", value)

    @classmethod
    def from_columns(cls, smoke_type: str | None, false_positive_type: str | None) -> Label | None:
        """The label stored in a group's two columns; None when both are empty.

        Raises ValueError when both are set (the database's label_xor forbids it).
        """
        if smoke_type and false_positive_type:
            raise ValueError("a label is a smoke type or a false-positive type, not both")
        if smoke_type:
            return cls.smoke(smoke_type)
        if false_positive_type:
            return cls.fp(false_positive_type)
        return None

    def columns(self) -> tuple[str | None, str | None]:
        """``(smoke_type, false_positive_type)`` for a group row; the other column is None."""
        return (self.value, None) if self.kind == "smoke" else (None, self.value)


def _most_frequent(values: list[str]) -> str:
    """The most frequent value; ties go to the value seen first."""
    # Counter keeps insertion order and most_common() sorts stably, so ties keep first-seen.
    return Counter(values).most_common(1)[0][0]


def annotation_label(annotation: dict[str, Any]) -> Label | None:
    """The label one annotation implies (§4.6).

    The most frequent type among typed smoke clusters; else the most frequent FP type over all
    clusters' lists; else None (e.g. only untyped auto clusters). Ties go to the first seen.
    """
    clusters = _clusters(annotation)
    smoke_types = _typed_smoke(clusters)
    if smoke_types:
        return Label.smoke(_most_frequent(smoke_types))
    false_positives = _false_positives(clusters)
    if false_positives:
        return Label.fp(_most_frequent(false_positives))
    return None


def _json_copy(value: Any) -> Any:
    """A deep copy of a JSON-shaped value: new dicts and lists, the same immutable leaves.

    Two fifths of the time of ``copy.deepcopy``, which keeps a memo of every object it meets:
    the assignment stamps hundreds of annotations per batch.
    """
    kind = type(value)
    if kind is dict:
        return {key: _json_copy(item) for key, item in value.items()}
    if kind is list:
        return [_json_copy(item) for item in value]
    return value


def stamp_label(annotation: dict[str, Any], label: Label) -> dict[str, Any]:
    """A new annotation with every cluster set to ``label`` (§4.7); boxes are kept.

    Smoke label: ``is_smoke: true, smoke_type: <type>, false_positive_types: []``.
    FP label: ``is_smoke: false, smoke_type: null, false_positive_types: [<type>]``.
    The input is not modified (the result is a deep copy, so no list is shared).
    """
    stamped = _json_copy(annotation)
    is_smoke = label.kind == "smoke"
    for cluster in stamped["sequences_bbox"]:
        cluster["is_smoke"] = is_smoke
        cluster["smoke_type"] = label.value if is_smoke else None
        cluster["false_positive_types"] = [] if is_smoke else [label.value]
    return stamped
