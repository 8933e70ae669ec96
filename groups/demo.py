"""Seeding the demo database from the demo's export folder (`sequences.demo`), as a site three
weeks into the month would be: the first HISTORY_DAYS imported, grouped by the assignment the
import ends with, and reviewed (each group of a recurring object validated and one member
labeled by a person, which labels the group and fans the label out); the last days imported
and waiting for `assign_groups`, which lets them inherit their groups' labels — or holds back
the fires that start right on a labeled antenna. A month shorter than SCENARIO_MIN_SEQUENCES is
only imported.

Running it again imports nothing new, runs no assignment and labels nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from groups.services import group_validate
from sequences.demo.export import DemoExport, build_export
from sequences.importing.export_format import EXPORT_FILE, export_import_line, export_lines
from sequences.importing.pipeline import assignment_chain
from sequences.importing.report import ImportReport
from sequences.models import LabelSource, ProcessingStage, Sequence, SequenceAnnotation
from sequences.payloads import Label, stamp_label
from sequences.services import AutogenParams, annotation_write

REVIEWER = "demo-annotator"
# What a person labels each kind of recurring object; fire groups are left for the visitor.
KIND_LABELS = {
    "antenna": Label.fp("antenna"),
    "low_cloud": Label.fp("low_cloud"),
    "glare": Label.fp("lens_flare"),
    "chimney": Label.smoke("industrial"),
}


@dataclass
class DemoSeeded:
    export: DemoExport
    report: ImportReport
    groups_labeled: int = 0


def _reviewer():
    user, created = get_user_model().objects.get_or_create(username=REVIEWER)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _review(kinds: dict[int, str]) -> int:
    """Validate each listed group of a recurring object and label its first member as a person
    would; returns the groups labeled now (a group whose member is labeled already is skipped)."""
    members: dict[int, list[Sequence]] = defaultdict(list)
    for sequence in Sequence.objects.filter(group__isnull=False).order_by("recorded_at", "pk"):
        members[sequence.group_id].append(sequence)
    labeled, actor = 0, None
    for group_id, sequences in members.items():
        kind = Counter(kinds.get(s.alert_api_id) for s in sequences).most_common(1)[0][0]
        if len(sequences) < settings.GROUPS_MIN_LISTED_MEMBERS or kind not in KIND_LABELS:
            continue
        first = next(s for s in sequences if kinds.get(s.alert_api_id) == kind)
        placeholder = SequenceAnnotation.objects.filter(
            sequence=first, processing_stage=ProcessingStage.READY_TO_ANNOTATE
        ).first()
        if placeholder is None:
            continue
        actor = actor or _reviewer()
        group_validate(group_id=group_id, actor=actor)
        annotation_write(
            sequence=first,
            annotation=stamp_label(placeholder.annotation, KIND_LABELS[kind]),
            processing_stage=ProcessingStage.SEQ_ANNOTATION_DONE,
            has_missed_smoke=False,
            is_unsure=False,
            source=LabelSource.HUMAN,
            actor=actor,
        )
        labeled += 1
    return labeled


def demo_seed(*, out: Path, count: int, seed: int) -> DemoSeeded:
    """Write the export folder into `out` and seed the database from it (see the module)."""
    export = build_export(out, count=count, seed=seed)
    seeded = DemoSeeded(export, ImportReport())
    lines = export_lines(out / EXPORT_FILE)
    autogen = AutogenParams()

    def in_history(line) -> bool:
        return isinstance(line.data, dict) and line.data.get("alert_api_id") in export.history

    for line in filter(in_history, lines):
        export_import_line(seeded.report, line, folder=out, autogen=autogen)
    # Only a history just imported is grouped and reviewed: a second run leaves the site as it is.
    if seeded.report.created:
        assignment_chain(seeded.report)
        seeded.groups_labeled = _review(export.kinds)
    for line in (line for line in lines if not in_history(line)):
        export_import_line(seeded.report, line, folder=out, autogen=autogen)
    return seeded
