"""Benchmark of the machine-label safeguards: a month of alerts replayed day by day.

About 800 sequences over 30 cameras — recurring antennas, buildings, low cloud, lens flare,
industrial chimneys, and real fires, half of them starting right on a known false positive — go
through the real code, day after day: the importer (`record_import`, which measures each
sequence's motion), the group assignment (`assignment_run`, which inherits labels), a person
working the pages (validates each new group and labels one member, `group_validate` and
`annotation_write(source=human)`, which propagates; annotates by hand whatever is left), and the
check queue (`label_check_confirm` page by page, "look closely" cards one by one,
`label_check_reject` for a wrong card it notices; it misses one wrong card in ten). The platform
gives a verdict on part of the alerts and a temporal score on part; fires grow as plumes do.

The month is replayed twice on fresh databases: with the safeguards, and without (every
`hold_back` answer forced to "no", here only). One JSON line per run: machine labels written,
wrong ones, fires among them, what the check left wrong, the sequences held back, and the
annotations saved on ordinary recurring objects (their share labeled by a machine, rightly, so
nobody had to annotate them); then a line comparing the two runs.

    .venv/bin/python bench/hold_back.py                      # in-memory SQLite
    DATABASE_URL=postgres://USER@HOST:5432/NAME .venv/bin/python bench/hold_back.py
    .venv/bin/python bench/hold_back.py --study              # the motion threshold's study

`--study` needs no database: it measures `boxes.box_motion` on still boxes with a detector's
jitter and on growing plumes, over many random draws, and prints one JSON line per case (the
evidence behind GROUPS_HOLD_BACK_MOTION, see bench/README.md).

The data goes to a throw-away test database created next to the configured one (Django's
`test_<NAME>`, created and dropped by the script); images go to a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory
os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-hold-back-")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.hold_back_month import DAYS, Alert, motion_study, plan_month  # noqa: E402
from groups.assignment import assignment_run  # noqa: E402
from groups.models import (  # noqa: E402
    GroupOperationMember,
    OperationKind,
    SequenceGroup,
)
from groups.selectors import is_look_closely, unchecked_machine_labels  # noqa: E402
from groups.services import (  # noqa: E402
    group_validate,
    label_check_confirm,
    label_check_reject,
)
from sequences import boxes  # noqa: E402
from sequences.boxes import iou, representative_box  # noqa: E402
from sequences.importing.pipeline import (  # noqa: E402
    DetectionRecord,
    SequenceRecord,
    record_import,
)
from sequences.models import (  # noqa: E402
    MACHINE_SOURCES,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import annotation_label  # noqa: E402
from sequences.services import AutogenParams, annotation_write, stamps  # noqa: E402
from tests.factories import UserFactory, jpeg_bytes  # noqa: E402

MEDIA = Path(settings.MEDIA_ROOT)
CHECKER_MISSES_ONE_IN = 10
# The operations that write machine labels (a validation derives a label and fans it out).
LABEL_WRITES = [
    OperationKind.INHERIT,
    OperationKind.PROPAGATE,
    OperationKind.VALIDATE,
    OperationKind.BULK,
]
PLATFORM_IMAGE = jpeg_bytes()


# --- The replay -------------------------------------------------------------------------------


def _record(alert: Alert) -> SequenceRecord:
    return SequenceRecord(
        source_api="pyronear_french",
        alert_api_id=alert.alert_api_id,
        organization_id=1 + alert.camera % 3,
        organization_name=f"SDIS {1 + alert.camera % 3:02d}",
        camera_id=alert.camera,
        camera_name=f"camera-{alert.camera:02d}",
        lat=44.5,
        lon=4.5,
        azimuth=alert.azimuth,
        is_wildfire_alertapi=alert.verdict,
        recorded_at=alert.start,
        last_seen_at=alert.start + timedelta(minutes=len(alert.frames)),
        temporal_model_score=alert.score,
        temporal_model_version="0.1.0" if alert.score is not None else None,
        temporal_api_version="v0.3.2" if alert.score is not None else None,
        detections=[
            DetectionRecord(
                alert_api_id=alert.alert_api_id * 100 + index,
                recorded_at=alert.start + timedelta(seconds=30 * index),
                image=PLATFORM_IMAGE,
                algo_predictions=predictions,
            )
            for index, predictions in enumerate(alert.frames)
        ],
    )


def _misses(alert_api_id: int) -> bool:
    """Whether the checker misses this wrong card (one in ten, the same cards in every run)."""
    digest = hashlib.sha256(f"check-{alert_api_id}".encode()).digest()
    return digest[0] % CHECKER_MISSES_ONE_IN == 0


class Person:
    """The annotation team, working the pages through the services the views call."""

    def __init__(self, truth: dict[int, Alert]):
        self.actor = UserFactory(username="annotator")
        self.truth = truth  # by sequence id
        self.annotations = 0
        self.check_clicks = 0

    def annotate(self, sequence: Sequence) -> None:
        """A person's annotation of the sequence with what it really is (one cluster)."""
        label = self.truth[sequence.pk].label
        cluster = {
            "is_smoke": label.kind == "smoke",
            "smoke_type": label.value if label.kind == "smoke" else None,
            "false_positive_types": [] if label.kind == "smoke" else [label.value],
            "bboxes": [],
        }
        annotation_write(
            sequence=sequence,
            annotation={"sequences_bbox": [cluster]},
            processing_stage=ProcessingStage.SEQ_ANNOTATION_DONE,
            has_missed_smoke=False,
            is_unsure=False,
            source=LabelSource.HUMAN,
            actor=self.actor,
        )
        self.annotations += 1

    def check_queue(self) -> None:
        """Page after page: reject the wrong cards noticed, confirm the rest (a look-closely card
        on its own)."""
        page_size = settings.GROUPS_CHECK_PAGE_SIZE
        while page := list(unchecked_machine_labels()[:page_size]):
            confirm = []
            for row in page:
                wrong = annotation_label(row.annotation) != self.truth[row.sequence_id].label
                if wrong and not _misses(self.truth[row.sequence_id].alert_api_id):
                    label_check_reject(sequence_id=row.sequence_id, actor=self.actor)
                    self.check_clicks += 1
                elif is_look_closely(row):
                    label_check_confirm(annotation_ids=[row.pk], actor=self.actor)
                    self.check_clicks += 1
                else:
                    confirm.append(row.pk)
            if confirm:
                label_check_confirm(annotation_ids=confirm, actor=self.actor)
                self.check_clicks += 1

    def review_groups(self) -> None:
        """Validate each listed group not validated yet; one still unlabeled gets a member
        labeled by hand (the first writable member of what most of its members are)."""
        groups = (
            SequenceGroup.objects.filter(is_validated=False)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for group_id in list(groups):
            members = list(Sequence.objects.filter(group_id=group_id).order_by("recorded_at", "pk"))
            if len(members) < settings.GROUPS_MIN_LISTED_MEMBERS:
                continue
            group_validate(group_id=group_id, actor=self.actor)
            group = SequenceGroup.objects.get(pk=group_id)
            if group.smoke_type or group.false_positive_type:
                continue
            majority = statistics.mode(str(self.truth[m.pk].label) for m in members)
            writable = set(
                SequenceAnnotation.objects.filter(
                    sequence__in=members, processing_stage=ProcessingStage.READY_TO_ANNOTATE
                ).values_list("sequence_id", flat=True)
            )
            candidates = [m for m in members if m.pk in writable]
            chosen = next((m for m in candidates if str(self.truth[m.pk].label) == majority), None)
            if chosen is not None:
                self.annotate(chosen)

    def annotation_queue(self) -> int:
        """Annotate by hand every sequence still waiting (one at a time: a save may label
        others through its group)."""
        done = 0
        while True:
            waiting = (
                Sequence.objects.filter(
                    annotation__processing_stage=ProcessingStage.READY_TO_ANNOTATE
                )
                .order_by("recorded_at", "pk")
                .first()
            )
            if waiting is None:
                return done
            self.annotate(waiting)
            done += 1


def replay(alerts: list[Alert], *, safeguards: bool) -> dict:
    """Replay the month on the current (empty) database; return the figures."""
    started = time.perf_counter()
    truth: dict[int, Alert] = {}
    person = None
    held_back: dict[int, str] = {}
    unguarded = (
        nullcontext()
        if safeguards
        else mock.patch.object(stamps, "hold_back", lambda **kwargs: None)
    )
    write = stamps._stamps_write

    def watched_write(*args, **kwargs):
        """The set-wise writer of machine labels, noting every sequence it holds back."""
        outcomes = write(*args, **kwargs)
        for outcome in outcomes:
            if outcome.held_back:
                held_back.setdefault(outcome.sequence_id, outcome.hold_back)
        return outcomes

    with unguarded, mock.patch.object(stamps, "_stamps_write", watched_write):
        for day in range(DAYS):
            for alert in (alert for alert in alerts if alert.day == day):
                record_import(_record(alert), autogen=AutogenParams())
                sequence_id = Sequence.objects.get(alert_api_id=alert.alert_api_id).pk
                truth[sequence_id] = alert
            person = person or Person(truth)
            assignment_run()
            person.check_queue()
            person.review_groups()
            person.check_queue()
            while person.annotation_queue():
                person.check_queue()
    figures = _figures(truth, person, held_back)
    figures.update(
        safeguards=safeguards,
        seconds=round(time.perf_counter() - started, 1),
        database=connection.vendor,
    )
    return figures


def _figures(truth: dict[int, Alert], person: Person, held_back: dict[int, str]) -> dict:
    written = GroupOperationMember.objects.filter(
        operation__kind__in=LABEL_WRITES, after__label_source__in=sorted(MACHINE_SOURCES)
    ).values_list("sequence_id", "after")
    machine = wrong = fires = 0
    for sequence_id, after in written:
        machine += 1
        label = annotation_label(after["annotation"])
        if label != truth[sequence_id].label:
            wrong += 1
            fires += truth[sequence_id].truth == "fire" and label.kind == "fp"
    final = {
        row.sequence_id: row
        for row in SequenceAnnotation.objects.all().only(
            "sequence_id", "annotation", "label_source"
        )
    }
    left_wrong = fires_left = saved = 0
    for sequence_id, row in final.items():
        if row.label_source not in MACHINE_SOURCES:
            continue
        right = annotation_label(row.annotation) == truth[sequence_id].label
        if not right:
            left_wrong += 1
            fires_left += truth[sequence_id].truth == "fire"
        elif truth[sequence_id].truth != "fire":
            saved += 1
    ordinary = sum(1 for alert in truth.values() if alert.truth != "fire")
    fire_ids = {pk for pk, alert in truth.items() if alert.truth == "fire"}
    return {
        "bench": "hold_back",
        "sequences": len(truth),
        "fires": len(fire_ids),
        "fires_on_recurring_objects": sum(1 for pk in fire_ids if truth[pk].near_object),
        "machine_labels": machine,
        "wrong_machine_labels": wrong,
        "fires_among_them": fires,
        "left_wrong_after_check": left_wrong,
        "fires_left_wrong": fires_left,
        "held_back": len(held_back),
        "held_back_fires": len(fire_ids & set(held_back)),
        "held_back_ordinary": len(set(held_back) - fire_ids),
        "held_back_ordinary_by_reason": dict(
            Counter(reason for pk, reason in held_back.items() if pk not in fire_ids)
        ),
        "ordinary": ordinary,
        "annotations_saved": saved,
        "annotations_saved_percent": round(100 * saved / ordinary, 1),
        "human_annotations": person.annotations,
        "check_clicks": person.check_clicks,
    }


def fires_on_objects_inherit(alerts: list[Alert]) -> float:
    """Share of the fires placed on a recurring object whose representative box overlaps the
    object's enough to inherit its label (a check of the month's plan)."""
    by_view: dict[tuple[int, int], list[Alert]] = {}
    for alert in alerts:
        by_view.setdefault((alert.camera, alert.azimuth), []).append(alert)
    near = [alert for alert in alerts if alert.near_object]
    gate = settings.GROUPS_INHERITANCE_MIN_IOU
    hits = 0
    for fire in near:
        box = representative_box(fire.frames[: settings.GROUPS_REPRESENTATIVE_DETECTIONS])
        others = [a for a in by_view[(fire.camera, fire.azimuth)] if a.truth != "fire"]
        best = max(
            (iou(box["xyxyn"], representative_box(o.frames[:10])["xyxyn"]) for o in others),
            default=0.0,
        )
        hits += best > gate
    return round(hits / len(near), 2) if near else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--study", action="store_true", help="the motion study only (no database)")
    parser.add_argument("--draws", type=int, default=20000, help="random draws per study case")
    parser.add_argument(
        "--motion-min-frames",
        type=int,
        default=None,
        help="what-if: the framed boxes box_motion needs before it measures (default: its own)",
    )
    options = parser.parse_args()
    if options.motion_min_frames is not None:
        boxes.MOTION_MIN_FRAMES = options.motion_min_frames
    try:
        if options.study:
            for line in motion_study(options.draws, options.seed):
                print(json.dumps(line), flush=True)
            return
        alerts = plan_month(options.seed)
        print(
            json.dumps(
                {
                    "bench": "hold_back_plan",
                    "sequences": len(alerts),
                    "cameras": len({alert.camera for alert in alerts}),
                    "fires_on_objects_overlapping_enough_to_inherit": fires_on_objects_inherit(
                        alerts
                    ),
                }
            ),
            flush=True,
        )
        runs = {}
        test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            for safeguards in (True, False):
                call_command("flush", interactive=False, verbosity=0)
                shutil.rmtree(MEDIA / "detections", ignore_errors=True)
                runs[safeguards] = replay(alerts, safeguards=safeguards)
                print(json.dumps(runs[safeguards]), flush=True)
        finally:
            connection.creation.destroy_test_db(test_name, verbosity=0)
        drop = runs[False]["annotations_saved_percent"] - runs[True]["annotations_saved_percent"]
        print(
            json.dumps(
                {
                    "bench": "hold_back_comparison",
                    "seed": options.seed,
                    "motion_threshold": settings.GROUPS_HOLD_BACK_MOTION,
                    "motion_min_frames": boxes.MOTION_MIN_FRAMES,
                    "annotations_saved_drop_points": round(drop, 1),
                    "fires_filed_as_false_positives_with_safeguards": runs[True][
                        "fires_among_them"
                    ],
                    "target_met": runs[True]["fires_among_them"] == 0 and drop < 5,
                }
            )
        )
    finally:
        shutil.rmtree(MEDIA, ignore_errors=True)


if __name__ == "__main__":
    main()
