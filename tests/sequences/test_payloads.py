"""JSON payload validation, derived flags and label logic (SPEC §3.2, §3.3, §4.3, §4.6, §4.7).

Pure functions: no database, no Django settings.
"""

import copy
import math

import pytest

from sequences.boxes import BOX_NOT_FINITE, BOX_NOT_LIST, BOX_NOT_ORDERED, BOX_OUT_OF_RANGE
from sequences.payloads import (
    CLUSTER_INCOMPLETE,
    FALSE_POSITIVE_LABELS,
    FALSE_POSITIVE_TYPE_INVALID,
    FALSE_POSITIVE_TYPES,
    FALSE_POSITIVES_NEED_NO_SMOKE,
    FIELD_REQUIRED,
    NOT_A_BOOLEAN,
    NOT_A_LIST,
    NOT_A_NON_EMPTY_STRING,
    NOT_A_NUMBER,
    NOT_AN_INTEGER,
    NOT_AN_OBJECT,
    NUMBER_OUT_OF_RANGE,
    SMOKE_LABELS,
    SMOKE_TYPE_INVALID,
    SMOKE_TYPE_NEEDS_SMOKE,
    SMOKE_TYPES,
    Label,
    annotation_detection_ids,
    annotation_label,
    clean_annotation,
    clean_predictions,
    cluster_completeness_errors,
    derived_flags,
    stamp_label,
)

BOX = [0.12, 0.13, 0.45, 0.48]

# The annotation example of SPEC §3.3.
SPEC_ANNOTATION = {
    "sequences_bbox": [
        {
            "is_smoke": True,
            "smoke_type": "wildfire",
            "false_positive_types": [],
            "bboxes": [
                {"detection_id": 1, "xyxyn": [0.12, 0.13, 0.45, 0.48]},
                {"detection_id": 2, "xyxyn": [0.20, 0.25, 0.50, 0.55]},
            ],
        },
        {
            "is_smoke": False,
            "smoke_type": None,
            "false_positive_types": ["antenna", "building"],
            "bboxes": [{"detection_id": 2, "xyxyn": [0.70, 0.10, 0.74, 0.20]}],
        },
    ]
}


def smoke(smoke_type=None, detection_id=1):
    return {
        "is_smoke": True,
        "smoke_type": smoke_type,
        "false_positive_types": [],
        "bboxes": [{"detection_id": detection_id, "xyxyn": BOX}],
    }


def fp(*types, detection_id=1):
    return {
        "is_smoke": False,
        "smoke_type": None,
        "false_positive_types": list(types),
        "bboxes": [{"detection_id": detection_id, "xyxyn": BOX}],
    }


def annotation(*clusters):
    return {"sequences_bbox": list(clusters)}


# --- enumerations ----------------------------------------------------------------------------


def test_enum_values_and_labels():
    assert SMOKE_TYPES == ("wildfire", "industrial", "other")
    assert len(FALSE_POSITIVE_TYPES) == 17
    assert FALSE_POSITIVE_TYPES[:6] == (
        "antenna",
        "building",
        "cliff",
        "dark",
        "dust",
        "high_cloud",
    )
    assert FALSE_POSITIVE_TYPES[-1] == "other"
    assert FALSE_POSITIVE_LABELS["high_cloud"] == "High cloud"
    assert FALSE_POSITIVE_LABELS["water_body"] == "Water body"
    assert list(FALSE_POSITIVE_LABELS) == list(FALSE_POSITIVE_TYPES)
    assert SMOKE_LABELS == {"wildfire": "Wildfire", "industrial": "Industrial", "other": "Other"}


# --- predictions (§3.2) ----------------------------------------------------------------------


def test_clean_predictions_accepts_the_spec_example_and_drops_unknown_keys():
    value = {
        "predictions": [
            {
                "xyxyn": [0.412, 0.388, 0.457, 0.431],
                "confidence": 0.62,
                "class_name": "smoke",
                "x": 1,
            }
        ],
        "model": "v2",
    }
    assert clean_predictions(value) == (
        {
            "predictions": [
                {"xyxyn": [0.412, 0.388, 0.457, 0.431], "confidence": 0.62, "class_name": "smoke"}
            ]
        },
        [],
    )


