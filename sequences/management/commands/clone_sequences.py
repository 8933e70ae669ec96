"""`manage.py clone_sequences --source-url URL`: clone sequences from another annotation API
(another instance of this site, or the reference), with their detections and images, then run
the group assignment.

The account comes from SOURCE_ANNOTATION_LOGIN / SOURCE_ANNOTATION_PASSWORD and is never
printed. The clone itself is `sequences.importing.remote_clone.remote_clone` on the shared
import pipeline; this command parses options, reports and chains the assignment.
"""

import json

from django.core.management.base import CommandError

from sequences.importing.cli import ImportCommand, ProgressLine, autogen_from_options
from sequences.importing.platform_client import PlatformError
from sequences.importing.remote_cli import (
    DATES_REVERSED,
    SOURCE_CREDENTIALS,
    alert_ids,
    iso_date,
    max_sequences,
    remote_account,
    remote_base,
    remote_client,
)
from sequences.importing.remote_clone import (
    ALL_STAGES,
    CLONE_STAGES,
    CloneOptions,
    CloneReport,
    clone_count,
    remote_clone,
)
from sequences.importing.report import EXIT_FATAL
from sequences.models import ProcessingStage

RECORDS_FAILED = "{count} sequence(s) could not be cloned or marked; see the errors above"


class Command(ImportCommand):
    help = (
        "Clone sequences from another annotation API (this site or the reference): "
        "organisations, cameras, sequences, detections with their images, and a "
        "ready_to_annotate placeholder or the remote annotation; then run the group "
        "assignment. Exit 0 on success, 1 on a fatal error (settings, credentials, remote "
        "unreachable), 3 when some sequences failed."
    )
    records_failed = RECORDS_FAILED
    reports_fatal = True

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--source-url",
            required=True,
            help="the remote's address, e.g. https://annotation.example.org (/api/v1 is added)",
        )
        parser.add_argument(
            "--stage",
            choices=[str(stage) for stage in CLONE_STAGES],
            help="remote sequences at this stage (default ready_to_annotate; all with "
            "--sequence-list)",
        )
        parser.add_argument("--max-sequences", type=int, help="clone at most N listed sequences")
        parser.add_argument("--sequence-list", help="only these alert ids, e.g. 48213,48214")
        parser.add_argument("--date-from", type=iso_date, help="recorded on or after this day")
        parser.add_argument("--date-to", type=iso_date, help="recorded on or before this day")
        parser.add_argument(
            "--mark-source-stage",
            choices=ProcessingStage.values,
            help="once stored here, set the remote annotation to this stage "
            "(e.g. under_annotation, so another team leaves it alone)",
        )
        parser.add_argument(
            "--with-annotations",
            action="store_true",
            help="copy the remote annotation as it is instead of a fresh placeholder",
        )
        parser.add_argument(
            "--count-only", action="store_true", help="print how many would be cloned, and stop"
        )
        super().add_arguments(parser)

    def handle(self, *args, **options) -> None:
        clone_options = self._clone_options(options)
        client = remote_client(clone_options.remote_url, remote_account(SOURCE_CREDENTIALS))
        if options["count_only"]:
            try:
                count = clone_count(client=client, options=clone_options)
            except PlatformError as exc:
                raise CommandError(str(exc), returncode=EXIT_FATAL) from exc
            finally:
                client.logout()
            text = json.dumps({"count": count}) if options["json"] else f"sequences: count={count}"
            self.stdout.write(text)
            return
        report = CloneReport()
        progress = ProgressLine(self.stderr, label="sequences")
        fatal = None
        try:
            remote_clone(client=client, options=clone_options, report=report, progress=progress)
        except PlatformError as exc:
            fatal = str(exc)
        finally:
            client.logout()
        progress.done()
        self.finish(report, options, fatal=fatal)

    def _clone_options(self, options) -> CloneOptions:
        """Validated options, or CommandError naming what is wrong."""
        start, end = options["date_from"], options["date_to"]
        if start is not None and end is not None and end < start:
            raise CommandError(DATES_REVERSED.format(to=end, start=start))
        ids = alert_ids(options["sequence_list"])
        stage = options["stage"] or (ALL_STAGES if ids else ProcessingStage.READY_TO_ANNOTATE)
        return CloneOptions(
            remote_url=remote_base(options["source_url"], "--source-url"),
            autogen=autogen_from_options(options),
            stage=stage,
            alert_ids=ids,
            max_sequences=max_sequences(options["max_sequences"]),
            date_from=start,
            date_to=end,
            mark_stage=options["mark_source_stage"],
            with_annotations=options["with_annotations"],
        )
