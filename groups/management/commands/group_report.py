"""``manage.py group_report``: choose the matching threshold and the inheritance gate from evidence.

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
VALUES_INVALID = "--{option} must be a comma-separated list of numbers >= 0 and < 1, not {raw!r}"

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
"""


def parse_values(raw: str, option: str) -> list[float]:
    """``"0.2,0.3"`` -> ``[0.2, 0.3]``; every value in [0, 1). Raises CommandError otherwise."""
    try:
        values = [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(0 <= value < 1 for value in values):
        raise CommandError(VALUES_INVALID.format(option=option, raw=raw))
    return values


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
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead.")

    def handle(self, *args, **options) -> None:
        thresholds = parse_values(options["thresholds"], "thresholds")
        gates = parse_values(options["gates"], "gates")
        report = assignment_report(thresholds=thresholds, gates=gates)
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self._print(report)

    def _print(self, report: dict) -> None:
        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

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
