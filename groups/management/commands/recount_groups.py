"""``manage.py recount_groups``: verify the counters the database keeps for the group pages
(`groups.counters`) against fresh counts, report any drift, and repair it with ``--fix``.

Exit status: 0 every figure right (or repaired with ``--fix``); 1 drift found and left as is.
Cron-safe; ``--fix`` takes a short lock on the tallies while it rebuilds them.
"""

import json

from django.core.management.base import CommandError, CommandParser

from groups.counters import counters_drift, counters_fix, tallies_fold
from sequences.management.base import ProjectCommand

# Drifted figures listed one by one; beyond, counted by kind.
LISTED = 50


class Command(ProjectCommand):
    help = (
        "Compare every group's stored member count and camera sort name, the tallies behind "
        "the group list's counts and the navigation badges, and the operations that wrote "
        "each group's members (its history), with fresh counts of the rows they stand for. "
        "Prints what differs; --fix repairs it. Exits with status 1 when drift is found and "
        "not fixed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fix", action="store_true", help="Repair the drifted figures.")
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object instead of lines."
        )

    def handle(self, *args, **options) -> None:
        drift = counters_fix() if options["fix"] else counters_drift()
        if not drift:
            tallies_fold()  # keep the tallies short while here
        by_counter: dict[str, int] = {}
        for item in drift:
            by_counter[item.counter] = by_counter.get(item.counter, 0) + 1
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "drift": by_counter,
                        "fixed": bool(drift) and options["fix"],
                        "items": [
                            {
                                "counter": item.counter,
                                "key": list(item.key),
                                "stored": item.stored,
                                "counted": item.actual,
                            }
                            for item in drift[:LISTED]
                        ],
                    }
                )
            )
        elif not drift:
            self.stdout.write("Every stored figure matches a fresh count.")
        else:
            for item in drift[:LISTED]:
                self.stdout.write(str(item))
            if len(drift) > LISTED:
                self.stdout.write(f"... and {len(drift) - LISTED} more")
            counts = ", ".join(f"{name}: {n}" for name, n in sorted(by_counter.items()))
            verb = "Fixed" if options["fix"] else "Drift found"
            self.stdout.write(f"{verb} ({counts}).")
        if drift and not options["fix"]:
            raise CommandError("The stored figures drifted; run with --fix to repair them.")