def test_clean_predictions_converts_numbers_to_floats():
    cleaned, errors = clean_predictions(
        {"predictions": [{"xyxyn": [0, 0, 1, 1], "confidence": 1, "class_name": "smoke"}]}
    )
    assert errors == []
    item = cleaned["predictions"][0]
    assert all(type(v) is float for v in [*item["xyxyn"], item["confidence"]])


def test_clean_predictions_accepts_an_empty_list():
    assert clean_predictions({"predictions": []}) == ({"predictions": []}, [])


def test_null_is_only_accepted_when_nullable():
    assert clean_predictions(None, nullable=True) == (None, [])
    assert clean_predictions(None) == (None, [((), NOT_AN_OBJECT)])


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ([], [((), NOT_AN_OBJECT)]),
        ({}, [(("predictions",), FIELD_REQUIRED)]),
        ({"predictions": None}, [(("predictions",), NOT_A_LIST)]),
        ({"predictions": {"xyxyn": BOX}}, [(("predictions",), NOT_A_LIST)]),
        ({"predictions": ["x"]}, [(("predictions", 0), NOT_AN_OBJECT)]),
    ],
)
def test_clean_predictions_rejects_bad_containers(value, errors):
    assert clean_predictions(value) == (None, errors)


def prediction_error(item):
    """The errors of a predictions payload whose second item is ``item``."""
    good = {"xyxyn": BOX, "confidence": 0.5, "class_name": "smoke"}
    cleaned, errors = clean_predictions({"predictions": [good, item]})
    assert cleaned is None
    return errors


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"xyxyn": [0.1, 0.2, 0.3]}, "xyxyn", BOX_NOT_LIST),
        ({"xyxyn": [0.1, True, 0.3, 0.4]}, "xyxyn", BOX_NOT_FINITE),
        ({"xyxyn": [0.1, 0.2, 1.3, 0.4]}, "xyxyn", BOX_OUT_OF_RANGE),
        ({"xyxyn": [0.3, 0.2, 0.1, 0.4]}, "xyxyn", BOX_NOT_ORDERED),
        ({"confidence": math.nan}, "confidence", NOT_A_NUMBER),
        ({"confidence": "0.5"}, "confidence", NOT_A_NUMBER),
        ({"confidence": False}, "confidence", NOT_A_NUMBER),
        ({"confidence": None}, "confidence", NOT_A_NUMBER),
        ({"confidence": 1.01}, "confidence", NUMBER_OUT_OF_RANGE),
        ({"confidence": -0.2}, "confidence", NUMBER_OUT_OF_RANGE),
        ({"class_name": ""}, "class_name", NOT_A_NON_EMPTY_STRING),
        ({"class_name": 3}, "class_name", NOT_A_NON_EMPTY_STRING),
        ({"class_name": None}, "class_name", NOT_A_NON_EMPTY_STRING),
    ],
)
def test_clean_predictions_bad_field_has_full_loc(changes, field, message):
    item = {"xyxyn": BOX, "confidence": 0.5, "class_name": "smoke", **changes}
    assert prediction_error(item) == [(("predictions", 1, field), message)]


@pytest.mark.parametrize("field", ["xyxyn", "confidence", "class_name"])
def test_clean_predictions_missing_field_is_required(field):
    item = {"xyxyn": BOX, "confidence": 0.5, "class_name": "smoke"}
    del item[field]
    assert prediction_error(item) == [(("predictions", 1, field), FIELD_REQUIRED)]


