"""Static files in production: the hashed copies `collectstatic` wrote, named by `{% static %}`
(`annotation_site.static_storage`)."""

import json
from pathlib import Path

import pytest

from annotation_site.static_storage import StaticFilesStorage


def test_static_urls_name_the_hashed_copies_collectstatic_wrote(collected_static):
    storage = StaticFilesStorage(location=collected_static, base_url="/static/")
    manifest = json.loads((Path(collected_static) / "staticfiles.json").read_text())["paths"]
    for name in ("css/site.css", "admin/img/icon-yes.svg"):
        url = storage.url(name)
        assert url == f"/static/{manifest[name]}"
        assert (Path(collected_static) / manifest[name]).is_file()
        assert storage.url(name) == url  # asked again, the same answer
    with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
        storage.url("css/not-collected.css")
    with pytest.raises(ValueError):  # a miss is not kept as an answer either
        storage.url("css/not-collected.css")
