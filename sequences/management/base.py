"""What the project's management commands share."""

from __future__ import annotations

import sys
from functools import partial

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation_site.logs import command_logged


class ProjectCommand(BaseCommand):
    """A management command whose bad arguments exit with status 1 (SPEC §8.4), and whose run
    is logged with a request id of its own (`annotation_site.logs.command_logged`).

    argparse exits with 2, which for cron would read as `assign_groups`' "another run is in
    progress"; every other fatal error of the commands is 1.
    """

    def execute(self, *args, **options):
        with command_logged(self.__module__.rsplit(".", 1)[-1]):
            return super().execute(*args, **options)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.error = partial(_argument_error, parser)
        return parser


def _argument_error(parser: CommandParser, message: str) -> None:
    if parser.called_from_command_line:
        parser.print_usage(sys.stderr)
        parser.exit(1, f"{parser.prog}: error: {message}\n")
    raise CommandError(f"Error: {message}")  # as Django's parser does under call_command
