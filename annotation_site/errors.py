"""What a refused service call becomes over HTTP: the one table from an error's kind to its
status, read by the API's exception handler and by the pages."""

from sequences.services import ErrorKind, ServiceError

HTTP_STATUS = {
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.REFUSED: 400,
    ErrorKind.FORBIDDEN: 403,
}


def http_status(error: ServiceError) -> int:
    return HTTP_STATUS[error.kind]
