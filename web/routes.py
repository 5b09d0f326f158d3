"""Every API operation declared once, with pydantic models for its path, query, body and
answers; the same declaration validates each request and writes the OpenAPI document, so the
document cannot drift from what is served.

A handler names what it takes by annotated parameters (`path`, `query`, `body`: pydantic
models; `body: Model | None` for an optional body) and answers with `reply(model)`. Whatever a
client sends, it gets JSON `{"error": code, "detail": …}` with a 4xx before the handler runs:
`bad-request` (not JSON, not UTF-8, another charset, nested too deep), `validation-failed` (a
field's problem, by field), `too-large` (413), `body-timeout` (408, a body that never arrives).
"""

from __future__ import annotations

import asyncio
import functools
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema

from web.access import AGENT, OWN, PUBLIC, RECORDINGS, RULES, SIGNED_IN, SUPERVISOR
from web.models import ErrorBody

BAD_REQUEST = "bad-request"
VALIDATION_FAILED = "validation-failed"
TOO_LARGE = "too-large"
NOT_FOUND = "not-found"
BODY_TIMEOUT = "body-timeout"
BODY_TIMEOUT_SECONDS = 30.0  # a client that sends headers and then nothing holds no handler longer
MAX_BODY = 64 * 1024  # the largest body any operation takes (an order's content is 4000 characters)

WHO = {PUBLIC: "Public: no token needed.", AGENT: "For agents and supervisors.",
       OWN: "For the agent named in the path, and supervisors.", SUPERVISOR: "For supervisors only.",
       SIGNED_IN: "For any holder of a token or page session.",
       RECORDINGS: "For supervisors and quality inspectors (any call), and agents (calls they took part in)."}
READ_TIMEOUT = web.AppKey("read_timeout", float)  # seconds a body may take to arrive
VALIDATION_CONTEXT = web.AppKey("validation_context", dict[str, Any])  # e.g. the catalog, for codes
Handler = Callable[..., Awaitable[web.StreamResponse]]
ERROR_DESCRIPTIONS = {
    400: "bad-request or validation-failed (detail: the problem of each field)",
    404: "not found: no such agent, order, step or entry (a malformed path value included)",
    401: "unauthorized: no valid bearer token", 403: "forbidden: not for the token's role",
    408: "body-timeout: the body did not arrive", 409: "conflict with the current state",
    412: "version-mismatch: the order changed since the ETag given in If-Match",
    413: "too-large: the body is over the limit", 503: "store-unavailable",
}


def error(status: int, code: str, detail: Any) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


