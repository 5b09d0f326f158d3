"""Issue 14, "Done when": schemathesis against the served API, and the OpenAPI document covers
every served route with its auth errors.

The controller's real app runs in a background thread (tests/web/served_api.py); schemathesis
loads the document the app serves at /api/openapi.json and calls every operation over HTTP,
once with a supervisor's token and once with an agent's (agent1001), in positive and negative
generation modes, with fixed seeds (reproducible) and a bounded number of examples. Besides
what schemathesis generates from the document, hooks put in what broke the API before: lone
surrogates in text, integers of 2^63 and more, dates at the ends of the calendar, and JSON
nested deeper than any parser goes.

Fuzzing meets such a value in one parameter only now and then, so a second test puts each of
them alone into each query parameter and each JSON body field the document names (a valid body
around it) and reports every distinct failure at once, with the server's exception.

Checks: no 5xx, every status documented, the documented content type, responses matching
their schema and documented headers. A failure shows the request (curl) and what the server
logged meanwhile. A third and fourth test hold the document to what is served: every route
(method and path, HEAD aside) documented, nothing documented that is not served, and every
operation but the document itself with its 401 and 403 answers and a bearer security.

schemathesis 4.32's lazy pytest schema needs `node._nodeid`, gone in pytest 9: a fixture here
puts it back (see _node_id_for_schemathesis).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st

from tests.web.served_api import AGENT_ID, CALLER, Served, ServedInThread

ROLES = ["supervisor", "agent"]
SEED = 1407  # any fixed number: the same requests on every run (the supervisor's; the agent's + 1)
MAX_EXAMPLES = 50  # fuzzed cases per operation and role (the coverage phase adds its own)
PUBLIC = {("GET", "/api/openapi.json")}

# ---- what the document alone would not generate ------------------------------------------------

SURROGATES = ["\ud800", "a\udfffb", "噪音\ud83d", "\udc80\udc80"]
HUGE_INTEGERS = [2 ** 63, 2 ** 64, -(2 ** 63) - 1, 10 ** 30]
EXTREME_DATES = ["0001-01-01", "9999-12-31", "0000-01-01", "+275760-09-13"]
EXTREME_DATE_TIMES = ["0001-01-01T00:00:00", "0001-01-01T00:00:00+08:00", "0001-01-01T00:00:00Z",
                      "9999-12-31T23:59:59", "9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-12:00",
                      "+275760-09-13T00:00:00Z"]
DEEP = [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"content": ' + b"[" * 100_000]


def _nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


ODD_VALUES = st.one_of(
    st.sampled_from(SURROGATES),
    st.sampled_from(HUGE_INTEGERS),
    st.sampled_from(EXTREME_DATES + EXTREME_DATE_TIMES),
    st.sampled_from([_nested(64, "x"), _nested(64, 1)]),  # as deep as the client's JSON writer goes
)
SURROGATE_BYTES = [s.encode("utf-8", "surrogatepass") for s in SURROGATES]  # a URL holds bytes: %ED%A0%80
ODD_QUERY_VALUES = st.one_of(
    st.sampled_from(SURROGATE_BYTES),
    st.sampled_from([str(n) for n in HUGE_INTEGERS]),
    st.sampled_from(EXTREME_DATES + EXTREME_DATE_TIMES),
)


def _cursor(document: bytes) -> str:
    return base64.urlsafe_b64encode(document).decode().rstrip("=")


# the search's cursor is base64 of JSON [sort, direction, key, row id]: the same odd values inside
FORGED_CURSORS = ([
    _cursor(b'["created_at", "desc", "2026-11-01T00:00:00+00:00", %d]' % n) for n in HUGE_INTEGERS] + [
    _cursor(f'["created_at", "desc", "{when}", 1]'.encode()) for when in EXTREME_DATE_TIMES] + [
    _cursor(b'["number", "desc", "\\ud800", 1]'), _cursor(b'["number", "asc", "\\ud800", 1]'),
    _cursor(b"[" * 2000 + b"]" * 2000), _cursor(b"\xff\xfe"), "!!!", "a"])
ODD_CURSORS = st.sampled_from(FORGED_CURSORS)


def _odd_for(parameter: Any) -> st.SearchStrategy[Any]:
    """Odd values of the parameter's kind (read from its schema): huge integers for a number,
    far moments for a date, forged cursors for the cursor, any of them for text."""
    kind = json.dumps(parameter.definition.get("schema", {}))
    if parameter.name == "cursor":
        return st.one_of(ODD_CURSORS, ODD_QUERY_VALUES)
    if '"integer"' in kind or '"number"' in kind:
        return st.sampled_from([str(n) for n in HUGE_INTEGERS])
    if '"date-time"' in kind:
        return st.sampled_from(EXTREME_DATE_TIMES)
    if '"date"' in kind:
        return st.sampled_from(EXTREME_DATES)
    return ODD_QUERY_VALUES


def _sometimes_odd(values: dict[str, Any], odd: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """`values` with each name of `odd` replaced, one time in three, by one of its odd values."""
    choices = {name: st.one_of(st.just(None), st.just(None), strategy.map(lambda v: (v,)))
               for name, strategy in odd.items()}
    return st.fixed_dictionaries(choices).map(
        lambda drawn: {**values, **{name: picked[0] for name, picked in drawn.items() if picked is not None}})


def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """Most bodies as generated; the others with fields made odd, or the whole body odd or
    replaced by 100k-deep JSON (sent as bytes: no JSON writer nests that deep)."""
    whole: list[st.SearchStrategy[Any]] = [st.sampled_from(DEEP), ODD_VALUES]
    if isinstance(body, dict) and body:
        fields = _sometimes_odd(body, {name: ODD_VALUES for name in sorted(body)})
        whole += [fields, fields]  # twice as often as the others
    return st.one_of(st.just(body), *whole)


def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    """A third of the queries as generated; a third with parameters of the operation made odd,
    given or not; a third with one odd parameter alone (beside the required ones), so that no
    other parameter's 400 hides what the odd one does."""
    operation = getattr(context, "operation", None)
    parameters = sorted(operation.query, key=lambda p: p.name) if operation is not None else []
    if not parameters:
        return st.just(query)
    kept = {p.name: query[p.name] for p in parameters if p.is_required and query and p.name in query}
    odd = {p.name: _odd_for(p) for p in parameters}
    alone = st.sampled_from(sorted(odd)).flatmap(lambda name: odd[name].map(lambda value: {**kept, name: value}))
    return st.one_of(st.just(query), _sometimes_odd(dict(query or {}), odd), alone)


