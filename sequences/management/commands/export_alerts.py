"""`manage.py export_alerts --out DIR`: the training export as a dataset on disk (see
`sequences.exporting`)."""

from sequences.exporting.cli import (
    ExportProgress,
    add_export_arguments,
    export_finish,
    export_run,
    plan_from_options,
)
from sequences.management.base import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Write the alerts whose labels a person stands behind as a dataset: manifest.jsonl "
        "(one line per alert, as GET /api/v1/export/alerts) and images/{source_api}/"
        "{alert_api_id}/{detection_id}.jpg; --format yolo also builds a YOLO tree. Takes the "
        "endpoint's filters as options, --since for an incremental pull. Exit 0 on success, "
        "1 on a fatal error, 3 when some images could not be copied."
    )

    def add_arguments(self, parser) -> None:
        add_export_arguments(parser)

    def handle(self, *args, **options) -> None:
        plan = plan_from_options(options)
        outcome = export_run(plan, progress=ExportProgress(self.stderr, label="alerts"))
        export_finish(self, outcome, as_json=options["json"])