@functools.cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def reply(value: Any, model: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """The answer, checked against and serialised by the model the document names for it
    (dataclasses and mappings are read by attribute or key)."""
    adapter = _adapter(model)
    checked = value if isinstance(model, type) and isinstance(value, model) else \
        adapter.validate_python(value, from_attributes=True)
    return web.Response(body=adapter.dump_json(checked, by_alias=True), status=status,
                        content_type="application/json", headers=headers)


def problems(exc: ValidationError) -> dict[str, str]:
    """Field → message, without the values sent (they may be a caller's words)."""
    found: dict[str, str] = {}
    for item in exc.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        found.setdefault(where, item["msg"])
    return found


@dataclass(frozen=True)
class Answer:
    """One documented answer of an operation: its status, description, and schema (a model,
    a TypeAdapter, or a media type with a plain schema, e.g. CSV)."""

    status: int
    description: str
    model: Any = None  # a pydantic model, list[Model], dict[str, Model] …; None: a plain string
    media: str = "application/json"
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    handler: Handler
    answers: tuple[Answer, ...]
    errors: tuple[int, ...]
    path_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    body_model: type[BaseModel] | None = None
    body_required: bool = False
    if_match: bool = False

    @property
    def rule(self) -> str:
        return RULES.get((self.method, self.path), SUPERVISOR)

    @property
    def public(self) -> bool:
        return self.rule == PUBLIC

    def statuses(self) -> list[int]:
        codes = {a.status for a in self.answers} | set(self.errors)
        if self.path_model is not None or self.query_model is not None or self.body_model is not None:
            codes |= {400}
        if self.path_model is not None:
            codes |= {404}
        if self.body_model is not None:
            codes |= {408, 413}
        if not self.public:
            codes |= {401, 403, 503}
        return sorted(codes)


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(model, required) of a parameter annotated `Model` or `Model | None`."""
    if annotation is None:
        return None, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(models) == 1 and issubclass(models[0], BaseModel):
            return models[0], False
    raise TypeError(f"a handler's path/query/body must be a pydantic model, not {annotation!r}")


@dataclass
class RouteTable:
    """The operations of one module, in the order they are matched."""

    operations: list[Operation] = field(default_factory=list)

    def __call__(self, method: str, path: str, summary: str, *answers: Answer, errors: Iterable[int] = (),
                 if_match: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            hints = typing.get_type_hints(handler)
            path_model, _ = _model_of(hints.get("path"))
            query_model, _ = _model_of(hints.get("query"))
            body_model, body_required = _model_of(hints.get("body"))
            self.operations.append(Operation(method, path, summary, handler, answers, tuple(errors),
                                             path_model, query_model, body_model, body_required, if_match))
            return handler
        return register

    def add_to(self, app: web.Application, keep: Callable[[Operation], bool] = lambda op: True) -> list[Operation]:
        # a fixed path before a templated one, one parameter before two: /api/orders/overdue is
        # not an order number, /api/orders/{number}/calls is not a workflow step
        served = sorted((op for op in self.operations if keep(op)), key=lambda op: op.path.count("{"))
        for op in served:
            app.router.add_route(op.method, op.path, _endpoint(op))
        return served


async def _read_at_most(request: web.Request, limit: int) -> bytes:
    """The body up to `limit` bytes: a read returns what has arrived (one chunk of a chunked
    body, one packet), so read until the end or the limit."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await request.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def read_json_body(request: web.Request, timeout: float = BODY_TIMEOUT_SECONDS) -> bytes | web.Response:
    """The raw body, or the 4xx answer: another charset than UTF-8, over MAX_BODY, or a body
    that does not arrive within `timeout`."""
    charset = (request.charset or "utf-8").lower().replace("_", "-")
    if charset not in ("utf-8", "utf8"):
        return error(400, BAD_REQUEST, {"body": "must be JSON in UTF-8"})
    if request.content_length is not None and request.content_length > MAX_BODY:
        return error(413, TOO_LARGE, {"body": f"at most {MAX_BODY} bytes"})
    try:
        raw = await asyncio.wait_for(_read_at_most(request, MAX_BODY + 1), timeout)
    except TimeoutError:
        return error(408, BODY_TIMEOUT, {"body": f"not received within {timeout:.0f} s"})
    except ConnectionError:  # the client went away mid-body: nobody reads the answer
        return error(400, BAD_REQUEST, {"body": "cut off: the connection closed"})
    if len(raw) > MAX_BODY:
        return error(413, TOO_LARGE, {"body": f"at most {MAX_BODY} bytes"})
    return raw


def _endpoint(op: Operation) -> Handler:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if op.path_model is not None:
            try:
                kwargs["path"] = op.path_model.model_validate(dict(request.match_info))
            except ValidationError as exc:  # no such agent, order, step: nothing is there
                found = problems(exc)
                codes: Mapping[str, str] = getattr(op.path_model, "not_found", {})
                return error(404, next((codes[f] for f in found if f in codes), NOT_FOUND), found)
        try:
            if op.query_model is not None:
                kwargs["query"] = op.query_model.model_validate(dict(request.query))
        except ValidationError as exc:
            return error(400, VALIDATION_FAILED, problems(exc))
        if op.body_model is not None:
            raw = await read_json_body(request, request.app.get(READ_TIMEOUT, BODY_TIMEOUT_SECONDS))
            if isinstance(raw, web.Response):
                return raw
            if not raw.strip():
                if op.body_required:
                    return error(400, BAD_REQUEST, {"body": "a JSON object is needed"})
                kwargs["body"] = None
            else:
                try:
                    kwargs["body"] = op.body_model.model_validate_json(raw, context=request.app.get(VALIDATION_CONTEXT))
                except ValidationError as exc:
                    if any(e["type"] == "json_invalid" for e in exc.errors()):
                        return error(400, BAD_REQUEST, {"body": "must be a JSON object in UTF-8 (nesting at most 200)"})
                    if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
                        return error(400, BAD_REQUEST, {"body": "must be a JSON object"})
                    return error(400, VALIDATION_FAILED, problems(exc))
        return await op.handler(request, **kwargs)

    endpoint.__name__ = op.handler.__name__
    return endpoint


# ---- the OpenAPI document ---------------------------------------------------------------------

REF = "#/components/schemas/{model}"


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query or path parameter is absent or a value; its `X | None` schema is just X."""
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
            return {**kept[0], **rest}
    return schema


def _parameters(model: type[BaseModel], where: str, definitions: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    definitions.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(dict(prop))
        description = prop.pop("description", "")
        prop.pop("title", None)
        out.append({"name": name, "in": where, "required": where == "path" or name in required,
                    "description": description, "schema": prop})
    return out


def openapi(operations: Iterable[Operation], title: str = "12345 hotline controller") -> dict[str, Any]:
    operations = list(operations)
    definitions: dict[str, Any] = {}
    models: list[tuple[type[BaseModel], Any]] = [(ErrorBody, "serialization")]
    others: list[Any] = []  # list[...], dict[...]: through a TypeAdapter
    for op in operations:
        if op.body_model is not None:
            models.append((op.body_model, "validation"))
        for answer in op.answers:
            if isinstance(answer.model, type) and issubclass(answer.model, BaseModel):
                models.append((answer.model, "serialization"))
            elif answer.model is not None:
                others.append(answer.model)
    _, shared = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    definitions.update(shared.get("$defs", {}))
    other_schemas: dict[str, dict[str, Any]] = {}
    for model in others:
        schema = _adapter(model).json_schema(ref_template=REF, mode="serialization")
        definitions.update(schema.pop("$defs", {}))
        other_schemas[repr(model)] = schema

    def schema_of(model: Any) -> dict[str, Any]:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return {"$ref": REF.format(model=model.__name__)}
        return other_schemas[repr(model)]

    paths: dict[str, Any] = {}
    for op in operations:
        parameters: list[dict[str, Any]] = []
        if op.path_model is not None:
            parameters += _parameters(op.path_model, "path", definitions)
        if op.query_model is not None:
            parameters += _parameters(op.query_model, "query", definitions)
        if op.if_match:
            parameters.append({"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                               "description": "the ETag of the order as read: 412 if it changed meanwhile"})
        responses: dict[str, Any] = {}
        for answer in op.answers:
            content = ({answer.media: {"schema": schema_of(answer.model)}} if answer.model is not None
                       else {answer.media: {"schema": {"type": "string"}}})
            entry: dict[str, Any] = {"description": answer.description, "content": content}
            if answer.headers:
                entry["headers"] = {h: {"schema": {"type": "string"}} for h in answer.headers}
            responses[str(answer.status)] = entry
        for status in op.statuses():
            responses.setdefault(str(status), {
                "description": ERROR_DESCRIPTIONS.get(status, "error"),
                "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}})
        operation: dict[str, Any] = {"summary": op.summary, "operationId": f"{op.method.lower()}_{op.handler.__name__}",
                                     "parameters": parameters, "responses": responses}
        operation["description"] = WHO[op.rule]
        if op.public:
            operation["security"] = []
        if op.body_model is not None:
            operation["requestBody"] = {"required": op.body_required,
                                        "content": {"application/json": {"schema": schema_of(op.body_model)}}}
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0", "info": {"title": title, "version": "1"}, "paths": paths,
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": dict(sorted(definitions.items()))},
    }
