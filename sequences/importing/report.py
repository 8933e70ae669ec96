"""The report of an import (SPEC §8.4): counters, record errors, warnings, the chained
assignment, the text and JSON it prints and the exit status it ends with.

`ChainedAssignment` is what the assignment hook an import ends with hands back
(`sequences.importing.pipeline.assignment_chain`): the run's result, the run that held the lock,
or why it failed. The hook is given by a setting, so this app never imports the groups app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sequences.payloads import Loc

if TYPE_CHECKING:
    from sequences.importing.pipeline import ImportedCounts

# Exit statuses of the import commands (SPEC §8.4); 2 is `assign_groups`' own "run in progress".
EXIT_OK = 0
EXIT_FATAL = 1
EXIT_RECORD_ERRORS = 3

ASSIGNMENT_SKIPPED = "assignment skipped: run {run_id} in progress"
ASSIGNMENT_FAILED = "assignment failed: {reason}"

# Counters of an assignment run, in the order its command prints them (SPEC §5.2).
ASSIGNMENT_COUNTERS = (
    "processed",
    "new_groups",
    "joined_existing",
    "inherited_annotations",
    "joined_not_inherited",
    "held_back",
    "skipped_no_bbox",
)


def format_loc(loc: Loc) -> str:
    """`("detections", 2, "image")` -> `detections[2].image`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text


def format_error(loc: Loc, message: str) -> str:
    return f"{format_loc(loc)}: {message}" if loc else message


@dataclass(frozen=True)
class ChainedAssignment:
    """What the assignment run that ends an import did; exactly one field is set.

    - `result`: the run's result (`run_id` and the counters of SPEC §5.2, as the report shows);
    - `running_run_id`: another run held the lock, nothing was done (cron catches up);
    - `error`: why the run failed (the import then exits 1).
    """

    result: dict[str, Any] | None = None
    running_run_id: int | None = None
    error: str | None = None


@dataclass
class ImportReport:
    """Counters, errors and the chained assignment of one import command (SPEC §8.4)."""

    created: int = 0
    already_present: int = 0
    skipped_empty: int = 0
    failed: int = 0
    detections_created: int = 0
    placeholders_created: int = 0
    # Platform pull: invalid boxes dropped from box strings (PLATFORM_API.md §4), sequence
    # fields stored as NULL because the platform garbled them (an unknown class, a malformed
    # temporal score or version; each has its warning), and listing calls (a day of sequences)
    # that failed for good; a failed listing is an error (exit 3).
    boxes_dropped: int = 0
    fields_ignored: int = 0
    listings_failed: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    assignment: dict[str, Any] | None = None
    assignment_skipped_run: int | None = None
    assignment_error: str | None = None

    def record_counted(self, counts: ImportedCounts) -> None:
        setattr(self, counts.status, getattr(self, counts.status) + 1)
        self.detections_created += counts.detections
        self.placeholders_created += counts.placeholders

    def record_failed(self, ref: str, errors: list[tuple[Loc, str]]) -> None:
        self.failed += 1
        self.errors.extend(f"{ref}: {format_error(loc, msg)}" for loc, msg in errors)

    def listing_failed(self, ref: str, message: str) -> None:
        self.listings_failed += 1
        self.errors.append(f"{ref}: {message}")

    def assignment_done(self, chained: ChainedAssignment) -> None:
        """Record what the assignment run that ends the import did."""
        self.assignment = chained.result
        self.assignment_skipped_run = chained.running_run_id
        self.assignment_error = chained.error

    @property
    def exit_code(self) -> int:
        """1 when the chained assignment failed, else 3 with a record error, else 0."""
        if self.assignment_error is not None:
            return EXIT_FATAL
        if self.failed or self.listings_failed:
            return EXIT_RECORD_ERRORS
        return EXIT_OK

    def assignment_line(self) -> str | None:
        if self.assignment is not None:
            counters = " ".join(
                f"{name}={self.assignment[name]}"
                for name in ASSIGNMENT_COUNTERS
                if name in self.assignment
            )
            return f"assignment: run={self.assignment.get('run_id')} {counters}"
        if self.assignment_skipped_run is not None:
            return ASSIGNMENT_SKIPPED.format(run_id=self.assignment_skipped_run)
        if self.assignment_error is not None:
            return ASSIGNMENT_FAILED.format(reason=self.assignment_error)
        return None

    def render(self) -> str:
        lines = [
            f"sequences: created={self.created} already_present={self.already_present} "
            f"skipped_empty={self.skipped_empty} failed={self.failed}",
            f"detections: created={self.detections_created}",
            f"placeholders: created={self.placeholders_created}",
        ]
        if self.boxes_dropped:
            lines.append(f"boxes: dropped={self.boxes_dropped}")
        if self.fields_ignored:
            lines.append(f"fields: ignored={self.fields_ignored}")
        if self.listings_failed:
            lines.append(f"listings: failed={self.listings_failed}")
        for title, items in (("errors", self.errors), ("warnings", self.warnings)):
            if items:
                lines.append(f"{title}:")
                lines.extend(f"  {item}" for item in items)
        assignment = self.assignment_line()
        if assignment:
            lines.append(assignment)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequences": {
                "created": self.created,
                "already_present": self.already_present,
                "skipped_empty": self.skipped_empty,
                "failed": self.failed,
            },
            "detections": {"created": self.detections_created},
            "placeholders": {"created": self.placeholders_created},
            "boxes": {"dropped": self.boxes_dropped},
            "fields": {"ignored": self.fields_ignored},
            "listings": {"failed": self.listings_failed},
            "errors": self.errors,
            "warnings": self.warnings,
            "assignment": self.assignment,
            "assignment_skipped_run": self.assignment_skipped_run,
            "assignment_error": self.assignment_error,
            "exit_code": self.exit_code,
        }
