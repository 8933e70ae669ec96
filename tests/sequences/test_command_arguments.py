"""Bad arguments to any management command exit with status 1 (SPEC §8.4), never argparse's 2."""

import pytest
from django.core.management import CommandError, call_command, load_command_class

BAD_ARGUMENTS = [
    ("sequences", "pull_sequences", []),  # --date-from is required
    ("sequences", "pull_sequences", ["--date-from", "nope"]),
    ("sequences", "import_sequences", []),  # the folder is required
    ("groups", "seed_demo", ["--bogus"]),
    ("sequences", "create_demo_user", ["--bogus"]),
    ("groups", "assign_groups", ["--bogus"]),
    ("groups", "group_report", ["--bogus"]),
]


@pytest.mark.parametrize(("app", "name", "arguments"), BAD_ARGUMENTS)
def test_bad_arguments_exit_with_status_one(capsys, app, name, arguments):
    command = load_command_class(app, name)
    with pytest.raises(SystemExit) as exit_info:
        command.run_from_argv(["manage.py", name, *arguments])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("usage: manage.py " + name) and f"manage.py {name}: error:" in error


def test_bad_arguments_under_call_command_raise_a_command_error():
    with pytest.raises(CommandError, match="unrecognized arguments: --bogus"):
        call_command("assign_groups", "--bogus")
