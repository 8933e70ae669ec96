"""``manage.py group_report``: choose the matching threshold, the inheritance gate and the
hold-back thresholds of machine labels from evidence.

Replays the assignment (SPEC §4.5) over the whole history in memory, once per threshold, and
prints what each choice would give. Nothing is written. The replay and its statistics are
:mod:`groups.reports`; this command parses the options and prints the report.
"""

import json
from argparse import RawDescriptionHelpFormatter

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from groups.reports import assignment_report
from sequences.management.base import ProjectCommand

DEFAULT_THRESHOLDS = "0.2,0.3,0.4,0.5"
DEFAULT_GATES = "0.3,0.4,0.5,0.6,0.7"
# The hold-back values replayed by default, around the configured ones: the temporal score in
# steps of 0.1 (kept within [0, 1]), the motion as a multiple of its setting.
SCORE_STEPS = (-0.2, -0.1, 0.0, 0.1, 0.2)
MOTION_FACTORS = (0.4, 0.6, 1.0, 1.4, 2.0)
VALUES_INVALID = "--{option} must be a comma-separated list of numbers {bounds}, not {raw!r}"
# What each option accepts, in words and as a test.
BOUNDS = {
    "thresholds": (">= 0 and < 1", lambda value: 0 <= value < 1),
    "gates": (">= 0 and < 1", lambda value: 0 <= value < 1),
    "hold-back-scores": ("between 0 and 1", lambda value: 0 <= value <= 1),
    "hold-back-motions": (">= 0", lambda value: 0 <= value < float("inf")),
}

HELP = f"""\
Replay the group assignment over ALL sequences that have an azimuth (grouped, ungrouped or
excluded alike), as if they arrived in (recorded_at, id) order into an empty database, and
report what each matching threshold would give. Nothing is written.

Per threshold (--thresholds, default {DEFAULT_THRESHOLDS}):
  groups          groups the replay forms; "listed" = those with at least
                  GROUPS_MIN_LISTED_MEMBERS members (the ones the groups page shows)
  joined          sequences that join an existing group instead of founding one
  clicks saved    annotations saved if each listed group were labeled once instead of
                  each of its members: the sum of (members - 1) over listed groups
  disagree        among members carrying a human label (label_source human, stage
                  seq_annotation_done / in_review / annotated) in groups with at least two
                  of them: the share whose label differs from their group's majority human
                  label (ties go to the earliest member) -- the price of a looser threshold

Per inheritance gate (--gates, default {DEFAULT_GATES}), at the configured
GROUPS_MATCH_IOU_THRESHOLD: a joiner's group counts as labeled when its OTHER members carry
human labels (their majority label). "would inherit" = joiners of such a group whose IoU with
the group's reference box exceeds the gate; "different label" = those of them whose own human
label differs from the group's (a wrong machine label the gate would have let through).

Hold-back thresholds of machine labels, at the same threshold and the configured gate: the
joiners that would inherit a false-positive label, as above. Per value of the temporal-score
threshold (--hold-back-scores, default around GROUPS_HOLD_BACK_TEMPORAL_SCORE) and of the
motion threshold (--hold-back-motions, default around GROUPS_HOLD_BACK_MOTION): "held back" =
those whose own score (resp. motion) is at or above the value -- that signal alone, whatever
the others say; a sequence never scored or measured is never held back by it --; "different
label" = those of them whose own human label differs from the group's (the hold-back was
right). The motion is the stored one, or measured from the first detections when none is
stored yet. The platform's own verdict holds back the alerts it classed as smoke whatever the
thresholds; the header counts them.
"""