# ---- the served API and its document ------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedInThread]:
    served = ServedInThread(tmp_path_factory.mktemp("schemathesis"))
    with served:
        yield served


@pytest.fixture(scope="module")
def served(server: ServedInThread) -> Served:
    assert server.served is not None
    return server.served


def _config(served: Served, role: str) -> schemathesis.Config:
    checks = {name: {"enabled": True} for name in (
        "not_a_server_error", "status_code_conformance", "content_type_conformance",
        "response_schema_conformance", "response_headers_conformance")}
    return schemathesis.Config.from_dict({
        "seed": SEED + ROLES.index(role),
        "base-url": served.url,
        "headers": served.headers(role),
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "no-shrink": True,
                       "database": "none", "with-security-parameters": False},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        "checks": {"enabled": False, **checks},
        "request-timeout": 30,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
    })


@pytest.fixture(scope="module", params=ROLES)
def api_schema(request: pytest.FixtureRequest, served: Served) -> Any:
    role: str = request.param
    schema = schemathesis.openapi.from_url(f"{served.url}/api/openapi.json", config=_config(served, role))
    schema.hooks.hook(flatmap_body)
    schema.hooks.hook(flatmap_query)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's lazy schema reads and writes `node._nodeid`, which pytest 9 no
    longer has: give it one (it only names the subtests with it)."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
def test_generated_requests_answer_as_documented(case: Any, served: Served) -> None:
    mark = served.log_mark()
    try:
        case.call_and_validate()
    except BaseException as exc:
        logged = served.log_text(mark)
        exc.add_note(f"--- the server logged:\n{logged or '(nothing)'}")
        raise


# ---- every odd value on every parameter and body field, one at a time ---------------------------
# Fuzzing meets an odd value in one parameter now and then; these cases put each one alone into
# each query parameter and each body field the document names (a valid body around it), so a
# 5xx or an undocumented answer on any of them is found on every run, whatever the seed.

SAMPLES: dict[str, Any] = {"caller_number": CALLER, "contact_number": CALLER, "caller": CALLER,
                           "category": "complaint", "topic": "city", "area": "西湖区", "content": "夜间施工噪音",
                           "linkedid": "seed-call-1", "number": "13800009999", "reason": "meal",
                           "department": "urban", "follow_up_result": "satisfied", "note": "已处理"}
PATH_SAMPLES: dict[str, str] = {"agent_id": AGENT_ID, "op": "pause", "action": "answer_directly"}


