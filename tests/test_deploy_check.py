"""SPEC §10: the site's start-up rules, each checked in a fresh process.

`check --deploy` is clean once the operator sets SECRET_KEY and ALLOWED_HOSTS; without a
SECRET_KEY (and without DEBUG) the site refuses to start and says what to set, while commands
that sign nothing, such as `makemigrations --check`, still run.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_fresh(tmp_path, *arguments: str, **variables: str) -> subprocess.CompletedProcess:
    """`python arguments...` in a new process with only the operator's `variables` set.

    The test run's own settings (no HTTPS, test key, the browser tests'
    DJANGO_ALLOW_ASYNC_UNSAFE) must not leak in.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DEBUG", "SECURE_HTTPS", "SECRET_KEY"} and not name.startswith("DJANGO_")
    }
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}", **variables}
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_is_clean_with_the_two_required_settings(tmp_path):
    result = run_fresh(
        tmp_path,
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="a-long-random-production-key-" + "x" * 40,
        ALLOWED_HOSTS="annotation.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_is_clean_with_hsts_subdomains_and_preload_opted_in(tmp_path):
    result = run_fresh(
        tmp_path,
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="a-long-random-production-key-" + "x" * 40,
        ALLOWED_HOSTS="annotation.example.org",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
        TRUST_X_FORWARDED_PROTO="true",
        CONN_MAX_AGE="600",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_a_secret_key_the_site_refuses_to_start_and_says_what_to_set(tmp_path):
    result = run_fresh(tmp_path, "-c", "import annotation_site.wsgi")

    assert result.returncode != 0
    assert "SECRET_KEY is not set. Set the SECRET_KEY environment variable" in result.stderr


def test_without_a_secret_key_makemigrations_check_still_runs(tmp_path):
    result = run_fresh(tmp_path, "manage.py", "makemigrations", "--check", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
