"""The safeguards of machine labels (pure, no Django): when a machine path must hold a sequence
back from a label, and how closely a person should look at a machine label it does write.

A real fire that starts next to a recurring false positive (an antenna, a building) can overlap
the group's region well enough to join it. Three signals of the sequence itself tell it apart:
the alert platform's own class of the alert, the platform's temporal model score, and the
motion of the sequence's box over its first frames (`boxes.box_motion`: a recurring object
stays put, a plume grows and rises). No machine path writes a false-positive label against
them, nor a smoke label on an alert the platform classed as not smoke: such a sequence is
*held back*, left writable for a person. A machine label that is written gets a *risk* (0 to 1)
with its reasons, so the check queue shows the dangerous cards first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SMOKE_CLASSES = frozenset({"wildfire_smoke", "other_smoke"})
NOT_SMOKE_CLASS = "other"

# A factor of the risk at or above this level is named among the card's reasons.
REASON_LEVEL = 0.5
# Weight of a weak overlap in the risk: heavier when the platform gave no verdict either.
WEAK_OVERLAP_WEIGHT = {True: 0.6, False: 0.3}


class HoldBack(StrEnum):
    PLATFORM_SMOKE = "platform_smoke"
    PLATFORM_NOT_SMOKE = "platform_not_smoke"
    TEMPORAL_SCORE = "temporal_score"
    MOTION = "motion"


class RiskReason(StrEnum):
    MOTION = "motion"
    TEMPORAL_SCORE = "temporal_score"
    WEAK_OVERLAP = "weak_overlap"
    NO_VERDICT = "no_verdict"


@dataclass(frozen=True)
class Signals:
    """What a sequence says of itself: the platform's class, the temporal score, the motion."""

    platform_class: str | None = None
    temporal_score: float | None = None
    motion: float | None = None


@dataclass(frozen=True)
class Thresholds:
    """The site's thresholds: hold-back levels, the look-closely risk, the match threshold."""

    temporal_score: float = 0.5
    motion: float = 0.02
    look_closely: float = 0.5
    match_iou: float = 0.3

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(
            temporal_score=settings.GROUPS_HOLD_BACK_TEMPORAL_SCORE,
            motion=settings.GROUPS_HOLD_BACK_MOTION,
            look_closely=settings.GROUPS_LOOK_CLOSELY_RISK,
            match_iou=settings.GROUPS_MATCH_IOU_THRESHOLD,
        )


def hold_back(*, smoke: bool, signals: Signals, thresholds: Thresholds) -> HoldBack | None:
    """Why no machine label of this kind may be written on the sequence, or None.

    A smoke label is refused where the platform classed the alert `other`. A false-positive
    label is refused where the platform classed it as smoke, where the temporal model scores it
    at or above its threshold (NULL: not scored, never "scored low"), or where its box moves at
    or above the motion threshold.
    """
    if smoke:
        return HoldBack.PLATFORM_NOT_SMOKE if signals.platform_class == NOT_SMOKE_CLASS else None
    if signals.platform_class in SMOKE_CLASSES:
        return HoldBack.PLATFORM_SMOKE
    score = signals.temporal_score
    if score is not None and score >= thresholds.temporal_score:
        return HoldBack.TEMPORAL_SCORE
    if signals.motion is not None and signals.motion >= thresholds.motion:
        return HoldBack.MOTION
    return None


HOLD_BACK_TEXT = {
    HoldBack.PLATFORM_SMOKE: "the platform classed the alert {platform_class}",
    HoldBack.PLATFORM_NOT_SMOKE: "the platform classed the alert as not smoke",
    HoldBack.TEMPORAL_SCORE: (
        "the platform's temporal model scores it {temporal_score:.2f} "
        "(labels wait from {threshold:.2f})"
    ),
    HoldBack.MOTION: (
        "its box grows or moves like a plume (motion {motion:.3f}, labels wait from "
        "{threshold:.3f})"
    ),
}


def hold_back_text(reason: str, signals: Signals, thresholds: Thresholds) -> str:
    """The reason in words, with the sequence's own values."""
    threshold = {
        HoldBack.TEMPORAL_SCORE: thresholds.temporal_score,
        HoldBack.MOTION: thresholds.motion,
    }.get(HoldBack(reason))
    return HOLD_BACK_TEXT[HoldBack(reason)].format(
        platform_class=signals.platform_class,
        temporal_score=signals.temporal_score or 0.0,
        motion=signals.motion or 0.0,
        threshold=threshold or 0.0,
    )


@dataclass(frozen=True)
class LabelRisk:
    """How closely a person should look at a machine label (0 to 1), and why: `reasons` are
    `(RiskReason, measured value or None)` pairs."""

    value: float
    reasons: list[tuple[str, float | None]]

    def stored_reasons(self) -> list[list[Any]]:
        return [[code, value] for code, value in self.reasons]


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def label_risk(
    *, smoke: bool, signals: Signals, overlap: float | None, thresholds: Thresholds
) -> LabelRisk:
    """The risk of a machine label that passed `hold_back`.

    For a false-positive label, a motion or a temporal score just under its threshold is the
    nearest thing to a fire: each counts as its share of the threshold. For any label, a weak
    overlap with the group's reference region (`overlap`, the IoU, just above the match
    threshold is weakest; None when there is no region) counts, heavier when the platform gave
    no verdict. The risk is the largest factor; every factor from REASON_LEVEL is a reason.
    """
    factors: dict[str, tuple[float, float | None]] = {}
    if not smoke:
        if signals.motion is not None:
            factors[RiskReason.MOTION] = (
                _clamp(signals.motion / thresholds.motion),
                signals.motion,
            )
        score = signals.temporal_score
        if score is not None:
            factors[RiskReason.TEMPORAL_SCORE] = (_clamp(score / thresholds.temporal_score), score)
    no_verdict = signals.platform_class is None
    if overlap is not None:
        weakness = _clamp((1.0 - overlap) / (1.0 - thresholds.match_iou))
        factors[RiskReason.WEAK_OVERLAP] = (weakness * WEAK_OVERLAP_WEIGHT[no_verdict], overlap)
    value = round(max((factor for factor, _ in factors.values()), default=0.0), 4)
    reasons = [
        (code, round(measured, 4) if measured is not None else None)
        for code, (factor, measured) in factors.items()
        if factor >= REASON_LEVEL
    ]
    if reasons and no_verdict:
        reasons.append((RiskReason.NO_VERDICT, None))
    return LabelRisk(value, reasons)


RISK_TEXT = {
    RiskReason.MOTION: "its box moves (motion {value:.3f}; labels wait from {threshold:.3f})",
    RiskReason.TEMPORAL_SCORE: (
        "the temporal model scores it {value:.2f} (labels wait from {threshold:.2f})"
    ),
    RiskReason.WEAK_OVERLAP: "it barely overlaps the group's region (IoU {value:.2f})",
    RiskReason.NO_VERDICT: "the platform gave no verdict",
}


def risk_text(reasons: list[list[Any]], thresholds: Thresholds) -> str:
    """Stored risk reasons in words: `its box moves (...); the platform gave no verdict`."""
    limits = {
        RiskReason.MOTION: thresholds.motion,
        RiskReason.TEMPORAL_SCORE: thresholds.temporal_score,
    }
    parts = []
    for code, value in reasons:
        reason = RiskReason(code)
        parts.append(RISK_TEXT[reason].format(value=value or 0.0, threshold=limits.get(reason, 0)))
    return "; ".join(parts)
