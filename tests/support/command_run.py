"""Running a management command in the test's process, as cron would: its exit status, its
output and the message of its error."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError


@dataclass
class Ran:
    code: int
    out: str
    err: str
    message: str

    @property
    def everything(self) -> str:
        return self.out + self.err + self.message

    def json(self) -> Any:
        return json.loads(self.out)


class Terminal(io.StringIO):
    """A stream that says it is a terminal (the progress line is written to it)."""

    def isatty(self) -> bool:
        return True


def command_run(name: str, *args: str, stderr: io.StringIO | None = None) -> Ran:
    out, err = io.StringIO(), stderr or io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as exc:
        return Ran(exc.returncode, out.getvalue(), err.getvalue(), str(exc))
    return Ran(0, out.getvalue(), err.getvalue(), "")
