#!/usr/bin/env python3
"""Writes src/openapi.json, the OpenAPI 3.1 document served at /openapi.json.

    python3 scripts/openapi.py        # after changing a route

The Rust unit tests in src/openapi.rs check that every routed path and method is documented
here and that nothing else is, and that every $ref resolves.
"""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props, required=(), extra=False, **more):
    out = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        out["required"] = list(required)
    out.update(more)
    return out


def page(item):
    return obj({"items": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
               ["items", "next_cursor"])


S = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
ID = {"type": "string", "description": "opaque id"}
INT = {"type": "integer"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

PROBLEMS = {
    400: "Invalid request (`validation_failed`): malformed JSON, unknown fields, invalid values",
    401: "Missing or invalid credentials (`unauthorized`, `token_expired`, `invalid_credentials`)",
    403: "The caller's role does not allow this (`forbidden`)",
    404: "No such resource, or one the caller may not see (`not_found`)",
    405: "Method not allowed on this path (`method_not_allowed`), with `allow`",
    409: "Conflict with the current state (`conflict`)",
    413: "Body over the route's limit (`payload_too_large`)",
    415: "Body is not application/json (`unsupported_media_type`)",
    429: "Too many requests (`rate_limited`, `budget_exceeded`), with `retry-after`",
    502: "The provider failed (`upstream_error`)",
    503: "A dependency is unavailable (`service_unavailable`)",
}


def problem(status, text=None):
    return {"description": text or PROBLEMS[status],
            "content": {"application/problem+json": {"schema": ref("Problem")}}}


def json_response(schema, text="OK"):
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def op(summary, tag, ok=None, body=None, errors=(), public=False, keys=False, params=(), status=200,
       description=None, ok_text="OK", extra_responses=None):
    o = {"summary": summary, "tags": [tag], "responses": {}}
    if description:
        o["description"] = description
    if public:
        o["security"] = []
    elif keys:
        o["security"] = [{"bearer": []}, {"apiKey": []}]
    if params:
        o["parameters"] = list(params)
    if body is not None:
        o["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if status == 204:
        o["responses"]["204"] = {"description": ok_text if ok_text != "OK" else "Done"}
    else:
        o["responses"][str(status)] = json_response(ok, ok_text) if ok is not None else {"description": ok_text}
    codes = set(errors)
    if not public:
        codes.add(401)
    if body is not None:
        codes.update({400, 413, 415})
    for code in sorted(codes):
        o["responses"][str(code)] = problem(code)
    if extra_responses:
        o["responses"].update(extra_responses)
    return o


def path_param(name, text):
    return {"name": name, "in": "path", "required": True, "schema": S, "description": text}


def query(name, schema, text):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "page size")
CURSOR = query("cursor", S, "`next_cursor` of the previous page")
CONV = path_param("id", "conversation id")

SSE = {
    "description": (
        "`text/event-stream`. Events, each with an `id:` usable as `Last-Event-ID`: `message.created` "
        "(id 0; `{user_message, assistant_message_id}`), `delta` (`{text}`; id = byte length of the reply "
        "so far), then `message.completed` (`{message, usage}`; also when aborted, with status `aborted`) "
        "or `error` (`{code, message}`; the message is left `failed` with its partial text); the final "
        "event's id is the reply's byte length + 1."
    ),
    "content": {"text/event-stream": {"schema": S}},
}

components = {
    "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An access token from register, login, refresh or embed exchange."},
        "apiKey": {"type": "http", "scheme": "bearer",
                   "description": "An issued API key (`cg_…`), on the routes that accept one."},
    },
    "schemas": {
        "Problem": obj({"type": S, "title": S, "status": INT, "detail": S, "code": S},
                       ["type", "title", "status", "detail", "code"], extra=True,
                       description="RFC 9457 problem details; `code` is stable snake_case."),
        "User": obj({"id": ID, "email": S, "name": S, "created_at": TIME}, ["id", "email", "name", "created_at"]),
        "Tokens": obj({
            "user": ref("User"),
            "access_token": S,
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "description": "seconds (900)"},
            "refresh_token": {"type": "string", "description": "only with `refresh_token_in: \"body\"`"},
        }, ["access_token", "token_type", "expires_in"]),
        "OrgMembership": obj({"id": ID, "name": S, "role": {"enum": ["owner", "admin", "member"]}},
                             ["id", "name", "role"]),
        "Me": obj({"id": ID, "email": S, "name": S, "created_at": TIME,
                   "orgs": {"type": "array", "items": ref("OrgMembership")}},
                  ["id", "email", "name", "created_at", "orgs"]),
        "Session": obj({"id": ID, "created_at": TIME, "last_used_at": TIME, "user_agent": S, "ip": S,
                        "current": {"type": "boolean"}},
                       ["id", "created_at", "last_used_at", "user_agent", "ip", "current"]),
        "Conversation": obj({"id": ID, "org_id": ID, "title": S, "model": S, "system_prompt": S,
                             "created_at": TIME, "last_activity_at": TIME},
                            ["id", "org_id", "title", "model", "system_prompt", "created_at", "last_activity_at"]),
        "Usage": obj({"prompt_tokens": INT, "completion_tokens": INT}, ["prompt_tokens", "completion_tokens"]),
        "Message": obj({
            "id": ID, "seq": INT, "role": {"enum": ["user", "assistant"]}, "content": S,
            "model": {"type": ["string", "null"]},
            "status": {"enum": ["complete", "streaming", "aborted", "failed"]},
            "usage": {"oneOf": [ref("Usage"), {"type": "null"}]}, "created_at": TIME,
        }, ["id", "seq", "role", "content", "model", "status", "usage", "created_at"]),
    },
}

