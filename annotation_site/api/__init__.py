"""What every endpoint of the REST API shares, by job:

- `auth`: `Authorization: Bearer <key>` or `Token <key>` (a missing or bad credential is a 401),
  and the throttle of the login;
- `errors`: the exception handler (every error is `{"detail": ...}`, validation errors a 422
  field list, a service error the status of its kind);
- `fields`: body fields strict about JSON types, JSON depth and NUL checks, the parsers;
- `parsing`: the body through a serializer and the query string, every problem in one 422;
- `paging`: the `{items, total, page, size, pages}` envelope;
- `schema`: `api_schema` (an endpoint's documented errors), error and page shapes, path ids.

The names the endpoints use are importable from here; the settings name the authentication
class and the exception handler in their modules.
"""

from annotation_site.api.auth import (
    INVALID_TOKEN,
    BearerOrTokenAuthentication,
    BearerOrTokenScheme,
    LoginRateThrottle,
)
from annotation_site.api.errors import (
    SERVER_ERROR,
    VALUE_ERROR,
    RequestInvalid,
    error_item,
    exception_handler,
    flatten_errors,
)
from annotation_site.api.fields import (
    API_PARSERS,
    JSON_BODY,
    JSON_TOO_DEEP,
    MAX_JSON_DEPTH,
    NOT_FINITE,
    NUL_CHARACTER,
    TOO_MANY_IDS,
    WRONG_JSON_TYPE,
    BooleanField,
    CharField,
    FiniteFloatField,
    IdListField,
    IgnoreAcceptNegotiation,
    IntegerField,
    JsonInputField,
    JSONParser,
    JsonTypedField,
    id_field,
    json_problem,
)
from annotation_site.api.paging import PageQuerySerializer, paginated_response
from annotation_site.api.parsing import (
    EMPTY_PARAMETER,
    REPEATED_PARAMETER,
    UNKNOWN_PARAMETER,
    ExtraChecks,
    ServiceChecks,
    query_errors,
    query_shape_errors,
    validated_body,
    validated_query,
)
from annotation_site.api.schema import (
    ERROR_DESCRIPTIONS,
    PATH_ID_MAX,
    ErrorSerializer,
    FieldErrorSerializer,
    ValidationErrorSerializer,
    api_schema,
    page_of,
    path_id,
)

__all__ = [
    "API_PARSERS",
    "EMPTY_PARAMETER",
    "ERROR_DESCRIPTIONS",
    "INVALID_TOKEN",
    "JSON_BODY",
    "JSON_TOO_DEEP",
    "MAX_JSON_DEPTH",
    "NOT_FINITE",
    "NUL_CHARACTER",
    "PATH_ID_MAX",
    "REPEATED_PARAMETER",
    "SERVER_ERROR",
    "TOO_MANY_IDS",
    "UNKNOWN_PARAMETER",
    "VALUE_ERROR",
    "WRONG_JSON_TYPE",
    "BearerOrTokenAuthentication",
    "BearerOrTokenScheme",
    "BooleanField",
    "CharField",
    "ErrorSerializer",
    "ExtraChecks",
    "FieldErrorSerializer",
    "FiniteFloatField",
    "IdListField",
    "IgnoreAcceptNegotiation",
    "IntegerField",
    "JSONParser",
    "JsonInputField",
    "JsonTypedField",
    "LoginRateThrottle",
    "PageQuerySerializer",
    "RequestInvalid",
    "ServiceChecks",
    "ValidationErrorSerializer",
    "api_schema",
    "error_item",
    "exception_handler",
    "flatten_errors",
    "id_field",
    "json_problem",
    "page_of",
    "paginated_response",
    "path_id",
    "query_errors",
    "query_shape_errors",
    "validated_body",
    "validated_query",
]
