"""The one family of errors services raise when a request cannot be carried out.

Services raise these in the operator's words; the API turns each into its HTTP status and
the documented error body (`vcc.api.exception_handler`), the admin shows the message as it
is, and commands print it on one line. Nothing above a service maps errors by hand.
"""


class ApplicationError(Exception):
    """Base of every error a service raises on purpose. `message` is shown as it is;
    `status_code` and `code` are what the API answers with."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ApplicationError):
    """The thing asked for does not exist."""

    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    """It exists, but its state does not allow the action now."""

    status_code = 409
    code = "conflict"


class Unavailable(ApplicationError):
    """Something the action depends on (the broker, HubSpot) is down for now."""

    status_code = 503
    code = "unavailable"


class InvalidInput(ApplicationError):
    """The request itself is wrong; `field` names the input at fault, if one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