AUTH_BODY_NOTE = "Bodies on this route are limited to 16 KiB."
DELIVERY = {"enum": ["cookie", "body"], "default": "cookie",
            "description": "where the refresh token goes: an HttpOnly cookie (default) or this JSON body"}

paths = {
    "/health": {"get": op("Health of the service and its storage", "service", public=True,
                          ok=obj({"status": {"const": "ok"}, "checks": obj({"d1": S, "kv": S})}),
                          extra_responses={"503": problem(503, "D1 or KV failing; `checks` names which")})},
    "/api": {"get": op("Service name and version", "service", public=True,
                       ok=obj({"name": S, "version": S, "openapi": S}))},
    "/openapi.json": {"get": op("This document", "service", public=True, ok={"type": "object"})},
    "/api/auth/register": {"post": op(
        "Create an account (and its personal organization) and a session", "auth", public=True, status=201,
        ok=ref("Tokens"), errors=(409, 429), ok_text="Created; the refresh token is set as a cookie unless asked in the body",
        description="Passwords: 8 to 256 characters, not among the 10,000 most common. " + AUTH_BODY_NOTE,
        body=obj({"email": S, "password": S, "name": S, "refresh_token_in": DELIVERY}, ["email", "password", "name"]))},
    "/api/auth/login": {"post": op(
        "Log in with email and password", "auth", public=True, ok=ref("Tokens"), errors=(429,),
        description="Unknown email and wrong password give the same 401 `invalid_credentials`. Repeated "
                    "failures for one account or one client address give 429 with `retry-after`. " + AUTH_BODY_NOTE,
        body=obj({"email": S, "password": S, "refresh_token_in": DELIVERY}, ["email", "password"]))},
    "/api/auth/refresh": {"post": op(
        "Exchange a refresh token for new tokens (rotation)", "auth", public=True, ok=ref("Tokens"), errors=(403,),
        description="The token comes from the cookie or the body. A token presented in the body is returned in "
                    "the body unless `refresh_token_in` says otherwise. Presenting an already-rotated token is "
                    "401 and revokes its session. Cookie requests with a foreign `Origin` are 403. "
                    "The body is optional.",
        body=obj({"refresh_token": S, "refresh_token_in": DELIVERY}))},
    "/api/auth/logout": {"post": op(
        "Revoke the current session", "auth", public=True, status=204, errors=(401, 403),
        description="The session of the bearer access token, or else of the refresh token (cookie or body); "
                    "its refresh token and access tokens stop working at once. The body is optional.",
        body=obj({"refresh_token": S}))},
    "/api/auth/logout-all": {"post": op("Revoke every session of the user", "auth", status=204)},
    "/api/me": {
        "get": op("The current user with their organizations", "me", ok=ref("Me")),
        "patch": op("Rename the current user", "me", ok=ref("Me"), body=obj({"name": S}, ["name"]),
                    description="Any other field is 400. " + AUTH_BODY_NOTE),
        "delete": op("Delete the account and everything it owns", "me", status=204, errors=(429,),
                     body=obj({"password": S}, ["password"]),
                     description="Removes sessions, keys, conversations and memberships, and the organizations "
                                 "where the user was the only owner. A wrong password is 401 `invalid_credentials`."),
    },
    "/api/me/password": {"post": op(
        "Change the password; every other session is revoked", "me", status=204, errors=(429,),
        body=obj({"current_password": S, "new_password": S}, ["current_password", "new_password"]))},
    "/api/sessions": {"get": op("The user's live sessions, most recently used first", "me",
                                ok=page(ref("Session")))},
    "/api/sessions/{id}": {"delete": op("Revoke one of the user's sessions", "me", status=204, errors=(404,),
                                        params=(path_param("id", "session id"),))},
    "/api/conversations": {
        "post": op("Start a conversation", "conversations", status=201, ok=ref("Conversation"), keys=True,
                   errors=(404,),
                   description="`org_id` defaults to the caller's personal organization (an API key: its own); "
                               "`model` defaults to `demo/echo` and must be enabled in the organization.",
                   body=obj({"org_id": S, "title": S, "model": S, "system_prompt": S})),
        "get": op("The caller's conversations, newest activity first", "conversations", keys=True,
                  ok=page(ref("Conversation")), errors=(400,),
                  params=(query("org_id", S, "only this organization's"), LIMIT, CURSOR)),
    },
    "/api/conversations/{id}": {
        "get": op("One conversation", "conversations", ok=ref("Conversation"), keys=True, errors=(404,), params=(CONV,)),
        "patch": op("Rename it, change its model or system prompt", "conversations", ok=ref("Conversation"),
                    keys=True, errors=(404,), params=(CONV,),
                    body=obj({"title": S, "model": S, "system_prompt": S})),
        "delete": op("Delete it with its messages", "conversations", status=204, keys=True, errors=(404,),
                     params=(CONV,)),
    },
    "/api/conversations/{id}/messages": {
        "get": op("Messages, newest first by seq", "conversations", ok=page(ref("Message")), keys=True,
                  errors=(400, 404), params=(CONV, LIMIT, CURSOR)),
        "post": op("Send a message; the reply streams back", "conversations", keys=True,
                   errors=(404, 409, 429, 502, 503), params=(CONV,),
                   description="One reply per conversation at a time (409 while one streams). The organization's "
                               "custom instructions, the system prompt and the history go upstream. A provider that "
                               "fails before the first token is an HTTP error (`upstream_error`, with the provider's "
                               "status mapped: 400 for a refused request or key, 429 rate limited, 502 otherwise) and "
                               "nothing is stored. 400 `no_provider_key` when no key is configured for the provider.",
                   body=obj({"content": S, "model": S,
                             "max_tokens": {"type": "integer", "minimum": 1, "maximum": 200000}}, ["content"]),
                   extra_responses={"200": SSE}),
    },
    "/api/conversations/{id}/messages/{message_id}/stream": {"get": op(
        "Replay a reply after Last-Event-ID, then follow it live", "conversations", keys=True,
        errors=(400, 404), extra_responses={"200": SSE},
        params=(CONV, path_param("message_id", "the assistant message"),
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": S,
                 "description": "the id of the last event received; absent: from the start"}))},
    "/api/conversations/{id}/abort": {"post": op(
        "Stop the reply in progress, keeping its text as `aborted`", "conversations", status=204, keys=True,
        errors=(404,), params=(CONV,))},
}

document = {
    "openapi": "3.1.0",
    "info": {
        "title": "chatgate",
        "version": "0.1.0",
        "description": "Edge-native authentication and AI-chat gateway. Errors are application/problem+json "
                       "(RFC 9457) with a stable `code`; /v1 errors use OpenAI's shape. Every response carries "
                       "`x-request-id`. List endpoints take `limit` (1-100, default 20) and `cursor`.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "tags": [{"name": t} for t in ["service", "auth", "me", "conversations"]],
    "paths": paths,
    "components": components,
}

if __name__ == "__main__":
    out = ROOT / "src" / "openapi.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}: {sum(len(v) for v in paths.values())} operations")
