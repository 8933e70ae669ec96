"""`manage.py push_annotations --remote-url URL`: send the labels of sequences cloned from
another annotation API back to it.

The account comes from REMOTE_ANNOTATION_LOGIN / REMOTE_ANNOTATION_PASSWORD, or else from
SOURCE_ANNOTATION_LOGIN / SOURCE_ANNOTATION_PASSWORD, and is never printed. The push itself is
`sequences.importing.remote_push.annotations_push`.
"""

import json

from django.core.management.base import CommandError

from sequences.importing.cli import ProgressLine
from sequences.importing.platform_client import PlatformError
from sequences.importing.remote_cli import (
    REMOTE_CREDENTIALS,
    SOURCE_CREDENTIALS,
    max_sequences,
    remote_account,
    remote_base,
    remote_client,
)
from sequences.importing.remote_push import PushOptions, PushReport, annotations_push
from sequences.importing.report import EXIT_FATAL, EXIT_OK
from sequences.management.base import ProjectCommand

PUSHES_FAILED = "{count} annotation(s) could not be pushed or are in conflict; see above"


class Command(ProjectCommand):
    help = (
        "Push the labels people stand behind (human labels, machine labels confirmed in the "
        "check queue), at seq_annotation_done or later, of the sequences cloned from URL back "
        "to it; a remote annotation changed there since the clone is a conflict, left alone "
        "unless --force. Exit 0 on success, 1 on a fatal error, 3 when some failed or conflict."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--remote-url",
            required=True,
            help="the address the sequences were cloned from (/api/v1 is added)",
        )
        parser.add_argument("--max-sequences", type=int, help="push at most N annotations")
        parser.add_argument(
            "--include-unchecked",
            action="store_true",
            help="also push machine labels nobody confirmed in the check queue",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="overwrite remote annotations changed there since the clone",
        )
        parser.add_argument("--dry-run", action="store_true", help="say what would be sent")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options) -> None:
        push_options = PushOptions(
            remote_url=remote_base(options["remote_url"], "--remote-url"),
            max_sequences=max_sequences(options["max_sequences"]),
            include_unchecked=options["include_unchecked"],
            force=options["force"],
            dry_run=options["dry_run"],
        )
        account = remote_account(REMOTE_CREDENTIALS, SOURCE_CREDENTIALS)
        client = remote_client(push_options.remote_url, account)
        report = PushReport()
        progress = ProgressLine(self.stderr, label="annotations")
        fatal = None
        try:
            annotations_push(client=client, options=push_options, report=report, progress=progress)
        except PlatformError as exc:
            fatal = str(exc)
        finally:
            client.logout()
        progress.done()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(fatal=fatal)))
        else:
            self.stdout.write(report.render())
        if fatal is not None:
            raise CommandError(fatal, returncode=EXIT_FATAL)
        if report.exit_code != EXIT_OK:
            count = report.failed + report.conflicts
            raise CommandError(PUSHES_FAILED.format(count=count), returncode=report.exit_code)
