"""How the editors' API refuses: every refusal, FastAPI's own parameter checks included, in the
one JSON shape of :mod:`shared.web` (a 401 names the ``ingest`` realm), and an outage of the
broker or the database as a 503 with ``Retry-After`` (the desk's pages wrap these handlers)."""

from __future__ import annotations

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.messaging import TransientError, describe_errors, is_outage
from shared.service import Runtime
from shared.storage import TRANSIENT_DB_ERRORS
from shared.web import error_response, install_refusals

#: The realm a 401 names.
REALM = "ingest"

#: Errors that mean the broker or the database is unreachable: a 503, never the editor's fault.
OUTAGES: tuple[type[Exception], ...] = (
    KafkaError,
    TimeoutError,
    TransientError,
    *TRANSIENT_DB_ERRORS,
)


def install_errors(api: FastAPI, rt: Runtime) -> None:
    """The handlers of refusals, parameter checks and outages on ``api``."""
    install_refusals(api, realm=REALM)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        """FastAPI's own checks of parameters (a limit out of range, a language that is no
        language tag) refuse in the same shape as every other refusal, as documented."""
        assert isinstance(exc, RequestValidationError)
        reason = describe_errors(exc.errors())
        return error_response(422, "invalid request", reason, realm=REALM, code="request_invalid")

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        """An outage is the server's problem, not the editor's: say so, and when to retry."""
        if not is_outage(exc):
            rt.log.error("unexpected error", exc_info=exc)
            return error_response(
                500,
                "internal error",
                "an unexpected error; it has been logged",
                realm=REALM,
                code="internal_error",
            )
        rt.log.warning("refused a request during an outage", extra={"error": repr(exc)})
        reason = "the broker or the database is unreachable; retry"
        response = error_response(503, "unavailable", reason, realm=REALM, code="unavailable")
        response.headers["Retry-After"] = "5"
        return response

    api.add_exception_handler(RequestValidationError, invalid)
    for outage in OUTAGES:
        api.add_exception_handler(outage, unavailable)
