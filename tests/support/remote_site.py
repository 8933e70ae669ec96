"""A second instance of this site on loopback, for the clone and push tests: gunicorn over its
own database (a separate SQLite file, or a separate PostgreSQL database), with its own media
folder, and a staff account; seeded and inspected through its REST API as a script would.

    remote = RemoteSite.start(tmp_dir, database_url)
    alert = remote.sequence_add(alert_api_id=7001, recorded_at=..., frames=3)
    ...
    remote.stop()
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from tests.factories import jpeg_bytes, predictions
from tests.support.servers import ROOT, SiteServer, site_environment

LOGIN = "remote-staff"
PASSWORD = "remote-staff-password"


def postgres_database_new(admin_url: str, name: str) -> str:
    """Create (again) the PostgreSQL database `name` on the server of `admin_url` (a
    DATABASE_URL of any database there); its DATABASE_URL."""
    import psycopg

    base = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def postgres_database_drop(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class RemoteSequence:
    """A sequence seeded on the remote: its remote ids and its detections' (id, alert id)."""

    id: int
    alert_api_id: int
    detections: list[dict[str, Any]] = field(default_factory=list)
    annotation_id: int | None = None


@dataclass
class RemoteSite:
    server: SiteServer
    env: dict[str, str]
    media: Path
    session: requests.Session

    @property
    def url(self) -> str:
        return self.server.url

    @classmethod
    def start(cls, folder: Path, database_url: str) -> RemoteSite:
        media = folder / "remote-media"
        env = site_environment(
            DATABASE_URL=database_url,
            DEBUG="true",
            SECRET_KEY="remote-site-key-" + "r" * 40,
            MEDIA_ROOT=str(media),
            API_LOGIN_RATE="10000/minute",
            API_TOKENS_PER_USER="1000",
            WEB_CONCURRENCY="2",
            LOG_LEVEL="ERROR",
        )
        for arguments in (
            ["migrate", "--noinput", "-v", "0"],
            ["create_demo_user", "--username", LOGIN, "--password", PASSWORD],
        ):
            result = subprocess.run(
                [sys.executable, "manage.py", *arguments],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stderr
        (server,) = SiteServer.start_many(folder, ["remote"], env)
        session = requests.Session()
        token = session.post(
            f"{server.url}/api/v1/auth/login", json={"username": LOGIN, "password": PASSWORD}
        ).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        return cls(server=server, env=env, media=media, session=session)

    def stop(self) -> None:
        self.server.stop()

    # --- the API, as a script uses it -----------------------------------------------------------

    def api(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(method, f"{self.url}/api/v1{path}", **kwargs)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json() if response.content else None

    def sequence_add(
        self,
        *,
        alert_api_id: int,
        recorded_at: datetime,
        frames: int = 3,
        camera_id: int = 41,
        azimuth: float | None = 120,
        source_api: str = "pyronear_french",
        placeholder: bool = True,
        **extra: Any,
    ) -> RemoteSequence:
        """A sequence with `frames` detections (a box drifting right), as an importer would
        create it there, and its ready_to_annotate placeholder (unless told not to)."""
        body = self.api(
            "POST",
            "/sequences/",
            json={
                "source_api": source_api,
                "alert_api_id": alert_api_id,
                "camera_id": camera_id,
                "camera_name": f"cam-{camera_id}",
                "organisation_id": 3,
                "organisation_name": "org-3",
                "lat": 44.5,
                "lon": 4.25,
                "azimuth": azimuth,
                "recorded_at": recorded_at.isoformat(),
                "last_seen_at": recorded_at.isoformat(),
                **extra,
            },
        )
        sequence = RemoteSequence(id=body["id"], alert_api_id=alert_api_id)
        for index in range(frames):
            x = 0.1 + 0.02 * index
            detection = self.api(
                "POST",
                "/detections/",
                data={
                    "sequence_id": sequence.id,
                    "alert_api_id": alert_api_id * 100 + index,
                    "recorded_at": recorded_at.replace(second=index).isoformat(),
                    "algo_predictions": json.dumps(predictions(([x, 0.2, x + 0.2, 0.4], 0.8))),
                },
                files={"file": (f"{index}.jpg", jpeg_bytes(color="gray"), "image/jpeg")},
            )
            sequence.detections.append(detection)
        if not placeholder:
            return sequence
        created = self.api(
            "POST",
            "/annotations/sequences/",
            json={
                "sequence_id": sequence.id,
                "processing_stage": "ready_to_annotate",
                "has_missed_smoke": False,
            },
        )
        sequence.annotation_id = created["id"]
        return sequence

    def annotation(self, sequence: RemoteSequence) -> dict[str, Any] | None:
        items = self.api("GET", "/annotations/sequences/", params={"sequence_id": sequence.id})
        return items["items"][0] if items["items"] else None

    def annotate(self, sequence: RemoteSequence, **changes: Any) -> dict[str, Any]:
        """A person's save there (PATCH of its annotation)."""
        return self.api("PATCH", f"/annotations/sequences/{sequence.annotation_id}", json=changes)

    def image_delete(self, detection: dict[str, Any]) -> None:
        """Lose a detection's image file there (its image endpoint then answers 404)."""
        (self.media / detection["bucket_key"]).unlink()


def smoke_payload(sequence: RemoteSequence, smoke_type: str = "wildfire") -> dict[str, Any]:
    """A labelled annotation over the first detection of a remote sequence (remote ids)."""
    first = sequence.detections[0]
    return {
        "sequences_bbox": [
            {
                "is_smoke": True,
                "smoke_type": smoke_type,
                "false_positive_types": [],
                "bboxes": [{"detection_id": first["id"], "xyxyn": [0.1, 0.2, 0.3, 0.4]}],
            }
        ]
    }
