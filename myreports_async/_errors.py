"""The exception tree of myreports_async.

Every error the client raises on purpose is a :class:`MyReportsError`::

    MyReportsError
    ├── APIError                    an HTTP answer the client will not turn into data
    │   ├── AuthenticationError     401 (after one forced token refresh), or a token
    │   │                           endpoint that refuses the grant or the client
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── PaymentRequiredError    402: the request may incur charges and was not
    │   │                           carried out (repeat it with accept_charges=True)
    │   ├── BadRequestError         400 and every other 4xx that is not retried
    │   ├── RateLimitError          429, after retries (or a Retry-After beyond the cap)
    │   └── ServerError             5xx, after retries
    ├── TransportError              connection failures and timeouts, after retries
    └── DecodeError                 a body that is not the documented JSON or record shape

Exceptions are plain data: a status, a message and a URL that never carries a token.
They never hold a live response.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "DecodeError",
    "MyReportsError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "TransportError",
]


class MyReportsError(Exception):
    """Base class of every error raised by myreports_async.

    Example::

        try:
            invoice = await client.get_invoice("abc")
        except MyReportsError as exc:
            log.warning("billing call failed: %s", exc)
    """


class APIError(MyReportsError):
    """The service answered with an HTTP status the client does not turn into data.

    Attributes:
        status: the HTTP status code.
        message: the service's own message from its error body when it sent one, else
            the HTTP reason phrase.
        url: the request URL (query included; it never carries a credential).
    """

    def __init__(self, message: str, *, status: int, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        return f"HTTP {self.status}: {self.message}{where}"

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status!r}, message={self.message!r}, url={self.url!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_api_error, (type(self), self.message, self.status, self.url))


def _rebuild_api_error(cls: type[APIError], message: str, status: int, url: str | None) -> APIError:
    return cls(message, status=status, url=url)


class AuthenticationError(APIError):
    """The credentials were refused (HTTP 401, or a token endpoint's ``invalid_grant``).

    A 401 from the API is retried once with a forced token refresh first; this error
    means the refresh did not help (or the token is static and cannot be refreshed).
    """


class PermissionDeniedError(APIError):
    """HTTP 403: the token is valid but may not see this resource."""


class NotFoundError(APIError):
    """HTTP 404: no such invoice (or resource)."""


class PaymentRequiredError(APIError):
    """HTTP 402: the request may incur charges, so the service did not carry it out.

    The client never accepts charges on its own: repeat the call with
    ``accept_charges=True`` (which sends the ``accept-charges: true`` header) to accept
    them. A 402 is never retried.

    Attributes:
        echoed: what the service echoed back: the request's JSON body as the service
            read it (parsed), with secrets such as API and licence keys masked; ``None``
            when the answer was not JSON.

    Example::

        try:
            account = await client.accounts.create(name="Acme")
        except PaymentRequiredError:
            if confirm("Creating an account may incur charges. Go ahead?"):
                account = await client.accounts.create(name="Acme", accept_charges=True)
    """

    def __init__(
        self, message: str, *, status: int = 402, url: str | None = None, echoed: object = None
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.echoed = echoed

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_payment_required_error, (self.message, self.status, self.url, self.echoed))


def _rebuild_payment_required_error(
    message: str, status: int, url: str | None, echoed: object
) -> PaymentRequiredError:
    return PaymentRequiredError(message, status=status, url=url, echoed=echoed)


class BadRequestError(APIError):
    """HTTP 400, or any other 4xx that is not retried: the request itself is wrong."""


class RateLimitError(APIError):
    """HTTP 429 after every retry, or a ``Retry-After`` longer than the policy allows.

    Attributes:
        retry_after: seconds the service asked to wait, when it said (else ``None``).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_rate_limit_error, (self.message, self.status, self.url, self.retry_after))


def _rebuild_rate_limit_error(
    message: str, status: int, url: str | None, retry_after: float | None
) -> RateLimitError:
    return RateLimitError(message, status=status, url=url, retry_after=retry_after)


class ServerError(APIError):
    """HTTP 5xx after every retry."""


class TransportError(MyReportsError):
    """The request did not get an answer: a connection failure, a dropped connection or
    a timeout, after every retry. Also raised for a download that cannot be restarted.

    Attributes:
        url: the request URL, when known.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_transport_error, (self.message, self.url))


def _rebuild_transport_error(message: str, url: str | None) -> TransportError:
    return TransportError(message, url=url)


class DecodeError(MyReportsError):
    """The body is not the documented JSON or record shape.

    Attributes:
        path: the JSON path of the offending value (for example ``data[3].invoiceValue``),
            or ``None`` when the body as a whole is unreadable.
        url: the request URL, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.url = url

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_decode_error, (self.message, self.path, self.url))


def _rebuild_decode_error(message: str, path: str | None, url: str | None) -> DecodeError:
    return DecodeError(message, path=path, url=url)
