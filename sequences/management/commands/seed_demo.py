"""`manage.py seed_demo`: write the demo export folder (`sequences.demo`) and import it with
`import_sequences --no-assign`. Safe to run again: the same options give the same folder, and a
second run imports nothing new (every sequence is already present)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from sequences.demo import DEFAULT_SEED, DEFAULT_SEQUENCES, build_export
from sequences.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Write a demo export folder (a month of alerts from four cameras, drawn with Pillow) "
        "and import it with import_sequences --no-assign. Safe to run again."
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
        sequences, images = build_export(out, count=options["sequences"], seed=options["seed"])
        self.stdout.write(f"Demo export: {sequences} sequences, {images} images in {out}")
        call_command(
            "import_sequences", str(out), "--no-assign", stdout=self.stdout, stderr=self.stderr
        )