def test_clean_predictions_lists_every_error():
    value = {
        "predictions": [
            {"xyxyn": [0, 0, 0, 0], "confidence": 2},
            {"xyxyn": BOX, "confidence": 0.5, "class_name": "smoke"},
            {"xyxyn": [0.1, 0.2, 1.3, 0.4], "confidence": 0.5, "class_name": "smoke"},
        ]
    }
    assert clean_predictions(value) == (
        None,
        [
            (("predictions", 0, "xyxyn"), BOX_NOT_ORDERED),
            (("predictions", 0, "confidence"), NUMBER_OUT_OF_RANGE),
            (("predictions", 0, "class_name"), FIELD_REQUIRED),
            (("predictions", 2, "xyxyn"), BOX_OUT_OF_RANGE),
        ],
    )


def test_others_bboxes_follow_the_same_rules():
    value = {"predictions": [{"xyxyn": [0, 0, 2, 1], "confidence": 0.5, "class_name": "x"}]}
    assert clean_predictions(value, nullable=True) == (
        None,
        [(("predictions", 0, "xyxyn"), BOX_OUT_OF_RANGE)],
    )


# --- annotation (§3.3) -----------------------------------------------------------------------


def test_clean_annotation_accepts_the_spec_example():
    assert clean_annotation(SPEC_ANNOTATION) == (SPEC_ANNOTATION, [])


def test_clean_annotation_fills_defaults_and_drops_unknown_keys():
    value = {
        "sequences_bbox": [
            {"is_smoke": True, "bboxes": [{"detection_id": 4, "xyxyn": BOX, "note": "x"}], "x": 1}
        ],
        "extra": True,
    }
    assert clean_annotation(value) == (annotation(smoke(None, detection_id=4)), [])


def test_clean_annotation_accepts_empty_lists():
    assert clean_annotation({"sequences_bbox": []}) == ({"sequences_bbox": []}, [])
    cluster = {"is_smoke": True, "bboxes": []}
    assert clean_annotation(annotation(cluster))[1] == []


def test_clean_annotation_removes_duplicate_fp_types_keeping_first_order():
    cleaned, errors = clean_annotation(annotation(fp("building", "antenna", "building", "antenna")))
    assert errors == []
    assert cleaned["sequences_bbox"][0]["false_positive_types"] == ["building", "antenna"]


def test_clean_annotation_does_not_modify_its_input():
    value = annotation(fp("antenna", "antenna"))
    before = copy.deepcopy(value)
    clean_annotation(value)
    assert value == before


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        (None, [((), NOT_AN_OBJECT)]),
        ([], [((), NOT_AN_OBJECT)]),
        ({}, [(("sequences_bbox",), FIELD_REQUIRED)]),
        ({"sequences_bbox": {}}, [(("sequences_bbox",), NOT_A_LIST)]),
        ({"sequences_bbox": [1]}, [(("sequences_bbox", 0), NOT_AN_OBJECT)]),
    ],
)
def test_clean_annotation_rejects_bad_containers(value, errors):
    assert clean_annotation(value) == (None, errors)


def cluster_errors(cluster):
    """The errors of an annotation whose second cluster is ``cluster``."""
    cleaned, errors = clean_annotation(annotation(smoke("wildfire"), cluster))
    assert cleaned is None
    return errors


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"is_smoke": "yes"}, ("is_smoke",), NOT_A_BOOLEAN),
        ({"is_smoke": 1}, ("is_smoke",), NOT_A_BOOLEAN),
        ({"is_smoke": None}, ("is_smoke",), NOT_A_BOOLEAN),
        ({"smoke_type": "forest"}, ("smoke_type",), SMOKE_TYPE_INVALID),
        ({"smoke_type": "Wildfire"}, ("smoke_type",), SMOKE_TYPE_INVALID),
        ({"smoke_type": ["wildfire"]}, ("smoke_type",), SMOKE_TYPE_INVALID),
        ({"false_positive_types": "antenna"}, ("false_positive_types",), NOT_A_LIST),
        ({"false_positive_types": None}, ("false_positive_types",), NOT_A_LIST),
        ({"bboxes": None}, ("bboxes",), NOT_A_LIST),
    ],
)
def test_clean_annotation_bad_field_has_full_loc(changes, loc, message):
    assert cluster_errors({**fp("antenna"), **changes}) == [(("sequences_bbox", 1, *loc), message)]


