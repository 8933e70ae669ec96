"""`manage.py seed_demo`: write the demo export folder (`sequences.demo`) and seed the database
from it: the month's first weeks imported, grouped and reviewed, its last days imported for
`assign_groups` (`groups.demo`). Safe to run again: the same options give the same
folder, and a second run imports nothing new and labels nothing twice."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from groups.demo import demo_seed
from sequences.demo import DEFAULT_SEED, DEFAULT_SEQUENCES
from sequences.importing.report import EXIT_OK
from sequences.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Write a demo export folder (a month of alerts from four cameras, drawn with Pillow) "
        "and seed the database from it: the first three weeks imported, grouped and reviewed "
        "(one member of each recurring object's group labeled), the last days imported for "
        "assign_groups. Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="folder (default: demo_export/)")
        parser.add_argument("--sequences", type=int, default=DEFAULT_SEQUENCES)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def handle(self, *args, **options) -> None:
        if options["sequences"] < 1:
            raise CommandError("--sequences must be at least 1")
        out: Path = options["out"] or Path(settings.BASE_DIR) / "demo_export"
        out.mkdir(parents=True, exist_ok=True)
        seeded = demo_seed(out=out, count=options["sequences"], seed=options["seed"])
        export, report = seeded.export, seeded.report
        self.stdout.write(
            f"Demo export: {export.sequences} sequences, {export.images} images in {out}"
        )
        self.stdout.write(report.render())
        if export.history:
            self.stdout.write(f"Demo review: {seeded.groups_labeled} groups labeled")
        if report.exit_code != EXIT_OK:
            raise CommandError("the demo could not be seeded; see the report above")
