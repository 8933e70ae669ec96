"""What the check queue draws (SPEC §5.9): the cards of the unchecked machine labels and the
notice of a confirmation."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from groups.models import GroupOperation, SequenceGroup
from groups.presenters.common import (
    Thumbnail,
    label_parts,
    plural,
    reference_box,
    thumbnail,
)
from groups.selectors import is_look_closely
from groups.services import CheckOutcome
from sequences.models import (
    Detection,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import annotation_label
from sequences.safeguards import Thresholds, risk_text


@dataclass
class CheckCard:
    """One unchecked machine label: the image, the label and where it came from."""

    annotation: SequenceAnnotation
    sequence: Sequence
    group: SequenceGroup | None
    thumbnail: Thumbnail
    label: dict[str, str] | None
    source: str
    operation: GroupOperation | None
    # A "look closely" label is confirmed on its own; `reasons` say why it is risky, in words.
    look_closely: bool = False
    reasons: str = ""

    @property
    def source_sequence_id(self) -> int | None:
        details = self.operation.details if self.operation else {}
        return (details or {}).get("source_sequence_id")

    @property
    def actor(self):
        return self.operation.actor if self.operation else self.annotation.updated_by

    @property
    def when(self):
        return self.operation.created_at if self.operation else self.annotation.updated_at


def check_cards(
    annotations: list[SequenceAnnotation], detections: dict[int, Detection]
) -> list[CheckCard]:
    """The cards of a page of the check queue; `detections` holds their first detections."""
    thresholds = Thresholds.from_settings(settings)
    cards = []
    for row in annotations:
        group = row.label_source_group or row.sequence.group
        cards.append(
            CheckCard(
                annotation=row,
                sequence=row.sequence,
                group=group,
                thumbnail=thumbnail(detections.get(row.first_detection_id), reference_box(group)),
                label=label_parts(annotation_label(row.annotation)),
                source=row.label_source,
                operation=row.label_source_operation,
                look_closely=is_look_closely(row),
                reasons=risk_text(row.check_reasons or [], thresholds),
            )
        )
    return cards


def check_confirm_notice(outcome: CheckOutcome) -> str:
    text = f"Confirmed {plural(len(outcome.checked), 'label')}."
    if outcome.skipped:
        text += f" {len(outcome.skipped)} skipped (already checked or changed since)."
    return text
