"""The WSGI application; it refuses to start without a SECRET_KEY and says what to set."""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

SECRET_KEY_MISSING = (
    "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
    "(or DEBUG=true for local development)."
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
# The site must not start without a key: sessions and CSRF tokens would be signed with none.
# (Django refuses an empty SECRET_KEY when it is first read; this says what to set.)
try:
    settings.SECRET_KEY  # noqa: B018
except ImproperlyConfigured:
    raise ImproperlyConfigured(SECRET_KEY_MISSING) from None
application = get_wsgi_application()
