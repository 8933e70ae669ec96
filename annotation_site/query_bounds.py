"""Pages refuse a query-string integer beyond the database's range: a 400 naming the parameter.

Every integer a page reads from its query string (a camera or organisation filter, the group a
page was opened from, a page number) is stored or compared as a 64-bit integer at most. A value
of more digits than that is never a real id or page: rather than each page ignoring it in its
own way, the request is refused here, before any view runs, with a message naming the
parameter. The API (`/api/`) answers such values itself, with a 422 naming the field.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from sequences.payloads import BIGINT_MAX

INTEGER_BEYOND_RANGE = (
    "{name}: {value} is beyond the largest integer the database holds ({limit}); "
    "the link or the form that sent it is wrong."
)
# Long values are shown cut in the message.
SHOWN_DIGITS = 40


def beyond_range(value: str) -> bool:
    """Whether `value` is an integer (digits, an optional sign) beyond the 64-bit range."""
    digits = value.strip().removeprefix("-").removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        return False
    # Compared by length first: int() of a 5,000-digit string is refused by Python itself.
    return len(digits) > len(str(BIGINT_MAX)) or int(digits) > BIGINT_MAX


class QueryIntegerBoundsMiddleware:
    """The 400 of a page whose query string holds an integer beyond the database's range."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.path.startswith("/api/"):
            return None
        for name, values in request.GET.lists():
            for value in values:
                if beyond_range(value):
                    shown = value if len(value) <= SHOWN_DIGITS else f"{value[:SHOWN_DIGITS]}..."
                    message = INTEGER_BEYOND_RANGE.format(name=name, value=shown, limit=BIGINT_MAX)
                    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return None