def parse_values(raw: str, option: str) -> list[float]:
    """``"0.2,0.3"`` -> ``[0.2, 0.3]``; every value within the option's BOUNDS, else
    CommandError."""
    bounds, accepts = BOUNDS[option]
    try:
        values = [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(accepts(value) for value in values):
        raise CommandError(VALUES_INVALID.format(option=option, bounds=bounds, raw=raw))
    return values


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def around(configured: float, steps, *, scale: bool, top: float | None = None) -> str:
    """Default values around a configured one: ``configured + step`` (or ``* step`` with
    ``scale``), rounded, kept within [0, ``top``], comma-separated."""
    values = {round(configured * step if scale else configured + step, 4) for step in steps}
    return ",".join(
        f"{value:g}" for value in sorted(values) if value >= 0 and (top is None or value <= top)
    )


class Command(ProjectCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Keep the help's line breaks: it documents what every column means.
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--thresholds",
            default=DEFAULT_THRESHOLDS,
            help=f"Matching thresholds to replay, comma-separated (default {DEFAULT_THRESHOLDS}).",
        )
        parser.add_argument(
            "--gates",
            default=DEFAULT_GATES,
            help=f"Inheritance gates to evaluate, comma-separated (default {DEFAULT_GATES}).",
        )
        scores = around(settings.GROUPS_HOLD_BACK_TEMPORAL_SCORE, SCORE_STEPS, scale=False, top=1)
        parser.add_argument(
            "--hold-back-scores",
            default=scores,
            help=f"Temporal-score thresholds to evaluate, comma-separated (default {scores}).",
        )
        motions = around(settings.GROUPS_HOLD_BACK_MOTION, MOTION_FACTORS, scale=True)
        parser.add_argument(
            "--hold-back-motions",
            default=motions,
            help=f"Motion thresholds to evaluate, comma-separated (default {motions}).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead.")

    def handle(self, *args, **options) -> None:
        report = assignment_report(
            thresholds=parse_values(options["thresholds"], "thresholds"),
            gates=parse_values(options["gates"], "gates"),
            hold_back_scores=parse_values(options["hold_back_scores"], "hold-back-scores"),
            hold_back_motions=parse_values(options["hold_back_motions"], "hold-back-motions"),
        )
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self._print(report)

    def _print(self, report: dict) -> None:
        out = self.stdout.write
        out(
            f"History: {report['sequences']} sequences with an azimuth and a usable box "
            f"({report['skipped_no_bbox']} more have no usable box); "
            f"{report['human_labeled']} carry a finished human label."
        )
        out("")
        out(
            f"Matching threshold (configured GROUPS_MATCH_IOU_THRESHOLD = "
            f"{settings.GROUPS_MATCH_IOU_THRESHOLD}; listed = at least "
            f"{report['min_listed_members']} members)"
        )
        out(
            f"{'threshold':>9}  {'groups':>7}  {'listed':>7}  {'joined':>15}  "
            f"{'clicks saved':>15}  {'disagree':>18}"
        )
        for row in report["thresholds"]:
            out(
                f"{row['threshold']:>9}  {row['groups']:>7}  {row['listed_groups']:>7}  "
                f"{row['joined']:>7} {pct(row['joined_share']):>7}  "
                f"{row['clicks_saved']:>7} {pct(row['clicks_saved_share']):>7}  "
                f"{row['disagreeing_members']:>4}/{row['labeled_members']:<5} "
                f"{pct(row['disagreement_share']):>7}"
            )
        inheritance = report["inheritance"]
        out("")
        out(
            f"Inheritance gate (configured GROUPS_INHERITANCE_MIN_IOU = "
            f"{inheritance['configured_gate']}) at threshold {inheritance['threshold']}: "
            f"{inheritance['joiners']} joiners, {inheritance['joiners_of_labeled_groups']} "
            "of them join a group whose other members carry human labels"
        )
        out(f"{'gate':>5}  {'would inherit':>13}  {'own label':>9}  {'different label':>17}")
        for row in inheritance["gates"]:
            out(
                f"{row['gate']:>5}  {row['would_inherit']:>13}  {row['with_human_label']:>9}  "
                f"{row['different_human_label']:>8} {pct(row['different_share']):>8}"
            )
        self._print_hold_back(report["hold_back"], inheritance["threshold"])

    def _print_hold_back(self, hold_back: dict, threshold: float) -> None:
        out = self.stdout.write
        out("")
        out(
            f"Hold-back thresholds at threshold {threshold} and gate {hold_back['gate']}: "
            f"{hold_back['false_positive_inheritors']} joiners would inherit a false-positive "
            f"label; {hold_back['scored']} carry a temporal score, {hold_back['measured']} a "
            f"motion; the platform classed {hold_back['platform_smoke']} as smoke (held back "
            "whatever the thresholds)"
        )
        tables = (
            ("Temporal score", "GROUPS_HOLD_BACK_TEMPORAL_SCORE", "temporal_score", "score"),
            ("Motion", "GROUPS_HOLD_BACK_MOTION", "motion", "motion"),
        )
        for title, setting, name, column in tables:
            configured = hold_back[f"configured_{name}"]
            out(f"{title} (configured {setting} = {configured}), this signal alone")
            out(f"{column:>6}  {'held back':>9}  {'own label':>9}  {'different label':>17}")
            for row in hold_back[f"{name}s"]:
                out(
                    f"{row['value']:>6}  {row['held_back']:>9}  {row['with_human_label']:>9}  "
                    f"{row['different_human_label']:>8} {pct(row['different_share']):>8}"
                )
