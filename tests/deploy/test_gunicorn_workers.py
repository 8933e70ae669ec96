"""A gunicorn worker, once it has loaded the site, keeps what it loaded out of the garbage
collector's passes and lets a page's objects pile up longer between young-generation passes
(annotation_site/gunicorn_config.py, README "Deploying")."""

import gc

from annotation_site import gunicorn_config


def test_a_loaded_worker_freezes_the_site_and_collects_young_objects_less_often():
    threshold = gc.get_threshold()
    try:
        gunicorn_config.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (gunicorn_config.GC_YOUNG_THRESHOLD, *threshold[1:])
        assert threshold[0] < gunicorn_config.GC_YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
