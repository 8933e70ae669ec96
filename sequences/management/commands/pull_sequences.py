"""`manage.py pull_sequences`: pull alerts from the Pyronear platform (SPEC §8.3, §8.4).

Credentials and the URL come from the settings, which read them from the environment
(`PLATFORM_API_URL`, `PLATFORM_LOGIN`, `PLATFORM_PASSWORD`, `PLATFORM_ADMIN_LOGIN`,
`PLATFORM_ADMIN_PASSWORD`); they are never printed. The pull itself is
`sequences.importing.platform_pull.platform_pull` on the shared import pipeline; this command
parses options, reports and chains the group assignment.
"""

from argparse import ArgumentTypeError
from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import CommandError

from sequences.importing.cli import ImportCommand, ProgressLine, autogen_from_options
from sequences.importing.platform_client import Account, PlatformClient, PlatformError, RetryPolicy
from sequences.importing.platform_pull import PullOptions, platform_pull
from sequences.importing.platform_records import source_api_for
from sequences.importing.report import ImportReport
from sequences.models import SourceApi

CREDENTIAL_SETTINGS = (
    "PLATFORM_API_URL",
    "PLATFORM_LOGIN",
    "PLATFORM_PASSWORD",
    "PLATFORM_ADMIN_LOGIN",
    "PLATFORM_ADMIN_PASSWORD",
)
SETTINGS_MISSING = "set {names} in the environment"
DATE_INVALID = "must be a date YYYY-MM-DD"
DATES_REVERSED = "--date-to ({to}) is before --date-from ({start})"
SEQUENCE_LIST_INVALID = "--sequence-list must be platform sequence ids separated by commas"
MAX_SEQUENCES_INVALID = "--max-sequences must be at least 1"
RECORDS_FAILED = "{count} sequence(s) or listing(s) could not be pulled; see the errors above"


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(DATE_INVALID) from None


class Command(ImportCommand):
    help = (
        "Pull the alerts of the given days from the Pyronear platform: organisations, cameras, "
        "sequences, detections with their images, and ready_to_annotate placeholders; then run "
        "the group assignment. Exit 0 on success, 1 on a fatal error (settings, credentials, "
        "platform unreachable), 3 when some sequences or days failed."
    )
    records_failed = RECORDS_FAILED
    reports_fatal = True

    def add_arguments(self, parser) -> None:
        parser.add_argument("--date-from", type=_date, required=True, help="first day (UTC)")
        parser.add_argument("--date-to", type=_date, help="last day, inclusive (default: from)")
        parser.add_argument(
            "--source-api",
            choices=SourceApi.values,
            help="required when PLATFORM_API_URL is neither Pyronear France's nor CENIA's",
        )
        parser.add_argument(
            "--max-sequences", type=int, help="consider at most N listed sequences in all"
        )
        parser.add_argument(
            "--sequence-list", help="only these platform sequence ids, e.g. 48213,48214"
        )
        parser.add_argument(
            "--detections-limit",
            type=int,
            default=settings.IMPORT_DETECTIONS_LIMIT,
            help="images per sequence (<= 0: up to 100)",
        )
        super().add_arguments(parser)

    def handle(self, *args, **options) -> None:
        pull_options = self._pull_options(options)
        client = PlatformClient(
            base_url=settings.PLATFORM_API_URL,
            user=Account(settings.PLATFORM_LOGIN, settings.PLATFORM_PASSWORD),
            admin=Account(settings.PLATFORM_ADMIN_LOGIN, settings.PLATFORM_ADMIN_PASSWORD),
            policy=RetryPolicy.from_settings(),
        )
        report = ImportReport()
        progress = ProgressLine(self.stderr, label="sequences")
        fatal = None
        try:
            platform_pull(client=client, options=pull_options, report=report, progress=progress)
        except PlatformError as exc:
            fatal = str(exc)
        progress.done()
        self.finish(report, options, fatal=fatal)

    def _pull_options(self, options) -> PullOptions:
        """Validated options and settings, or CommandError naming what is wrong."""
        missing = [name for name in CREDENTIAL_SETTINGS if not getattr(settings, name, "")]
        if missing:
            raise CommandError(SETTINGS_MISSING.format(names=", ".join(missing)))
        try:
            source_api = source_api_for(
                settings.PLATFORM_API_URL, options["source_api"], choices=SourceApi.values
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        autogen = autogen_from_options(options)
        start, end = options["date_from"], options["date_to"] or options["date_from"]
        if end < start:
            raise CommandError(DATES_REVERSED.format(to=end, start=start))
        if options["max_sequences"] is not None and options["max_sequences"] < 1:
            raise CommandError(MAX_SEQUENCES_INVALID)
        return PullOptions(
            source_api=source_api,
            days=[start + timedelta(days=n) for n in range((end - start).days + 1)],
            autogen=autogen,
            sequence_ids=self._sequence_ids(options["sequence_list"]),
            max_sequences=options["max_sequences"],
            detections_limit=options["detections_limit"],
        )

    @staticmethod
    def _sequence_ids(value: str | None) -> frozenset[int] | None:
        if value is None:
            return None
        try:
            ids = frozenset(int(part) for part in value.split(",") if part.strip())
        except ValueError:
            raise CommandError(SEQUENCE_LIST_INVALID) from None
        if not ids:
            raise CommandError(SEQUENCE_LIST_INVALID)
        return ids
