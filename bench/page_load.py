"""Serving a history with the production server and measuring its pages over HTTP, for
bench/pages.py: gunicorn as `make serve` runs it, a logged-in client, the median and p95 of one
client, and requests per second under concurrent connections (wrk when installed, else a bounded
Python load generator that stops by itself); or two servers of two checkouts side by side, one
client alternating between them.

Import it after django.setup(): the server serves the scratch database the bench's connection
names.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
USERNAME, PASSWORD = "bench-staff", "bench-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """DATABASE_URL naming the scratch database the history is in."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


class Server:
    """gunicorn as `make serve` runs it, on a free port, stopped on exit: the code of `root`
    (this checkout by default, or another one, e.g. a `git worktree` of an older commit),
    with this checkout's virtual environment."""

    def __init__(self, workers: int, root: Path = ROOT):
        self.root = root
        self.port = free_port()
        self.static = tempfile.mkdtemp(prefix="bench-static-")
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DEBUG": "false",
            "SECURE_HTTPS": "false",
            "CONN_MAX_AGE": "60",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "STATIC_ROOT": self.static,
            "LOG_LEVEL": "WARNING",
        }
        self.process = None

    def __enter__(self) -> Server:
        python = str(ROOT / ".venv" / "bin" / "python")
        subprocess.run(
            [python, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=self.root,
            env=self.env,
            check=True,
        )
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "-c",
                "python:annotation_site.gunicorn_config",
                "annotation_site.wsgi",
            ],
            cwd=self.root,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not start")

    def workers_cpu_seconds(self) -> float:
        """CPU time (user and system) the server's workers have used so far (Linux /proc)."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process has just ended
                continue
            if int(fields[1]) == self.process.pid:  # fields: state, ppid, ..., utime, stime
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.static, ignore_errors=True)


class Client:
    """A logged-in browser: one keep-alive connection, the session cookie."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Cookie": self.cookie_header(), "Host": "127.0.0.1"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://127.0.0.1:{self.port}{path}"
            headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        try:
            self.http.request(method, path, body=body, headers=headers)
            response = self.http.getresponse()
        except (http.client.HTTPException, OSError):
            self.http.close()
            self.http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.http.request(method, path, body=body, headers=headers)
            response = self.http.getresponse()
        content = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, content

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def login(self) -> None:
        self.request("GET", "/login/")
        status, _ = self.request(
            "POST",
            "/login/",
            urlencode(
                {
                    "username": USERNAME,
                    "password": PASSWORD,
                    "csrfmiddlewaretoken": self.cookies.get("csrftoken", ""),
                }
            ),
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login failed ({status})")


def timed_get(client: Client, path: str) -> float:
    """Milliseconds `client` waited for `path`; anything but a 200 stops the bench."""
    started = time.perf_counter()
    status, _ = client.request("GET", path)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"{path}: {status}")
    return elapsed


def warm_up(client: Client, path: str) -> None:
    for _ in range(3):
        timed_get(client, path)


def single_client(client: Client, path: str, repeat: int) -> dict:
    warm_up(client, path)
    times = sorted(timed_get(client, path) for _ in range(repeat))
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
    }


def side_by_side(pairs: dict[str, tuple[Server, Client]], path: str, repeat: int) -> dict:
    """One client alternating its requests of `path` between servers (`pairs`: name -> server
    and its logged-in client), each one worker, the order swapped every round: both see the
    same moments of a machine whose speed drifts. Per name: the median wall time and the
    workers' CPU time per request, in ms."""
    for _server, client in pairs.values():
        warm_up(client, path)
    times: dict[str, list[float]] = {name: [] for name in pairs}
    cpu_before = {name: server.workers_cpu_seconds() for name, (server, _) in pairs.items()}
    names = list(pairs)
    for round_number in range(repeat):
        for name in names if round_number % 2 == 0 else reversed(names):
            times[name].append(timed_get(pairs[name][1], path))
    figures = {}
    for name, (server, _) in pairs.items():
        cpu = (server.workers_cpu_seconds() - cpu_before[name]) * 1000 / repeat
        figures[name] = {
            "median_ms": round(statistics.median(times[name]), 1),
            "cpu_ms": round(cpu, 1),
        }
    return figures


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit], 1)


def load_wrk(client: Client, path: str, connections: int, duration: int) -> dict:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-H",
            f"Cookie: {client.cookie_header()}",
            f"http://127.0.0.1:{client.port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.M))
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: (.*)$"):
        match = re.search(pattern, output, re.M)
        if match:
            errors += sum(int(n) for n in re.findall(r"\d+", match.group(1)))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not percentiles or not rate:  # no request answered in time: say what wrk said
        return {"rps": 0.0, "errors": errors, "generator": "wrk", "wrk": output[-400:]}
    return {
        "rps": round(float(rate.group(1)), 1),
        "p50_ms": _wrk_ms(percentiles["50"]),
        "p99_ms": _wrk_ms(percentiles["99"]),
        "errors": errors,
        "generator": "wrk",
    }


def load_python(client: Client, path: str, connections: int, duration: int) -> dict:
    """A bounded load generator: `connections` threads, each a keep-alive connection sending
    one request after another until the time is up."""
    stop = time.monotonic() + duration
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        own = Client(client.port)
        own.cookies = dict(client.cookies)
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status, _ = own.request("GET", path)
            except OSError:
                status = 0
            mine.append((time.perf_counter() - started) * 1000)
            if status != 200:
                with lock:
                    errors[0] += 1
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    times.sort()
    return {
        "rps": round(len(times) / elapsed, 1),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[min(len(times) - 1, round(0.99 * (len(times) - 1)))], 1),
        "errors": errors[0],
        "generator": "python",
    }


def machine_load() -> dict:
    """The machine's one-minute load average when the figures were taken (on a shared machine,
    other work inflates them: 2.0 on 2 CPUs is a full machine)."""
    return {"load_1min": round(os.getloadavg()[0], 1)}
