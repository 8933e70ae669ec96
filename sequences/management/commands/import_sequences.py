"""`manage.py import_sequences PATH`: import a local export folder (SPEC §8.2, §8.4)."""

from pathlib import Path

from django.core.management.base import CommandError

from sequences.importing.cli import ImportCommand, ProgressLine, autogen_from_options
from sequences.importing.export_format import EXPORT_FILE, export_import_line, export_lines
from sequences.importing.report import ImportReport

FOLDER_MISSING = "{path} is not a folder"
FILE_UNREADABLE = "cannot read {path}: {reason}"
RECORDS_FAILED = "{count} record(s) could not be imported; see the errors above"


class Command(ImportCommand):
    help = (
        "Import a folder holding sequences.jsonl and its images: organisations, cameras, "
        "sequences, detections and their ready_to_annotate placeholders; then run the group "
        "assignment. Exit 0 on success, 1 on a fatal error, 3 when some records failed."
    )
    records_failed = RECORDS_FAILED

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="the export folder")
        super().add_arguments(parser)

    def handle(self, *args, **options) -> None:
        autogen = autogen_from_options(options)
        folder: Path = options["path"]
        if not folder.is_dir():
            raise CommandError(FOLDER_MISSING.format(path=folder))
        export = folder / EXPORT_FILE
        try:
            lines = export_lines(export)
        except OSError as exc:
            raise CommandError(FILE_UNREADABLE.format(path=export, reason=exc.strerror)) from exc

        report = ImportReport()
        progress = ProgressLine(self.stderr, total=len(lines))
        for line in lines:
            export_import_line(report, line, folder=folder, autogen=autogen)
            progress.tick(report)
        progress.done()
        self.finish(report, options)
