"""`manage.py import_sequences PATH`: import a local export folder (SPEC §8.2, §8.4)."""

import json
from pathlib import Path

from django.core.management.base import CommandError

from sequences.imports import (
    EXIT_FATAL,
    EXIT_OK,
    EXPORT_FILE,
    ImportReport,
    ProgressLine,
    add_pipeline_arguments,
    assignment_chained,
    autogen_from_options,
    chain_assignment,
    export_import_line,
    export_lines,
)
from sequences.management.base import ProjectCommand

FOLDER_MISSING = "{path} is not a folder"
FILE_UNREADABLE = "cannot read {path}: {reason}"
RECORDS_FAILED = "{count} record(s) could not be imported; see the errors above"


class Command(ProjectCommand):
    help = (
        "Import a folder holding sequences.jsonl and its images: organisations, cameras, "
        "sequences, detections and their ready_to_annotate placeholders; then run the group "
        "assignment. Exit 0 on success, 1 on a fatal error, 3 when some records failed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="the export folder")
        add_pipeline_arguments(parser)

    def handle(self, *args, **options) -> None:
        try:
            autogen = autogen_from_options(options)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
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
        if assignment_chained(options["no_assign"]):
            chain_assignment(report, stderr=self.stderr)

        self.stdout.write(json.dumps(report.as_dict()) if options["json"] else report.render())
        if report.exit_code == EXIT_FATAL:
            raise CommandError(report.assignment_line(), returncode=EXIT_FATAL)
        if report.exit_code != EXIT_OK:
            raise CommandError(
                RECORDS_FAILED.format(count=report.failed), returncode=report.exit_code
            )
