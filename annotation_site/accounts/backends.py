"""The login lockout backend: django-axes' check in front of Django's own backend."""

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuses a login while its username and address are locked out (django-axes).

    A login without a request comes from code (a shell, a command, a test), not from a client
    whose address could be locked out: it is left to the next backend instead of failing.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
