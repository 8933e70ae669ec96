"""SPEC §10: `check --deploy` is clean once the operator sets SECRET_KEY and ALLOWED_HOSTS."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_deploy_check_is_clean_with_the_two_required_settings(tmp_path):
    # A fresh process: the test run's own settings (no HTTPS, test key, the browser tests'
    # DJANGO_ALLOW_ASYNC_UNSAFE) must not leak in.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DEBUG", "SECURE_HTTPS", "SECRET_KEY"} and not name.startswith("DJANGO_")
    }
    env |= {
        "SECRET_KEY": "a-long-random-production-key-" + "x" * 40,
        "ALLOWED_HOSTS": "annotation.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