@pytest.mark.parametrize(
    ("bbox", "loc", "message"),
    [
        ("x", (), NOT_AN_OBJECT),
        ({"xyxyn": BOX}, ("detection_id",), FIELD_REQUIRED),
        ({"detection_id": 1}, ("xyxyn",), FIELD_REQUIRED),
        ({"detection_id": True, "xyxyn": BOX}, ("detection_id",), NOT_AN_INTEGER),
        ({"detection_id": "1", "xyxyn": BOX}, ("detection_id",), NOT_AN_INTEGER),
        ({"detection_id": 1.0, "xyxyn": BOX}, ("detection_id",), NOT_AN_INTEGER),
        ({"detection_id": 1, "xyxyn": [0.1]}, ("xyxyn",), BOX_NOT_LIST),
        ({"detection_id": 1, "xyxyn": [0.1, 0.2, math.inf, 0.4]}, ("xyxyn",), BOX_NOT_FINITE),
        ({"detection_id": 1, "xyxyn": [0.1, 0.2, 0.3, 4]}, ("xyxyn",), BOX_OUT_OF_RANGE),
        ({"detection_id": 1, "xyxyn": [0, 0, 0, 0]}, ("xyxyn",), BOX_NOT_ORDERED),
    ],
)
def test_clean_annotation_bad_bbox_has_full_loc(bbox, loc, message):
    cluster = {**fp("antenna"), "bboxes": [{"detection_id": 1, "xyxyn": BOX}, bbox]}
    assert cluster_errors(cluster) == [(("sequences_bbox", 1, "bboxes", 1, *loc), message)]


@pytest.mark.parametrize("field", ["is_smoke", "bboxes"])
def test_clean_annotation_missing_field_is_required(field):
    cluster = fp("antenna")
    del cluster[field]
    assert cluster_errors(cluster) == [(("sequences_bbox", 1, field), FIELD_REQUIRED)]


def test_clean_annotation_bad_fp_type_is_located_by_index():
    errors = cluster_errors(fp("antenna", "sunset", 3))
    assert errors == [
        (("sequences_bbox", 1, "false_positive_types", 1), FALSE_POSITIVE_TYPE_INVALID),
        (("sequences_bbox", 1, "false_positive_types", 2), FALSE_POSITIVE_TYPE_INVALID),
    ]


def test_clean_annotation_box_error_loc_matches_the_spec_example():
    cluster = smoke("wildfire")
    cluster["bboxes"] = [
        {"detection_id": 1, "xyxyn": BOX},
        {"detection_id": 2, "xyxyn": [0, 0, 1.2, 1]},
    ]
    assert clean_annotation(annotation(cluster)) == (
        None,
        [(("sequences_bbox", 0, "bboxes", 1, "xyxyn"), BOX_OUT_OF_RANGE)],
    )


def test_clean_annotation_lists_every_error_of_every_cluster():
    value = annotation(
        {"is_smoke": "x", "bboxes": [{"detection_id": 1, "xyxyn": [0, 0, 2, 2]}]},
        smoke("wildfire"),
        {"smoke_type": "nope", "false_positive_types": ["x"], "bboxes": [{}]},
    )
    assert clean_annotation(value) == (
        None,
        [
            (("sequences_bbox", 0, "is_smoke"), NOT_A_BOOLEAN),
            (("sequences_bbox", 0, "bboxes", 0, "xyxyn"), BOX_OUT_OF_RANGE),
            (("sequences_bbox", 2, "is_smoke"), FIELD_REQUIRED),
            (("sequences_bbox", 2, "smoke_type"), SMOKE_TYPE_INVALID),
            (("sequences_bbox", 2, "false_positive_types", 0), FALSE_POSITIVE_TYPE_INVALID),
            (("sequences_bbox", 2, "bboxes", 0, "detection_id"), FIELD_REQUIRED),
            (("sequences_bbox", 2, "bboxes", 0, "xyxyn"), FIELD_REQUIRED),
        ],
    )


