"""The sequences app: registers its settings check."""

from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "sequences"
    verbose_name = "Sequences"

    def ready(self) -> None:
        from sequences import checks  # noqa: F401  (registers the settings check)
