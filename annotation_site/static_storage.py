"""Static files in production: whitenoise's compressed, hashed copies (`collectstatic`), with
each file's URL looked up once per process.

`{% static %}` asks the storage for a URL on every use, and the manifest storage works the
hashed name out again each time (about 15 µs): an admin changelist draws 200 yes/no icons a
page. The manifest does not change while a process runs, so its answers are kept.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._urls: dict[str, str] = {}

    def url(self, name: str, force: bool = False) -> str:
        if force:  # collectstatic's own lookups, while it writes the manifest
            return super().url(name, force)
        url = self._urls.get(name)
        if url is None:
            url = self._urls[name] = super().url(name)
        return url
