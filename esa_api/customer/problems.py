"""RFC 9457 problem details for /api: every error a client sees has `type`, `title`, `status`, `detail`, a
stable `code` to branch on and, for a bad field, which one."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from esa_api.customer.i18n import human_detail, preferred_language
from esa_api.customer.request_id import current_request_id
from esa_domain.core.errors import DomainError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
_API_PREFIX = "/api/"


class Problem(Exception):
    """An error answer. `code`: stable machine name; `detail`: what was wrong and what to do."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        self.extra = extra or {}
        self.params = params or {}  # what the wording in another language needs (esa_api.customer.i18n)

    @classmethod
    def of(cls, error: DomainError, *, field: str | None = None) -> Problem:
        """The problem for a domain error; `field` names the request field it is about, if any."""
        return cls(error.http_status, error.code, error.message, field=field, params=dict(error.details))


def title_of(code: str) -> str:
    return code.replace("_", " ").capitalize()


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    # the customer's language when the request names one (the Mini App always does); English for a bare client
    language = preferred_language(request.headers.get("accept-language") if request else None, default="en")
    detail = human_detail(problem.code, problem.detail, language, field=problem.field, params=problem.params)
    body: dict[str, Any] = {
        "type": f"urn:esa:problem:{problem.code}",
        "title": title_of(problem.code),
        "status": problem.status,
        "detail": detail,
        "code": problem.code,
    }
    if request is not None:
        body["instance"] = request.url.path
    if problem.field is not None:
        body["field"] = problem.field
    body.update(problem.extra)
    if problem.code == "validation_failed" and isinstance(body.get("errors"), list):
        body["errors"] = [
            {**e, "message": human_detail(problem.code, e["message"], language, field=e["field"])}
            for e in body["errors"]
        ]
    rid = current_request_id()
    if rid:
        body["request_id"] = rid
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = [
        {"field": _field_of(tuple(e.get("loc", ()))), "message": str(e.get("msg", "is not valid"))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "message": "is not valid"}
    detail = f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem(s), see `errors`)"
    return Problem(422, "validation_failed", detail, field=first["field"], extra={"errors": errors[:20]})


def install_problem_handlers(app: FastAPI) -> None:
    """Answer problem JSON on /api paths; other paths keep FastAPI's default error answers."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return problem_response(Problem.of(exc), request)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not request.url.path.startswith(_API_PREFIX):
            return await request_validation_exception_handler(request, exc)
        return problem_response(_validation_problem(exc), request)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith(_API_PREFIX):
            return await http_exception_handler(request, exc)
        code = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else title_of(code)
        if exc.status_code == 400 and "parsing the body" in detail:
            detail = (
                "the request body is not readable JSON: send UTF-8 JSON with Content-Type application/json"
            )
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is nothing at {request.url.path}; see /api/docs for the API"
        headers = dict(exc.headers or {})
        return problem_response(Problem(exc.status_code, code, detail, headers=headers), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
