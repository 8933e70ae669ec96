"""When a machine label holds back, and how risky a written one is (pure rules)."""

import pytest

from sequences.safeguards import (
    HoldBack,
    RiskReason,
    Signals,
    Thresholds,
    hold_back,
    hold_back_text,
    label_risk,
    risk_text,
)

LIMITS = Thresholds(temporal_score=0.5, motion=0.025, look_closely=0.5, match_iou=0.3)


@pytest.mark.parametrize(
    ("smoke", "signals", "expected"),
    [
        (False, Signals("wildfire_smoke"), HoldBack.PLATFORM_SMOKE),
        (False, Signals("other_smoke"), HoldBack.PLATFORM_SMOKE),
        (False, Signals("other"), None),
        (False, Signals(None, temporal_score=0.5), HoldBack.TEMPORAL_SCORE),
        (False, Signals(None, temporal_score=0.49), None),
        (False, Signals(None, temporal_score=None), None),
        (False, Signals(None, motion=0.025), HoldBack.MOTION),
        (False, Signals(None, motion=0.0249), None),
        (False, Signals(None, motion=None), None),
        (False, Signals("other", temporal_score=0.9), HoldBack.TEMPORAL_SCORE),
        (True, Signals("other"), HoldBack.PLATFORM_NOT_SMOKE),
        (True, Signals("wildfire_smoke", temporal_score=0.9, motion=0.2), None),
        (True, Signals(None, temporal_score=0.9, motion=0.2), None),
    ],
)
def test_what_holds_a_machine_label_back(smoke, signals, expected):
    assert hold_back(smoke=smoke, signals=signals, thresholds=LIMITS) == expected


def test_the_thresholds_come_from_the_settings(settings):
    settings.GROUPS_HOLD_BACK_TEMPORAL_SCORE = 0.8
    settings.GROUPS_HOLD_BACK_MOTION = 0.1
    limits = Thresholds.from_settings(settings)
    scored = Signals(None, temporal_score=0.7, motion=0.05)
    assert hold_back(smoke=False, signals=scored, thresholds=limits) is None
    assert hold_back(smoke=False, signals=scored, thresholds=LIMITS) == HoldBack.TEMPORAL_SCORE


def test_the_reason_is_said_in_words_with_the_values():
    assert hold_back_text(HoldBack.PLATFORM_SMOKE, Signals("wildfire_smoke"), LIMITS) == (
        "the platform classed the alert wildfire_smoke"
    )
    text = hold_back_text(HoldBack.MOTION, Signals(None, motion=0.0312), LIMITS)
    assert "motion 0.031" in text and "0.025" in text
    text = hold_back_text(HoldBack.TEMPORAL_SCORE, Signals(None, temporal_score=0.93), LIMITS)
    assert "scores it 0.93" in text and "0.50" in text


def test_a_false_positive_label_near_a_threshold_is_risky():
    risk = label_risk(
        smoke=False, signals=Signals("other", motion=0.02), overlap=0.9, thresholds=LIMITS
    )
    assert risk.value == 0.8
    assert risk.reasons == [(RiskReason.MOTION, 0.02)]

    risk = label_risk(
        smoke=False, signals=Signals("other", temporal_score=0.3), overlap=0.9, thresholds=LIMITS
    )
    assert risk.value == 0.6
    assert [code for code, _ in risk.reasons] == [RiskReason.TEMPORAL_SCORE]


def test_a_weak_overlap_weighs_more_without_a_platform_verdict():
    weak = 0.3 + 0.7 * 0.1  # just above the match threshold
    without = label_risk(smoke=False, signals=Signals(None), overlap=weak, thresholds=LIMITS)
    with_verdict = label_risk(
        smoke=False, signals=Signals("other"), overlap=weak, thresholds=LIMITS
    )
    assert without.value == pytest.approx(0.54, abs=1e-3)
    assert [code for code, _ in without.reasons] == [
        RiskReason.WEAK_OVERLAP,
        RiskReason.NO_VERDICT,
    ]
    assert with_verdict.value == pytest.approx(0.27, abs=1e-3) and with_verdict.reasons == []


def test_a_smoke_label_is_not_made_risky_by_motion_or_score():
    risk = label_risk(
        smoke=True,
        signals=Signals("wildfire_smoke", temporal_score=0.45, motion=0.02),
        overlap=1.0,
        thresholds=LIMITS,
    )
    assert risk.value == 0.0 and risk.reasons == []


def test_a_quiet_label_has_no_risk_and_no_reason():
    risk = label_risk(
        smoke=False, signals=Signals("other", 0.05, 0.001), overlap=0.95, thresholds=LIMITS
    )
    assert risk.value == 0.1 and risk.reasons == []


def test_stored_reasons_read_back_in_words():
    risk = label_risk(
        smoke=False, signals=Signals(None, motion=0.02), overlap=0.35, thresholds=LIMITS
    )
    text = risk_text(risk.stored_reasons(), LIMITS)
    assert "its box moves (motion 0.020; labels wait from 0.025)" in text
    assert "barely overlaps the group's region (IoU 0.35)" in text
    assert text.endswith("the platform gave no verdict")