# --- consistency (§3.3) ----------------------------------------------------------------------


def test_smoke_type_requires_is_smoke_true():
    cluster = {**fp(), "smoke_type": "wildfire"}
    assert cluster_errors(cluster) == [
        (("sequences_bbox", 1, "smoke_type"), SMOKE_TYPE_NEEDS_SMOKE)
    ]


def test_false_positive_types_require_is_smoke_false():
    cluster = {**smoke(), "false_positive_types": ["antenna"]}
    assert cluster_errors(cluster) == [
        (("sequences_bbox", 1, "false_positive_types"), FALSE_POSITIVES_NEED_NO_SMOKE)
    ]


def test_smoke_with_both_a_type_and_fp_types_is_refused():
    cluster = {**smoke("wildfire"), "false_positive_types": ["antenna"]}
    assert cluster_errors(cluster) == [
        (("sequences_bbox", 1, "false_positive_types"), FALSE_POSITIVES_NEED_NO_SMOKE)
    ]


def test_smoke_with_unknown_type_and_a_cluster_without_any_label_are_allowed():
    # "smoke, type unknown" is what auto-generation produces; an unlabelled non-smoke cluster
    # is a valid payload too (only the annotation page insists on completeness).
    assert clean_annotation(annotation(smoke(None), fp()))[1] == []


def test_consistency_is_not_judged_when_is_smoke_is_invalid():
    cluster = {**smoke("wildfire"), "is_smoke": "no"}
    assert cluster_errors(cluster) == [(("sequences_bbox", 1, "is_smoke"), NOT_A_BOOLEAN)]


# --- detection ids and completeness ----------------------------------------------------------


def test_annotation_detection_ids_are_distinct_and_ascending():
    cleaned, _ = clean_annotation(
        annotation(smoke("wildfire", 9), fp("antenna", detection_id=5), smoke("other", 9))
    )
    assert annotation_detection_ids(cleaned) == [5, 9]
    assert annotation_detection_ids({"sequences_bbox": []}) == []


def test_cluster_completeness_errors_name_the_unfinished_clusters():
    cleaned, _ = clean_annotation(annotation(smoke("wildfire"), smoke(None), fp("antenna"), fp()))
    assert cluster_completeness_errors(cleaned) == [
        (("sequences_bbox", 1), CLUSTER_INCOMPLETE),
        (("sequences_bbox", 3), CLUSTER_INCOMPLETE),
    ]
    assert cluster_completeness_errors(SPEC_ANNOTATION) == []


# --- derived flags (§4.3) --------------------------------------------------------------------


def test_derived_flags_of_the_spec_example():
    assert derived_flags(SPEC_ANNOTATION) == {
        "has_smoke": True,
        "has_false_positives": True,
        "smoke_types": ["wildfire"],
        "false_positive_types": ["antenna", "building"],
    }


def test_derived_flags_count_untyped_smoke_as_smoke():
    assert derived_flags(annotation(smoke(None))) == {
        "has_smoke": True,
        "has_false_positives": False,
        "smoke_types": [],
        "false_positive_types": [],
    }


def test_derived_flags_deduplicate_in_first_seen_order():
    value = annotation(
        smoke("industrial"),
        fp("tree", "antenna"),
        smoke("wildfire"),
        smoke("industrial"),
        fp("antenna", "sky"),
    )
    flags = derived_flags(value)
    assert flags["smoke_types"] == ["industrial", "wildfire"]
    assert flags["false_positive_types"] == ["tree", "antenna", "sky"]


def test_derived_flags_of_an_empty_annotation():
    assert derived_flags({"sequences_bbox": []}) == {
        "has_smoke": False,
        "has_false_positives": False,
        "smoke_types": [],
        "false_positive_types": [],
    }


def test_derived_flags_of_fp_only():
    flags = derived_flags(annotation(fp("antenna"), fp()))
    assert (flags["has_smoke"], flags["has_false_positives"]) == (False, True)


