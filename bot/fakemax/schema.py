"""The official MAX Bot API OpenAPI schema (v0.0.33, vendored in tests/data/max) as a validator.

Every request the bot makes to the fake MAX server and every response the fake gives is checked here:
the operation is found by method and path template, its path and query parameters are parsed and
checked against their schemas, the JSON body against the requestBody schema, and the answer against
the schema of the response for its status code.

Schemas are OpenAPI 3.0 (``nullable``, ``readOnly``), checked with openapi-schema-validator's OAS 3.0
dialect. MAX puts its ``discriminator`` on the base schema ("inheritance" style: ``Attachment``,
``AttachmentRequest``, ``Button``, ``Update``, ``MarkupElement``), which that dialect does not follow,
so a keyword added here does: the value of ``propertyName`` must be one of the mapping's keys and the
instance must also satisfy the mapped schema (minus its ``allOf`` link back to the base). Without it a
callback button without a payload, or an unknown attachment type, would pass.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import ValidationError, validators
from jsonschema.protocols import Validator
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from bot.paths import ROOT

# An installed wheel carries the schema inside the package (setup.py copies tests/data/max there).
_PACKAGED = Path(__file__).resolve().parent / "data" / "schema.yaml"
SCHEMA_PATH = _PACKAGED if _PACKAGED.is_file() else ROOT / "tests" / "data" / "max" / "schema.yaml"
SCHEMA_VERSION = "0.0.33"
_DOC_URI = "urn:max-bot-api:schema"
_METHODS = ("get", "post", "put", "patch", "delete")


class SchemaViolation(Exception):
    """A request or response does not match the official schema; ``errors`` names every place."""

    def __init__(self, where: str, errors: list[str]) -> None:
        super().__init__(f"{where}: " + "; ".join(errors))
        self.where = where
        self.errors = errors


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    template: str
    pattern: re.Pattern[str]
    spec: Mapping[str, Any]


def _discriminator_keyword(document: Mapping[str, Any]) -> Any:
    def lookup(ref: str) -> Any:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    def discriminator(
        validator: Any, spec: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        prop = spec["propertyName"]
        if prop not in instance:
            return  # "required" reports it
        mapping: Mapping[str, str] = spec.get("mapping", {})
        value = instance[prop]
        target_ref = mapping.get(value) if isinstance(value, str) else None
        if target_ref is None:
            yield ValidationError(f"{prop} {value!r} is not one of {sorted(mapping)}")
            return
        target = lookup(target_ref)
        parts = [
            part
            for part in target.get("allOf", [])
            if not ("$ref" in part and (lookup(part["$ref"]) is schema or lookup(part["$ref"]) == schema))
        ]
        narrowed = {key: val for key, val in target.items() if key != "allOf"}
        if parts:
            narrowed["allOf"] = parts
        yield from validator.descend(instance, narrowed)

    return discriminator


class MaxSchema:
    """The loaded schema: operations by method and path, and validation of bodies and answers."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.version = str(document["info"]["version"])
        resource = Resource.from_contents(document, default_specification=DRAFT4)
        self._registry: Registry[Any] = Registry().with_resource(_DOC_URI, resource)
        validator_class = validators.extend(OAS30Validator, {"discriminator": _discriminator_keyword(document)})
        self._validator_class = validator_class
        self.operations: list[Operation] = []
        for template, item in document["paths"].items():
            regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip())
            for method in _METHODS:
                if method in item:
                    spec = item[method]
                    self.operations.append(
                        Operation(spec["operationId"].strip(), method.upper(), template, re.compile(f"^{regex}$"), spec)
                    )

    def _validator(self, schema: Mapping[str, Any]) -> Validator:
        validator: Validator = self._validator_class(
            schema,
            registry=self._registry,
            format_checker=oas30_format_checker,
            _resolver=self._registry.resolver(base_uri=_DOC_URI),
        )
        return validator

    def errors(self, instance: Any, schema: Mapping[str, Any]) -> list[str]:
        """Every violation of ``schema`` by ``instance``, as 'path: message' strings."""
        found = []
        for error in self._validator(schema).iter_errors(instance):
            place = "/".join(str(p) for p in error.absolute_path) or "(root)"
            message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
            found.append(f"{place}: {message}")
        return found

    def component(self, name: str) -> Mapping[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for operation in self.operations:
            if operation.method != method.upper():
                continue
            found = operation.pattern.match(path)
            if found:
                return operation, found.groupdict()
        return None

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def check_parameters(
        self, operation: Operation, path_params: Mapping[str, str], query: Mapping[str, str]
    ) -> dict[str, Any]:
        """Parse and check path and query parameters; returns them typed. SchemaViolation if wrong."""
        errors: list[str] = []
        parsed: dict[str, Any] = {}
        for param in operation.spec.get("parameters", []):
            param = self._resolve(param)
            name, where = param["name"], param["in"]
            source = path_params if where == "path" else query if where == "query" else {}
            if name not in source:
                if param.get("required"):
                    errors.append(f"{where} parameter {name}: required")
                continue
            schema = param.get("schema", {})
            value = self._coerce(source[name], self._resolve(schema) if "$ref" in schema else schema)
            if value is None and source[name] != "null":
                errors.append(f"{where} parameter {name}: {source[name]!r} is not a valid value")
                continue
            errors += [f"{where} parameter {name} {e}" for e in self.errors(value, schema)]
            parsed[name] = value
        if errors:
            raise SchemaViolation(f"{operation.method} {operation.template}", errors)
        return parsed

    def _coerce(self, raw: str, schema: Mapping[str, Any]) -> Any:
        kind = schema.get("type")
        if kind is None and "allOf" in schema:
            kind = self._resolve(schema["allOf"][0]).get("type")
        if raw == "null" and schema.get("nullable"):
            return None
        if kind == "integer":
            return int(raw) if re.fullmatch(r"-?\d+", raw) else None
        if kind == "boolean":
            return {"true": True, "false": False}.get(raw)
        if kind == "array":
            return [part for part in raw.split(",") if part]
        return raw

    def check_body(self, operation: Operation, body: Any) -> None:
        request_body = operation.spec.get("requestBody")
        if request_body is None:
            return
        schema = request_body["content"]["application/json"]["schema"]
        errors = self.errors(body, schema)
        if errors:
            raise SchemaViolation(f"{operation.method} {operation.template} body", errors)

    def response_schema(self, operation: Operation, status: int) -> Mapping[str, Any] | None:
        responses = operation.spec.get("responses", {})
        response = responses.get(str(status))
        if response is None:
            return None
        response = self._resolve(response)
        content = response.get("content", {}).get("application/json")
        return None if content is None else content["schema"]

    def check_response(self, operation: Operation, status: int, body: Any) -> None:
        """The answer must be declared for this status (400 and 429 answers use the Error schema, as
        MAX's documentation says every error does) and match its schema."""
        schema = self.response_schema(operation, status)
        if schema is None:
            if status in (400, 401, 403, 404, 405, 429, 500, 503):
                schema = self.component("Error")
            else:
                raise SchemaViolation(f"{operation.method} {operation.template}", [f"status {status} not declared"])
        errors = self.errors(body, schema)
        if errors:
            raise SchemaViolation(f"{operation.method} {operation.template} response {status}", errors)


def _load(path: Path) -> MaxSchema:
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loaders only
    return MaxSchema(document)


@functools.cache
def load_schema(path: Path = SCHEMA_PATH) -> MaxSchema:
    """The vendored schema, parsed once per process (call it off the event loop the first time)."""
    return _load(path)