def _resolve(document: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    """The schema with its $refs followed and a nullable anyOf/oneOf read as its first other branch."""
    if not isinstance(schema, dict) or depth > 20:
        return schema
    if "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _resolve(document, {**target, **{k: v for k, v in schema.items() if k != "$ref"}}, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [b for b in schema[key] if _resolve(document, b, depth + 1).get("type") != "null"]
            if branches:
                rest = {k: v for k, v in schema.items() if k != key}
                return _resolve(document, {**rest, **_resolve(document, branches[0], depth + 1)}, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged.update(_resolve(document, part, depth + 1))
        return merged
    return schema


def _sample(name: str, schema: dict[str, Any]) -> Any:
    if name in SAMPLES:
        return SAMPLES[name]
    if schema.get("enum"):
        return schema["enum"][0]
    return {"integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}.get(schema.get("type", ""), "x")


def _odd_values(schema: dict[str, Any]) -> list[Any]:
    kind, form = schema.get("type"), schema.get("format", "")
    if kind in ("integer", "number"):
        return list(HUGE_INTEGERS)
    if form == "date-time":
        return list(EXTREME_DATE_TIMES)
    if form == "date":
        return list(EXTREME_DATES)
    if kind == "string":
        return [*SURROGATES, str(2 ** 63)]
    return [SURROGATES[0], 2 ** 63, _nested(64, 1)]


def _explicit_cases(schema: Any, document: dict[str, Any], served: Served) -> Iterator[tuple[str, Any]]:
    for result in schema.get_all_operations():
        operation = result.ok()
        raw = document["paths"][operation.path][operation.method.lower()]
        path = {}
        for p in operation.path_parameters:
            resolved = _resolve(document, p.definition.get("schema", {}))
            path[p.name] = (resolved.get("enum") or [None])[0] or PATH_SAMPLES.get(p.name) or served.seeded["new"]
        required = {p.name: _sample(p.name, _resolve(document, p.definition.get("schema", {})))
                    for p in operation.query if p.is_required}
        for p in operation.query:
            odd = _odd_values(_resolve(document, p.definition.get("schema", {})))
            for value in [*FORGED_CURSORS, *odd] if p.name == "cursor" else odd:
                if isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
                    value = value.encode("utf-8", "surrogatepass")  # a URL holds bytes: %ED%A0%80
                yield f"query {p.name}={value!r:.80}", operation.Case(path_parameters=path, query={**required, p.name: value})
        content = raw.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        body_schema = _resolve(document, content.get("schema", {}))
        properties = {k: _resolve(document, v) for k, v in body_schema.get("properties", {}).items()}
        base = {k: _sample(k, properties.get(k, {})) for k in body_schema.get("required", [])}
        for name, property_schema in sorted(properties.items()):
            for value in _odd_values(property_schema):
                yield (f"body {name}={value!r:.40}",
                       operation.Case(path_parameters=path, query=required, body={**base, name: value},
                                      media_type="application/json"))
        for deep in DEEP:
            yield (f"body {deep[:12]!r}… ({len(deep)} bytes)",
                   operation.Case(path_parameters=path, query=required, body=deep, media_type="application/json"))


@pytest.mark.parametrize("role", ROLES)
def test_each_odd_value_alone_in_each_parameter_and_field(served: Served, role: str) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/api/openapi.json", config=_config(served, role))
    document = _document(served)
    found: dict[tuple[str, str], list[str]] = {}
    cases = 0
    for what, case in _explicit_cases(schema, document, served):
        cases += 1
        mark = served.log_mark()
        try:
            case.call_and_validate(headers=served.headers(role))
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
            failures = getattr(exc, "exceptions", [exc])
            logged = [line for line in served.log_text(mark).splitlines() if "Error" in line][-1:]
            cause = logged[0].split(":")[0] if logged else ""
            for failure in failures:
                title = getattr(failure, "title", type(failure).__name__)
                message = (getattr(failure, "message", "") or str(failure)).strip().splitlines()
                detail = next((line.strip() for line in message if line.strip() and line.strip() != title), "")
                key = (case.operation.label, f"{title}{' (' + detail[:100] + ')' if detail else ''}"
                       f"{'; the server: ' + cause if cause else ''}")
                found.setdefault(key, []).append(f"{what} {' '.join(logged)[:160]}".strip())
    assert cases > 0
    report = [f"{label}: {problem}\n      {len(examples)}x, e.g. {examples[0]}"
              for (label, problem), examples in sorted(found.items())]
    assert not found, f"{len(found)} distinct failures in {cases} explicit cases ({role}):\n" + "\n".join(report)


# ---- the document covers what is served ---------------------------------------------------------

def _served_operations(served: Served) -> set[tuple[str, str]]:
    return {(route.method, route.resource.canonical) for route in served.app.router.routes()
            if route.resource is not None and route.method != "HEAD"}


def _document(served: Served) -> dict[str, Any]:
    response = requests.get(f"{served.url}/api/openapi.json", timeout=30)
    assert response.status_code == 200, response.text[:500]
    document: dict[str, Any] = response.json()
    return document


def _documented_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {(method.upper(), path): operation for path, item in document.get("paths", {}).items()
            for method, operation in item.items() if method in methods}


def test_every_served_route_is_documented_and_nothing_else(served: Served) -> None:
    served_operations = _served_operations(served)
    documented = set(_documented_operations(_document(served)))
    missing, extra = sorted(served_operations - documented), sorted(documented - served_operations)
    assert not missing and not extra, (
        f"{len(served_operations)} operations served, {len(documented)} documented; "
        f"served but not documented: {missing}; documented but not served: {extra}")


def test_every_protected_operation_documents_its_401_and_403(served: Served) -> None:
    document = _document(served)
    undocumented = []
    for (method, path), operation in sorted(_documented_operations(document).items()):
        security = operation.get("security", document.get("security", []))
        if (method, path) in PUBLIC:
            assert security == [], f"{method} {path} is public: its security must be []"
            continue
        lacking = [code for code in ("401", "403") if code not in operation.get("responses", {})]
        if not security:
            lacking.append("security (a bearer token)")
        if lacking:
            undocumented.append(f"{method} {path}: {', '.join(lacking)}")
    assert not undocumented, "auth errors not documented:\n" + "\n".join(undocumented)