# --- labels (§4.6) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clusters", "expected"),
    [
        ([smoke("wildfire"), smoke("industrial"), smoke("industrial")], "smoke/industrial"),
        ([smoke("industrial"), smoke("wildfire")], "smoke/industrial"),  # tie: first seen
        ([smoke("other"), fp("antenna", "antenna")], "smoke/other"),  # smoke beats FP
        ([fp("building"), fp("antenna", "building")], "FP/building"),
        ([fp("antenna"), fp("building")], "FP/antenna"),  # tie: first seen
        ([smoke(None), smoke(None)], None),  # only untyped auto clusters
        ([smoke(None), fp("sky")], "FP/sky"),
        ([], None),
    ],
)
def test_annotation_label_derivation(clusters, expected):
    label = annotation_label(annotation(*clusters))
    assert (str(label) if label else None) == expected


def test_annotation_label_tolerates_a_malformed_stored_annotation():
    assert annotation_label({}) is None
    assert annotation_label({"sequences_bbox": [None, {"is_smoke": True}]}) is None


def test_label_rendering_and_constructors():
    assert str(Label.smoke("wildfire")) == "smoke/wildfire"
    assert str(Label.fp("antenna")) == "FP/antenna"
    assert Label.smoke("other") != Label.fp("other")
    assert Label.fp("antenna") == Label("fp", "antenna")


@pytest.mark.parametrize(
    ("kind", "value"), [("smoke", "antenna"), ("fp", "wildfire"), ("x", "other")]
)
def test_label_refuses_unknown_values(kind, value):
    with pytest.raises(ValueError, match="invalid label"):
        Label(kind, value)


def test_label_columns_round_trip():
    assert Label.smoke("wildfire").columns() == ("wildfire", None)
    assert Label.fp("antenna").columns() == (None, "antenna")
    assert Label.from_columns("wildfire", None) == Label.smoke("wildfire")
    assert Label.from_columns(None, "antenna") == Label.fp("antenna")
    assert Label.from_columns(None, None) is None
    with pytest.raises(ValueError, match="not both"):
        Label.from_columns("wildfire", "antenna")


# --- stamping (§4.7) -------------------------------------------------------------------------


def test_stamping_a_smoke_label():
    stamped = stamp_label(SPEC_ANNOTATION, Label.smoke("industrial"))
    assert [
        (c["is_smoke"], c["smoke_type"], c["false_positive_types"])
        for c in stamped["sequences_bbox"]
    ] == [(True, "industrial", []), (True, "industrial", [])]
    assert [c["bboxes"] for c in stamped["sequences_bbox"]] == [
        c["bboxes"] for c in SPEC_ANNOTATION["sequences_bbox"]
    ]
    assert annotation_label(stamped) == Label.smoke("industrial")
    assert clean_annotation(stamped) == (stamped, [])


def test_stamping_an_fp_label():
    stamped = stamp_label(SPEC_ANNOTATION, Label.fp("antenna"))
    assert [
        (c["is_smoke"], c["smoke_type"], c["false_positive_types"])
        for c in stamped["sequences_bbox"]
    ] == [(False, None, ["antenna"]), (False, None, ["antenna"])]
    assert [c["bboxes"] for c in stamped["sequences_bbox"]] == [
        c["bboxes"] for c in SPEC_ANNOTATION["sequences_bbox"]
    ]
    assert derived_flags(stamped)["has_smoke"] is False
    assert clean_annotation(stamped) == (stamped, [])


def test_stamping_returns_a_new_dict_sharing_nothing():
    original = copy.deepcopy(SPEC_ANNOTATION)
    stamped = stamp_label(original, Label.fp("antenna"))
    assert original == SPEC_ANNOTATION
    stamped["sequences_bbox"][0]["bboxes"][0]["xyxyn"][0] = 0.99
    assert original == SPEC_ANNOTATION


def test_stamping_an_auto_generated_annotation():
    auto = annotation(smoke(None, 1), smoke(None, 3))
    assert stamp_label(auto, Label.smoke("wildfire")) == annotation(
        smoke("wildfire", 1), smoke("wildfire", 3)
    )
