"""Every JSON operation in ``/docs`` declares what it answers: a 2xx JSON response with a
non-empty schema. A route returning an untyped dict shows ``{}`` there, which this refuses."""

from __future__ import annotations

from typing import Any

import pytest

from attunement.web import Settings, create_app

METHODS = ("get", "post", "put", "patch", "delete")


class _NoStore:
    """create_app only keeps the store: the schema is built without a database."""


def _openapi() -> dict[str, Any]:
    app = create_app(_NoStore(), settings=Settings(secret_key="x" * 40))  # type: ignore[arg-type]
    return app.openapi()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _empty(spec: dict[str, Any], schema: dict[str, Any] | None) -> bool:
    if not schema:
        return True
    schema = _resolve(spec, schema)
    if schema.get("type") == "array":
        return _empty(spec, schema.get("items"))
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return all(_empty(spec, s) for s in schema[key])
    if schema.get("type") == "object" or "properties" in schema:
        return not schema.get("properties") and not isinstance(
            schema.get("additionalProperties"), dict)
    return "type" not in schema and "enum" not in schema and "const" not in schema


def _json_operations() -> list[tuple[str, str, dict[str, Any]]]:
    spec = _openapi()
    found = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            for status, response in op.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                content = response.get("content") or {}
                json_types = [t for t in content if t == "application/json" or t.endswith("+json")]
                if content and not json_types:
                    continue  # a file download (CSV, SVG, Parquet …): not JSON
                found.append((f"{method.upper()} {path} {status}", path,
                              {t: content[t].get("schema") for t in json_types}
                              if json_types else {"(no content)": None}))
    return found


def test_every_json_operation_has_a_response_schema() -> None:
    spec = _openapi()
    missing = []
    for name, _path, schemas in _json_operations():
        if "(no content)" in schemas:
            missing.append(f"{name}: no response content declared")
            continue
        for media, schema in schemas.items():
            if _empty(spec, schema):
                missing.append(f"{name} {media}: empty schema")
    assert not missing, "\n".join(missing)


def test_the_check_is_not_vacuous() -> None:
    spec = _openapi()
    ops = _json_operations()
    assert len(ops) >= 50
    assert any("/api/families/{family_id}/assessments" in name for name, _, _ in ops)
    assert _empty(spec, {}) and _empty(spec, {"type": "object"})
    assert _empty(spec, {"type": "array", "items": {}})
    assert not _empty(spec, {"type": "string"})


@pytest.mark.parametrize("path", ["/api/families/{family_id}", "/api/families/{family_id}/profile",
                                  "/api/families/{family_id}/assessments"])
def test_key_routes_name_their_fields(path: str) -> None:
    spec = _openapi()
    op = spec["paths"][path]["get" if not path.endswith("assessments") else "post"]
    status = "201" if path.endswith("assessments") else "200"
    schema = _resolve(spec, op["responses"][status]["content"]["application/json"]["schema"])
    assert schema.get("properties"), path
