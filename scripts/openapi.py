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
COUNT = {"type": "integer", "minimum": 0}
NULLABLE_S = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def nullable(schema):
    """`schema` or JSON null: a serde `Option` field, where an explicit null means absent."""
    out = dict(schema)
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    elif isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    else:
        return {"anyOf": [schema, {"type": "null"}]}
    return out


# --- The domain's validators (src/domain/, the handlers), as JSON Schema ------------------
# Patterns are ECMA-262 and Python alike. Where a validator trims its input or counts after
# normalising, the pattern is the strict form (what a careful client sends); the server
# also takes the padded form.
CONTROL = r"\x00-\x1f\x7f-\x9f"  # Rust's char::is_control (Unicode Cc)
# Rust's str::trim strips Unicode White_Space: its printable members (the rest are controls).
SPACE = r"\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
PRINTABLE = f"[^{CONTROL}]"
VISIBLE = f"[^{CONTROL}{SPACE}]"


def display_name(field):
    """domain::DisplayName: up to 100 characters after trimming, none a control, not blank."""
    return {"type": "string", "minLength": 1, "maxLength": 100,
            "pattern": f"^{PRINTABLE}*{VISIBLE}{PRINTABLE}*$",
            "description": f"{field}: 1 to 100 printable characters, not only spaces (trimmed)"}


NAME = display_name("name")
EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
TLD = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = {"type": "string", "maxLength": 254,
         "pattern": rf"^{EMAIL_ATOM}(?:\.{EMAIL_ATOM}){{0,2}}@(?:{LABEL}\.){{1,3}}{TLD}$",
         "description": "an address (`local@domain`, compared lowercased)"}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 256,
            "description": "8 to 256 characters, not among the 10,000 most common passwords (400 if it is)"}
# domain::ModelId: `provider/model`; the model part 1-128 of `A-Za-z0-9._:@/-` without empty,
# `.` or `..` path segments; `demo/echo` is the demo provider's only model.
MODEL_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._:@-]*"
MODEL = {"type": "string", "maxLength": 135,
         "pattern": rf"^(?:(?:openai|anthropic|gemini)/{MODEL_SEGMENT}(?:/{MODEL_SEGMENT})*|demo/echo)$",
         "description": "`provider/model` (openai, anthropic, gemini; `demo/echo`); it must also be enabled in "
                        "the organization (`enabled_models`), else 400",
         "examples": ["demo/echo", "openai/gpt-4o-mini"]}
ROLE = {"enum": ["owner", "admin", "member"]}
# store::audit::Action
AUDIT_TYPE = {"enum": ["login.succeeded", "login.failed", "refresh.reuse_detected", "session.revoked",
                       "password.changed", "key.created", "key.revoked", "member.role_changed", "member.added",
                       "member.removed", "org.settings_changed", "email.verified", "email.change_requested",
                       "email.changed", "password.reset_requested", "password.reset", "identity.linked",
                       "identity.unlinked", "2fa.enabled", "2fa.disabled", "mfa.failed", "mfa.recovery_code_used",
                       "passkey.added", "passkey.renamed", "passkey.removed", "passkey.counter_regressed",
                       "org.exported", "admin.user_disabled", "admin.user_enabled", "admin.user_deleted", "admin.org_budget_changed",
                       "admin.org_service_keys_changed", "admin.signing_key_rotated",
                       "oauth_client.created", "oauth_client.deleted", "oauth_consent.granted",
                       "oauth_consent.revoked", "oauth_tokens.issued"]}
PROVIDER = {"enum": ["openai", "anthropic", "gemini"]}
DELIVERY = {"enum": ["cookie", "body"], "default": "cookie",
            "description": "where the refresh token goes: an HttpOnly cookie (default) or this JSON body"}
HOST = rf"(?:{LABEL}\.)*{TLD}"
LOCAL_HOST = r"(?:localhost|127\.0\.0\.1|\[::1\])"
ORIGIN = {"type": "string", "maxLength": 300,
          "pattern": rf"^(?:https://{HOST}|http://{LOCAL_HOST})(?::[0-9]{{1,4}})?$",
          "description": "`https://host[:port]`, or http for localhost, 127.0.0.1, [::1]; no path"}
WEBHOOK_URL = {"type": "string", "maxLength": 2048,
               "pattern": rf"^https://(?:{LABEL}\.)+{TLD}(?::[0-9]{{1,4}})?(?:/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*$",
               "description": "https to a public host; no credentials, no fragment. Internal addresses and "
                              "local names are refused (400) in any spelling; plain http only to a host the "
                              "operator lists in WEBHOOK_ALLOW_INSECURE_HOSTS"}
SECRET = {"type": "string", "minLength": 16, "maxLength": 256, "pattern": f"^{PRINTABLE}*$",
          "description": "16 to 256 printable characters"}
PROVIDER_KEY = {"type": "string", "pattern": r"^[!-~]{20,512}$",
                "description": "20 to 512 printable ASCII characters without spaces (surrounding spaces are trimmed)"}
ROOM = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"}
TITLE = {"type": "string", "maxLength": 200, "pattern": f"^{PRINTABLE}*$",
         "description": "up to 200 printable characters (trimmed); empty: `New conversation`"}
SYSTEM_PROMPT = {"type": "string", "maxLength": 20000}
# Not only whitespace: at least one character that str::trim keeps.
CONTENT = {"type": "string", "minLength": 1, "maxLength": 100000, "pattern": rf"[^\t-\r\x85{SPACE}]",
           "description": "1 to 100,000 characters, not only whitespace"}
IMAGE_TYPE = {"enum": ["image/png", "image/jpeg", "image/gif", "image/webp"]}
# The chat route's images (src/domain/attachment.rs): at most 4, each at most 3 MiB.
ATTACHMENT_IN = {
    "type": "object", "additionalProperties": False, "required": ["type", "media_type", "data"],
    "properties": {
        "type": {"const": "image"},
        "media_type": IMAGE_TYPE,
        "data": {"type": "string", "contentEncoding": "base64",
                 "description": "the image, standard base64 (padded); at most 3 MiB decoded (4 MiB of base64). "
                                "Its type is read from its bytes and must be `media_type` (else 400 naming "
                                "`attachments[i].media_type`)"},
    },
}
REASONING_EFFORT = {"enum": ["low", "medium", "high", None],
                    "description": "reasoning asked of the model for this reply (Anthropic thinking, Gemini "
                                   "thinking with thoughts, OpenAI `reasoning_effort`); absent or null: the "
                                   "model's default"}
TOKENS = {"type": "integer", "minimum": 1, "maximum": 200000}
ORG_ID = {"type": "string", "description": "an organization of the caller (else 404)"}
VERIFIED = {"type": "boolean", "description": "whether a link sent to the address was opened (accounts made "
                                              "before verification existed start unverified)"}

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
KEY_ERRORS = {
    403: "The API key lacks the route's scope, or the caller's role does not allow this (`forbidden`)",
    429: "The API key's requests-per-minute limit (`rate_limited`), with `retry-after`",
}
FEATURE_403 = "The organization has switched this feature off (`feature_disabled`), or the caller's role does not allow this (`forbidden`)"


def problem(status, text=None):
    return {"description": text or PROBLEMS[status],
            "content": {"application/problem+json": {"schema": ref("Problem")}}}


def feature_off(flag, also_forbidden=False):
    """The 403 of a route gated by an org feature flag (and, where it has one, by a role)."""
    text = f"The organization has `features.{flag}` set to false (`feature_disabled`)"
    if also_forbidden:
        text = "The caller's role does not allow this (`forbidden`), or " + text[0].lower() + text[1:]
    return {"403": problem(403, text)}


def json_response(schema, text="OK"):
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def op(summary, tag, ok=None, body=None, errors=(), public=False, keys=False, params=(), status=200,
       description=None, ok_text="OK", extra_responses=None, body_required=True, texts=None):
    """One operation. Statuses: `errors`, plus 401 unless public, 400/413/415 with a body, and
    403/429 where an API key is accepted (scopes and the key's rate limit)."""
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
        o["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
        if not body_required:
            o["requestBody"]["description"] = "Optional: a request without a body (and no content-type) is the empty object."
    if status == 204:
        o["responses"]["204"] = {"description": ok_text if ok_text != "OK" else "Done"}
    else:
        o["responses"][str(status)] = json_response(ok, ok_text) if ok is not None else {"description": ok_text}
    codes = set(errors)
    if not public:
        codes.add(401)
    if body is not None:
        codes.update({400, 413, 415})
    texts = dict(texts or {})
    if keys:
        codes.update({403, 429})
        for code, text in KEY_ERRORS.items():
            texts.setdefault(code, text)
    for code in sorted(codes):
        o["responses"][str(code)] = problem(code, texts.get(code))
    if extra_responses:
        o["responses"].update(extra_responses)
    return o


def path_param(name, text, schema=None):
    return {"name": name, "in": "path", "required": True, "schema": schema or S, "description": text}


def query(name, schema, text):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "page size")
# Cursors are what `next_cursor` said: base64url (no padding) of `<sort key>|<id>`.
CURSOR = query("cursor", {"type": "string", "format": "cursor"},
               "`next_cursor` of the previous page, as it was: base64url of `<sort key>|<id>` "
               "(another value is 400)")
CONV = path_param("id", "conversation id")
# A conversation's model settings (null: the provider's default).
CONV_SETTINGS = {
    "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2,
                    "description": "sent with each reply; checked for the model's provider (Anthropic: at most 1)"},
    "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": 200000,
                   "description": "the most output tokens of a reply (a send's own `max_tokens` wins)"},
    "reasoning_effort": {"enum": ["low", "medium", "high", None],
                         "description": "the reasoning asked of each reply (a send's own wins)"},
}
PRESET_NAME = {"type": "string", "minLength": 1, "maxLength": 100}
CONV_SETTINGS_DOC = ("`temperature`, `max_tokens` and `reasoning_effort` are the conversation's model settings, "
                     "sent with each reply; absent leaves one as it is, null clears it. They are checked in range "
                     "and for the model's provider, against the model the conversation has after the change: "
                     "400 naming the field that does not fit (and nothing changes).")

# --- Server-Sent Events: the reply stream of a conversation ---------------------------------
# OpenAPI 3.1 has no keyword for the items of a stream: the `text/event-stream` schema here
# describes each event (`event`, `id`, `data`), as OpenAPI 3.2's `itemSchema` does, with the
# JSON of the `data:` line given by `contentMediaType` and `contentSchema`.


def json_text(schema):
    """A string holding JSON that `schema` describes (an event's `data:` line)."""
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


def sse_event(name, data, text):
    return obj({"event": {"const": name}, "id": {"type": "string", "pattern": "^[0-9]+$"}, "data": json_text(data)},
               ["event", "id", "data"], description=text)


SSE = {
    "description": (
        "`text/event-stream`. Events, each with an `id:` usable as `Last-Event-ID`: `message.created` "
        "(id 0; `{user_message, assistant_message_id}`), `reasoning` (`{text}`, when the model streams its "
        "reasoning) and `delta` (`{text}`), each with id = byte length of the reply so far (reasoning and "
        "text, in the order they came), then `message.completed` (`{message, usage}`; also when aborted, with status `aborted`) "
        "or `error` (`{code, message}`; the message is left `failed` with its partial text); the final "
        "event's id is the reply's byte length + 1. After the first complete reply of a conversation nobody "
        "has named, `title` (`{title}`, id: the final event's + 1) follows once the title is generated and "
        "saved, then the stream ends; it is not replayed on resume (the title is the conversation's). "
        "The schema describes one event."
    ),
    "content": {"text/event-stream": {"schema": {"oneOf": [
        ref("SseMessageCreated"), ref("SseReasoning"), ref("SseDelta"), ref("SseMessageCompleted"),
        ref("SseError"), ref("SseTitle")]}}},
}

components = {
    "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An access token from register, login, refresh or embed exchange: "
                                  "an ES256 JWT whose header's `kid` names a key of "
                                  "GET /.well-known/jwks.json (any other algorithm is 401); "
                                  "it lives 15 minutes."},
        "apiKey": {"type": "http", "scheme": "bearer",
                   "description": "An issued API key (`cg_…`), on the routes that accept one."},
    },
    "schemas": {
        "Problem": obj({"type": S, "title": S, "status": INT, "detail": S, "code": S,
                        "param": {"type": "string", "description": "the parameter a validation failure "
                                                                   "is about, when it is about one"}},
                       ["type", "title", "status", "detail", "code"], extra=True,
                       description="RFC 9457 problem details; `code` is stable snake_case."),
        "User": obj({"id": ID, "email": S, "name": S, "created_at": TIME, "email_verified": VERIFIED},
                    ["id", "email", "name", "created_at", "email_verified"]),
        "Tokens": obj({
            "user": ref("User"),
            "access_token": S,
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "description": "seconds (900)"},
            "refresh_token": {"type": "string", "description": "only with `refresh_token_in: \"body\"`"},
        }, ["access_token", "token_type", "expires_in"],
            description="`user` on register, login and embed exchange; not on refresh."),
        "OrgMembership": obj({"id": ID, "name": S, "role": ROLE}, ["id", "name", "role"]),
        "Me": obj({"id": ID, "email": S, "name": S, "created_at": TIME, "email_verified": VERIFIED,
                   "orgs": {"type": "array", "items": ref("OrgMembership")},
                   "service_admin": {"const": True,
                                     "description": "present (true) only for a service admin (ADMIN_EMAILS, "
                                                    "verified address), who may use /api/admin/*"}},
                  ["id", "email", "name", "created_at", "email_verified", "orgs"]),
        "Session": obj({"id": ID, "created_at": TIME, "last_used_at": TIME, "user_agent": S,
                        "ip": {"type": "string",
                               "description": "the client address: CF-Connecting-IP behind Cloudflare "
                                              "(TRUST_CF_CONNECTING_IP), else `unknown`"},
                        "current": {"type": "boolean"}},
                       ["id", "created_at", "last_used_at", "user_agent", "ip", "current"]),
        "Conversation": obj({"id": ID, "org_id": ID, "title": S, "model": S, "system_prompt": S,
                             "created_at": TIME, "last_activity_at": TIME,
                             "title_source": {"enum": ["default", "generated", "user"],
                                              "description": "who named it: nobody yet (a title is generated "
                                                             "after its first complete reply), the title model, "
                                                             "or the user (a title given at creation or by "
                                                             "PATCH, never overwritten)"},
                             **CONV_SETTINGS},
                            ["id", "org_id", "title", "model", "system_prompt", "created_at", "last_activity_at",
                             "title_source", "temperature", "max_tokens", "reasoning_effort"]),
        "Usage": obj({"prompt_tokens": COUNT, "completion_tokens": COUNT,
                      "cached_prompt_tokens": {**COUNT, "description": "of the prompt, read from the provider's cache; "
                                                                       "present when not 0"},
                      "cache_write_tokens": {**COUNT, "description": "of the prompt, written to the provider's cache "
                                                                     "(Anthropic); present when not 0"},
                      "reasoning_tokens": {**COUNT, "description": "of the completion, spent reasoning; present when "
                                                                   "not 0"}},
                     ["prompt_tokens", "completion_tokens"],
                     description="Prompt tokens include cached ones, completion tokens reasoning ones."),
        "Attachment": obj({"type": {"enum": ["image", "document", "text"]}, "media_type": S, "size": COUNT,
                           "file_id": {**ID, "description": "an uploaded file's id (its bytes: `GET /api/files/{id}`)"},
                           "name": {**S, "description": "an uploaded file's name"}},
                          ["type", "media_type", "size"],
                          description="An attachment of a user message; `size` in bytes. An inline image "
                                      "(`type` image, no `file_id`): its bytes at "
                                      "`GET /api/conversations/{id}/messages/{message_id}/attachments/{index}`. "
                                      "An uploaded file (with `file_id` and `name`): `image`, `document` (PDF) "
                                      "or `text`."),
        "File": obj({"id": ID, "name": S,
                     "media_type": {"enum": ["image/png", "image/jpeg", "image/gif", "image/webp",
                                             "application/pdf", "text/plain"],
                                    "description": "read from the bytes, whatever the upload's content-type"},
                     "size": COUNT},
                    ["id", "name", "media_type", "size"], description="An uploaded file; `size` in bytes."),
        "Message": obj({
            "id": ID, "seq": INT, "role": {"enum": ["user", "assistant"]}, "content": S,
            "attachments": {"type": "array", "items": ref("Attachment"),
                            "description": "the images sent with a user message, in order (else empty)"},
            "reasoning": {"type": ["string", "null"],
                          "description": "the reasoning an assistant reply streamed, as text (null without); "
                                         "its signatures stay on the server"},
            "model": NULLABLE_S,
            "status": {"enum": ["complete", "streaming", "aborted", "failed"]},
            "usage": {"oneOf": [ref("Usage"), {"type": "null"}]}, "created_at": TIME,
            "parent_id": {"type": ["string", "null"],
                          "description": "the message this one follows in the conversation's tree (null: a first "
                                         "message)"},
            "sibling_count": {"type": "integer", "minimum": 1,
                              "description": "how many messages share this one's parent, itself included (more "
                                             "than 1: it was edited or regenerated)"},
            "sibling_index": {"type": "integer", "minimum": 0,
                              "description": "its place among those siblings in order of creation, from 0"},
            "previous_sibling_id": {"type": ["string", "null"],
                                    "description": "the sibling just before it (null: none), to switch to with "
                                                   "`PUT …/leaf`"},
            "next_sibling_id": {"type": ["string", "null"], "description": "the sibling just after it (null: none)"},
        }, ["id", "seq", "role", "content", "attachments", "reasoning", "model", "status", "usage", "created_at",
            "parent_id", "sibling_count", "sibling_index", "previous_sibling_id", "next_sibling_id"]),
        "Preset": obj({"id": ID, "org_id": {"type": ["string", "null"],
                                            "description": "the organization that shares it; null: the caller's own"},
                       "name": S, "model": S, "system_prompt": S, **CONV_SETTINGS, "created_at": TIME},
                      ["id", "org_id", "name", "model", "system_prompt", "temperature", "max_tokens",
                       "reasoning_effort", "created_at"]),
        "SseMessageCreated": sse_event("message.created", obj(
            {"user_message": ref("Message"), "assistant_message_id": ID}, ["user_message", "assistant_message_id"]),
            "First event of a send (id 0): the stored user message and the id of the reply."),
        "SseDelta": sse_event("delta", obj({"text": S}, ["text"]),
                              "Text appended to the reply; the id is the reply's byte length with it."),
        "SseReasoning": sse_event("reasoning", obj({"text": S}, ["text"]),
                                  "Reasoning text the model streamed (before or between `delta`s); the id is "
                                  "the reply's byte length with it."),
        "SseMessageCompleted": sse_event("message.completed", obj(
            {"message": {"oneOf": [ref("Message"), {"type": "null"}]},
             "usage": {"oneOf": [ref("Usage"), {"type": "null"}]}}, ["message", "usage"]),
            "The reply ended (status `complete` or `aborted`); the id is its byte length + 1."),
        "SseTitle": sse_event("title", obj({"title": S}, ["title"]),
                              "The title generated for the conversation after its first reply (now its "
                              "`title`, with `title_source` `generated`)."),
        "SseError": sse_event("error", obj({"code": {"const": "upstream_error"}, "message": S}, ["code", "message"]),
                              "The provider failed mid-reply; the message is kept as `failed`."),
    },
}

AUTH_BODY_NOTE = "Bodies on this route are limited to 16 KiB."
REDIRECT = {"description": "A redirect (`location`); no body",
            "headers": {"location": {"schema": {"type": "string"}, "description": "where the browser goes"}}}
PROVIDER_ID = path_param("provider", "a sign-in provider's id (GET /api/auth/providers)")
TOKENS_JSON = ref("Tokens")

paths = {
    "/health": {"get": op("Health of the service and its storage", "service", public=True,
                          ok=obj({"status": {"const": "ok"}, "checks": obj({"d1": S, "kv": S})}, ["status", "checks"]),
                          extra_responses={"503": problem(503, "D1 or KV failing; `checks` names which")})},
    "/api": {"get": op("Service name and version", "service", public=True,
                       ok=obj({"name": S, "version": S, "openapi": S}, ["name", "version", "openapi"]))},
    "/openapi.json": {"get": op("This document", "service", public=True, ok={"type": "object"})},
    "/.well-known/jwks.json": {"get": op(
        "chatgate's public signing keys (JWKS)", "service", public=True,
        ok=obj({"keys": {"type": "array", "items": obj(
            {"kty": {"const": "EC"}, "crv": {"const": "P-256"}, "x": S, "y": S, "kid": S,
             "alg": {"const": "ES256"}, "use": {"const": "sig"}},
            ["kty", "crv", "x", "y", "kid", "alg", "use"])}}, ["keys"]),
        description="The keys that verify chatgate's access tokens (ES256; a token's `kid` names its key): "
                    "the signing key, the previous one until every token it signed has expired, and the "
                    "next one from an hour before it signs. `Cache-Control: public, max-age=600`. "
                    "A new key is published every 30 days.")},
    "/api/auth/register": {"post": op(
        "Create an account (and its personal organization) and a session", "auth", public=True, status=201,
        ok=TOKENS_JSON, errors=(403, 409, 429),
        ok_text="Created; the refresh token is set as a cookie unless asked in the body",
        texts={429: "Too many registrations from this client address (`rate_limited`), with `retry-after`",
               403: "The registration policy does not admit this address (`registration_closed`, saying why): "
                    "`ALLOW_REGISTRATION` closed, invite-only without a pending invitation for it, or a domain "
                    "outside `REGISTRATION_DOMAINS` (see GET /api/auth/policy)"},
        description="Passwords: 8 to 256 characters, not among the 10,000 most common. The email is shown as "
                    "typed and compared by its key (Unicode NFKC, lower-case, the domain in ASCII through IDNA): "
                    "another spelling of a registered address is 409. The new account is unverified "
                    "(`email_verified: false`) and a verification link is mailed to it (valid 24 h). At most "
                    "`REGISTRATIONS_PER_ADDRESS_PER_HOUR` attempts per client address, counted before any work: "
                    "429 with `retry-after` past it. " + AUTH_BODY_NOTE,
        body=obj({"email": EMAIL, "password": PASSWORD, "name": NAME, "refresh_token_in": DELIVERY},
                 ["email", "password", "name"]))},
    "/api/auth/login": {"post": op(
        "Log in with email and password", "auth", public=True, ok=TOKENS_JSON, errors=(401, 429),
        texts={401: "Unknown email, malformed email or wrong password: one answer (`invalid_credentials`)"},
        description="Unknown email and wrong password give the same 401 `invalid_credentials`. Every attempt is "
                    "counted, before the password is checked, against the account and the client address (a "
                    "success takes it back): past the limits, 429 with `retry-after`, even for the right "
                    "password. " + AUTH_BODY_NOTE,
        body=obj({"email": S, "password": S, "refresh_token_in": DELIVERY}, ["email", "password"]))},
    "/api/auth/refresh": {"post": op(
        "Exchange a refresh token for new tokens (rotation)", "auth", public=True, ok=TOKENS_JSON,
        errors=(401, 403), body_required=False,
        texts={401: "No refresh token, an unknown or expired one, or one rotated more than 10 seconds ago "
                    "(whose session is then revoked) (`unauthorized`)",
               403: "A cookie request with a foreign `Origin` (`forbidden`)"},
        description="The token comes from the body or else the cookie. A token presented in the body is returned "
                    "in the body unless `refresh_token_in` says otherwise. A token has exactly one successor: "
                    "presenting it again up to 10 seconds after its rotation (two tabs at once, a retried "
                    "request) returns that same pair; presenting it later is 401 and revokes its session "
                    "(reuse detection). Cookie requests with a foreign `Origin` are 403. "
                    "The body is optional. " + AUTH_BODY_NOTE,
        body=obj({"refresh_token": NULLABLE_S, "refresh_token_in": nullable(DELIVERY)}))},
    "/api/auth/logout": {"post": op(
        "Revoke the current session", "auth", public=True, status=204, errors=(401, 403), body_required=False,
        texts={401: "No valid bearer token and no valid refresh token (`unauthorized`, `token_expired`)",
               403: "A cookie request with a foreign `Origin` (`forbidden`)"},
        description="The session of the bearer access token, or else of the refresh token (body or cookie); "
                    "its refresh token and access tokens stop working at once. The body is optional "
                    "(`refresh_token_in` is accepted and has no effect here). " + AUTH_BODY_NOTE,
        body=obj({"refresh_token": NULLABLE_S, "refresh_token_in": nullable(DELIVERY)}))},
    "/api/auth/logout-all": {"post": op("Revoke every session of the user", "auth", status=204)},
    "/api/me": {
        "get": op("The current user with their organizations", "me", ok=ref("Me")),
        "patch": op("Rename the current user", "me", ok=ref("Me"), body=obj({"name": NAME}, ["name"]),
                    description="Any other field is 400. " + AUTH_BODY_NOTE),
        "delete": op("Delete the account and everything it owns", "me", status=204, errors=(403, 429),
                     body=obj({"password": nullable(S)}),
                     texts={401: "Not authenticated, or a wrong or missing password for an account that has "
                                 "one (`invalid_credentials`)",
                            403: "An account without a password whose session was signed in more than 10 "
                                 "minutes ago (`forbidden`): sign in again with the provider",
                            429: "Too many wrong passwords for this account (`rate_limited`), with `retry-after`"},
                     description="Removes sessions, keys, conversations and memberships, and the organizations "
                                 "where the user was the only owner. A wrong password is 401 `invalid_credentials`. "
                                 "An account made through a sign-in provider has no password: it sends `{}` and "
                                 "confirms with a session signed in within the last 10 minutes instead. "
                                 + AUTH_BODY_NOTE),
    },
    "/api/me/password": {"post": op(
        "Change the password; every other session is revoked", "me", status=204, errors=(409, 429),
        texts={401: "Not authenticated, or a wrong current password (`invalid_credentials`)",
               409: "The account has no password: it signs in with a provider (`conflict`); "
                    "POST /api/auth/forgot-password mails a link that sets one",
               429: "Too many wrong passwords for this account (`rate_limited`), with `retry-after`"},
        description="A wrong `current_password` is 401 `invalid_credentials` (checked before `new_password`). "
                    + AUTH_BODY_NOTE,
        body=obj({"current_password": S, "new_password": PASSWORD}, ["current_password", "new_password"]))},
    "/api/sessions": {"get": op("The user's live sessions, most recently used first", "me",
                                ok=page(ref("Session")))},
    "/api/sessions/{id}": {"delete": op("Revoke one of the user's sessions", "me", status=204, errors=(404,),
                                        params=(path_param("id", "session id"),))},
    "/api/presets": {
        "get": op("The caller's presets, and an organization's shared ones", "conversations",
                  ok=page(ref("Preset")), errors=(404,),
                  description="The caller's own presets, then (with `org_id`) that organization's shared ones, "
                              "oldest first, all in one page (`next_cursor` null).",
                  params=(query("org_id", S, "also this organization's shared presets (not a member: 404)"),)),
        "post": op("Save a preset", "conversations", status=201, ok=ref("Preset"), errors=(403, 404, 409),
                   description="A model with a system prompt and model settings. With `org_id`: shared in that "
                               "organization (admins and owners; a member is 403, anyone else 404), and its model "
                               "must be enabled there. The settings are checked as a conversation's are, for the "
                               "model's provider (400 naming the field). At most 100 presets per user and per "
                               "organization (409).",
                   body=obj({"name": PRESET_NAME, "model": MODEL, "system_prompt": nullable(SYSTEM_PROMPT),
                             "org_id": nullable(ORG_ID), **CONV_SETTINGS}, ["name", "model"])),
    },
    "/api/presets/{id}": {
        "patch": op("Change a preset", "conversations", ok=ref("Preset"), errors=(403, 404),
                    params=(path_param("id", "preset id"),),
                    description="The owner's own, or an organization's by its admins and owners (a member: 403; "
                                "anyone else: 404). Absent fields stay; null clears a setting; the owner cannot "
                                "change (`org_id`: 400).",
                    body=obj({"name": nullable(PRESET_NAME), "model": nullable(MODEL),
                              "system_prompt": nullable(SYSTEM_PROMPT), **CONV_SETTINGS})),
        "delete": op("Delete a preset", "conversations", status=204, errors=(403, 404),
                     params=(path_param("id", "preset id"),)),
    },
    "/api/conversations": {
        "post": op("Start a conversation", "conversations", status=201, ok=ref("Conversation"), keys=True,
                   errors=(404,), body_required=False,
                   description="`org_id` defaults to the caller's personal organization (an API key: its own); "
                               "`model` defaults to `demo/echo` (or the organization's first enabled model) and "
                               "must be enabled in the organization. The body is optional.",
                   body=obj({"org_id": nullable(ORG_ID), "title": nullable(TITLE), "model": nullable(MODEL),
                             "system_prompt": nullable(SYSTEM_PROMPT), **CONV_SETTINGS})),
        "get": op("The caller's conversations, newest activity first", "conversations", keys=True,
                  ok=page(ref("Conversation")), errors=(400, 404),
                  description="Only those in organizations the caller still belongs to: a former member's "
                              "conversations are hidden (not deleted), and their routes are 404. `org_id` of an "
                              "organization the caller is not in: 404.",
                  params=(query("org_id", S, "only this organization's (an API key: only its own, else 404)"),
                          LIMIT, CURSOR)),
    },
    "/api/conversations/{id}": {
        "get": op("One conversation", "conversations", ok=ref("Conversation"), keys=True, errors=(404,), params=(CONV,)),
        "patch": op("Rename it, change its model or system prompt", "conversations", ok=ref("Conversation"),
                    keys=True, errors=(404,), params=(CONV,),
                    description=CONV_SETTINGS_DOC,
                    body=obj({"title": nullable(TITLE), "model": nullable(MODEL),
                              "system_prompt": nullable(SYSTEM_PROMPT), **CONV_SETTINGS})),
        "delete": op("Delete it with its messages", "conversations", status=204, keys=True, errors=(404,),
                     params=(CONV,)),
    },
    "/api/conversations/{id}/messages": {
        "get": op("The current branch's messages, newest first", "conversations", ok=page(ref("Message")),
                  keys=True, errors=(400, 404), params=(CONV, LIMIT, CURSOR),
                  description="Messages form a tree (edits and regenerations are siblings); this pages along the "
                              "current branch, from its leaf up to its first message. `sibling_count` and "
                              "`sibling_index` say where each message sits among its siblings."),
        "post": op("Send a message; the reply streams back", "conversations", keys=True,
                   errors=(404, 409, 429, 502, 503), params=(CONV,),
                   texts={429: "The key's rate limit or the organization's monthly token budget "
                               "(`rate_limited`, `budget_exceeded`), or the provider's (`upstream_error`), "
                               "with `retry-after`",
                          403: "The API key lacks the `conversations` scope (`forbidden`), or, with "
                               "`REQUIRE_VERIFIED_EMAIL`, the user's address is not verified (`email_unverified`)",
                          400: "Invalid request (`validation_failed`, with `param`: e.g. `content`, "
                               "`attachments[0].media_type`, `reasoning_effort`), a model not enabled in the "
                               "organization, a provider that refused the request (`upstream_error`), or no key "
                               "for the provider (`no_provider_key`)",
                          413: "The body is over 17 MiB (`payload_too_large`)"},
                   description="One reply per conversation at a time (409 while one streams). The organization's "
                               "custom instructions, the system prompt and the history go upstream. A provider that "
                               "fails before the first token is an HTTP error (`upstream_error`, with the provider's "
                               "status mapped: 400 for a refused request or key, 429 rate limited, 502 otherwise) and "
                               "nothing is stored. A reply aborted, or whose conversation is deleted, before its first "
                               "token is 409 `conflict`, and nothing is stored. 400 `no_provider_key` when no key is "
                               "configured for the provider. With a monthly budget the reply's completion cap is its "
                               "`max_tokens` (or 4096) cut to what the month has left after the prompt; 429 "
                               "`budget_exceeded` when that leaves less than 16 tokens (or the `max_tokens` asked for). "
                               "Access tokens: 429 `rate_limited` past the per-user rate (`USER_RATE_LIMIT_RPM`). "
                               "`attachments`: at most 4 images of at most 3 MiB each (4 MiB as base64: every "
                               "provider's per-image limit), sent as base64 with the message, kept with it and sent "
                               "again with the history; `content` may then be empty. A model that cannot take "
                               "images is refused by its provider, naming `attachments[i]`. The body may be up to "
                               "17 MiB on this route. `reasoning_effort` asks the model to reason; what it streams "
                               "of its reasoning comes as `reasoning` events and is kept as the reply's `reasoning`. "
                               "An `attachments` item may instead be the id of a file the caller uploaded "
                               "(`POST /api/files`) in the conversation's organization: an image or a PDF goes to the "
                               "model as an image or document part (OpenAI `file`, Anthropic `document`, Gemini "
                               "`inlineData`), a text file as text (its first 100,000 characters); it stays in R2 and "
                               "is read again for the history. A file goes with the first conversation it is sent in "
                               "(another is 400, naming `attachments[i]`); 403 `feature_disabled` when the "
                               "organization has `features.file_upload` false. "
                               "`parent_id` places the new message in the conversation's tree: absent, under the "
                               "current leaf; the id of an assistant reply, under that reply (an edit: a sibling of "
                               "the user message that followed it); null, a new first message (an edit of the "
                               "first). 400 (`param` `parent_id`) for an id that is no message of the conversation "
                               "or a user message. The new reply becomes the current leaf, and the history sent "
                               "upstream is its branch.",
                   body=obj({"content": {"anyOf": [CONTENT, {"const": ""}],
                                         "description": "the message: 1 to 100,000 characters, not only "
                                                        "whitespace; empty or blank only with `attachments`"},
                             "model": nullable(MODEL), "max_tokens": nullable(TOKENS),
                             "attachments": {"type": ["array", "null"], "maxItems": 14,
                                             "items": {"anyOf": [
                                                 {**ID, "description": "an uploaded file's id (POST /api/files)"},
                                                 ATTACHMENT_IN]},
                                             "description": "at most 4 inline images and 10 uploaded files"},
                             "reasoning_effort": REASONING_EFFORT,
                             "parent_id": {"type": ["string", "null"],
                                           "description": "the assistant reply the message follows (null: a new "
                                                          "first message); absent: the current leaf"}},
                            ["content"]),
                   extra_responses={"200": SSE}),
    },
    "/api/conversations/{id}/messages/{message_id}/regenerate": {"post": op(
        "Regenerate a reply: a new sibling of it streams back", "conversations", keys=True,
        errors=(404, 409, 429, 502, 503), params=(CONV, path_param("message_id", "the assistant reply")),
        body_required=False, body=obj({"model": nullable(MODEL)}),
        texts={400: "`message_id` is a user message, `model` is not enabled, or the provider refused "
                    "(`validation_failed`, `upstream_error`, `no_provider_key`)",
               404: "No such conversation of the caller, or no such message in it (`not_found`)"},
        description="Answers the user message that reply answered again, with its branch as history, as a new "
                    "reply beside it (with `model`, or the conversation's). The same stream, errors and limits "
                    "as sending (`message.created` names the existing user message); the new reply becomes the "
                    "current leaf. One reply at a time (409).",
        extra_responses={"200": SSE})},
    "/api/conversations/{id}/leaf": {"put": op(
        "Switch the current branch", "conversations", keys=True, errors=(404, 409), params=(CONV,),
        ok=obj({"leaf_id": ID}, ["leaf_id"]),
        body=obj({"message_id": ID}, ["message_id"]),
        texts={400: "`message_id` is no message of the conversation (`validation_failed`, `param` `message_id`)",
               409: "A reply is streaming (`conflict`)"},
        description="The branch through `message_id` becomes the current one: the leaf is the end reached from "
                    "it by always following the newest reply or edit (so switching to a sibling shows what "
                    "followed it), given back as `leaf_id`. `GET …/messages` then pages along it, and the next "
                    "send without `parent_id` continues it.")},
    "/api/conversations/{id}/messages/{message_id}/stream": {"get": op(
        "Replay a reply after Last-Event-ID, then follow it live", "conversations", keys=True,
        errors=(400, 404), extra_responses={"200": SSE},
        texts={400: "`Last-Event-ID` is not an event id of this reply (`validation_failed`)"},
        params=(CONV, path_param("message_id", "the assistant message"),
                {"name": "Last-Event-ID", "in": "header", "required": False,
                 "schema": {"type": "string", "pattern": "^[0-9]{0,9}$"},
                 "description": "the id of the last event received; absent or empty: from the start. An id "
                                "past the reply's end, or inside a character, is 400"}))},
    "/api/conversations/{id}/messages/{message_id}/attachments/{index}": {"get": op(
        "An image sent with a message", "conversations", keys=True, errors=(404,),
        ok_text="The image's bytes, with its media type (`cache-control: private`)",
        extra_responses={"200": {
            "description": "The image's bytes, with its media type (`cache-control: private`)",
            "content": {t: {"schema": {"type": "string", "contentMediaType": t}} for t in IMAGE_TYPE["enum"]}}},
        texts={404: "No such conversation of the caller, message, or attachment (`not_found`)"},
        params=(CONV, path_param("message_id", "the user message"),
                path_param("index", "the attachment's position in the message's `attachments`, from 0",
                           {"type": "integer", "minimum": 0})))},
    "/api/conversations/{id}/abort": {"post": op(
        "Stop the reply in progress, keeping its text as `aborted`", "conversations", status=204, keys=True,
        errors=(404,), params=(CONV,))},
}

# --- Files for chat (src/routes/files.rs): bytes in R2 ------------------------------------------
FILE_ID = path_param("id", "file id")
FILE_READERS = ("the file's owner, and whoever can read a conversation it was sent in; anyone else: 404 "
                "(`not_found`)")
_upload = op(
    "Upload a file for chat", "files", ok=ref("File"), status=201, keys=True, errors=(400, 403, 404, 413, 415),
    params=(query("name", {"type": "string", "maxLength": 255},
                  "the file's name (no control characters or slashes); default `file`"),
            query("org_id", ID, "the organization it is for (default: the caller's personal one; an API "
                               "key: its own)")),
    description="The body is the file's bytes (any `content-type`: the type is read from the bytes), with a "
                "`content-length`. Taken: PNG, JPEG, GIF, WebP, PDF, and UTF-8 text without NUL bytes (code, "
                "Markdown, CSV…); anything else is 415. Streamed into R2. At most `FILE_MAX_BYTES` per file "
                "(413 `payload_too_large`) and `ORG_FILE_QUOTA_BYTES` for all of an organization's files (413 "
                "`quota_exceeded`, exact under concurrent uploads). 403 `feature_disabled` when the organization "
                "has `features.file_upload` false.",
    texts={400: "No `content-length`, an empty file, a bad `name`, or a body that does not match its "
                "`content-length` (`validation_failed`)",
           413: "Over `FILE_MAX_BYTES` (`payload_too_large`) or the organization's quota (`quota_exceeded`)",
           415: "Not an image, a PDF or UTF-8 text (`unsupported_media_type`)",
           404: "No such organization of the caller (`not_found`)"})
# Any bytes under any content type are a body to judge: the type is sniffed from them, never
# taken from the header, so the schema says nothing a request could break.
_upload["requestBody"] = {"required": True, "content": {"*/*": {"schema": {
    "description": "the file's bytes, under any content type (the type is sniffed from the bytes)"}}}}
paths["/api/files"] = {"post": _upload}
paths["/api/files/{id}"] = {
    "get": op("A file's bytes", "files", keys=True, errors=(404,), params=(FILE_ID,),
              description="For " + FILE_READERS + ". Served with its media type (text as "
                          "`text/plain; charset=utf-8`), `content-disposition: attachment`, "
                          "`x-content-type-options: nosniff` and `content-security-policy: default-src 'none'; "
                          "sandbox`.",
              extra_responses={"200": {"description": "The file's bytes", "content": {"*/*": {"schema": {
                  "type": "string", "contentMediaType": "application/octet-stream"}}}}}),
    "delete": op("Delete a file (its owner)", "files", status=204, keys=True, errors=(404,), params=(FILE_ID,),
                 description="Its bytes go from R2. Only its owner; anyone else: 404."),
}

ORG = path_param("org", "organization id")
SETTINGS_DOC = ("`settings` replaces the whole settings object (fields left out return to their defaults): "
                "`enabled_models` (`provider/model` names; empty = every configured model), "
                "`monthly_token_limit` (positive integer or null), `custom_instructions` (up to 8,000 "
                "characters), `features` (known boolean flags: embed, webhooks, livekit, byok, file_upload), "
                "`rate_limit_rpm` (requests per minute per API key, 1-100000, or null for the default), "
                "`require_2fa` (members need two-factor authentication on to act in the organization; "
                "setting it true needs it on the caller's own account, else 403 `mfa_required`), "
                "`conversation_retention_days` (1-3650, or null to keep conversations: the scheduled upkeep "
                "deletes the organization's conversations, messages and all, whose last activity is older), "
                "`title_model` (the `provider/model` that names conversations after their first reply, one "
                "of `enabled_models`; absent: each conversation's own model). "
                "Each feature flag gates what it names; an absent flag is on, and `false` makes its routes "
                "answer 403 `feature_disabled`: `embed` the embed tickets and their exchange, `webhooks` the "
                "org's webhook routes and deliveries, `livekit` the LiveKit tokens for its rooms, `byok` "
                "bring-your-own provider keys (the members' own and the organization's) for its conversations "
                "and /v1 requests, which the service's keys then serve, `file_upload` uploading files "
                "(`POST /api/files`) and sending them with messages. "
                "`rate_limit_rpm` and `monthly_token_limit` may only lower the service's own limits "
                "(`API_KEY_RATE_LIMIT_RPM`, `DEFAULT_MONTHLY_TOKEN_LIMIT`): a value above them is 400; "
                "a null `monthly_token_limit` means the service's default budget, if any. "
                "`sso` (`{provider, required}`): members must sign in through the organization's provider "
                "(see the `sso` schema); setting `required` from a session not signed in through it is 409.")
FEATURES = {"embed": {"type": "boolean"}, "webhooks": {"type": "boolean"}, "livekit": {"type": "boolean"},
            "byok": {"type": "boolean"}, "file_upload": {"type": "boolean"}}
SETTINGS_FIELDS = {
    "enabled_models": {"type": "array", "items": MODEL, "maxItems": 100},
    "monthly_token_limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 1_000_000_000_000},
    "custom_instructions": {"type": "string", "maxLength": 8000},
    "features": obj(FEATURES, description="absent flags are on"),
    "rate_limit_rpm": {"type": ["integer", "null"], "minimum": 1, "maximum": 100000},
    "sso": nullable(obj({"provider": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,31}$",
                             "description": "a sign-in provider of this server (GET /api/auth/providers), else 400"},
                "required": {"type": "boolean", "default": False}}, ["provider"])) | dict(
               description="The organization's own sign-in provider. With `required`, members reach the "
                           "organization only from a session signed in through it; others get 403 "
                           "`sso_required`. Requiring it takes a session signed in through it (else 409). "
                           "Null or absent: none."),
    "require_2fa": {"type": "boolean", "default": False,
                    "description": "members act in the organization only with two-factor authentication on "
                                   "(403 `mfa_required` otherwise); setting it needs 2FA on the caller's account"},
    "conversation_retention_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650,
                                    "description": "conversations whose last activity is older than this many "
                                                   "days are deleted with their messages by the scheduled upkeep "
                                                   "(every 15 minutes, up to 25 a run); null keeps them"},
    "title_model": nullable(MODEL) | {"description": "names conversations after their first reply (billed as any call); "
                                           "must be enabled; absent: each conversation's own model"},
}
components["schemas"].update({
    "OrgSettings": obj(SETTINGS_FIELDS, [f for f in SETTINGS_FIELDS if f != "sso"],
                       description="As stored: every field present (`sso` only when set)."),
    "OrgSettingsInput": obj(SETTINGS_FIELDS, description="Every field optional; left out means its default."),
    "Org": obj({"id": ID, "name": S, "settings": ref("OrgSettings"), "role": ROLE}, ["id", "name", "settings", "role"]),
    "Member": obj({"user_id": ID, "email": S, "name": S, "role": ROLE, "joined_at": TIME},
                  ["user_id", "email", "name", "role", "joined_at"]),
    "Invitation": obj({"id": ID, "email": S, "role": ROLE, "invited_by": NULLABLE_S,
                       "created_at": TIME, "expires_at": TIME},
                      ["id", "email", "role", "invited_by", "created_at", "expires_at"]),
    "ApiKey": obj({"id": ID, "name": S, "prefix": S, "org_id": ID, "user_id": ID, "created_at": TIME,
                   "expires_at": NULLABLE_TIME, "last_used_at": NULLABLE_TIME,
                   "scopes": {"type": "array", "items": {"enum": ["chat", "conversations"]}}},
                  ["id", "name", "prefix", "org_id", "created_at", "expires_at", "last_used_at", "scopes"],
                  description="Never the key itself. `user_id` appears in the org listing."),
    "ProviderKey": obj({"provider": PROVIDER, "scope": {"enum": ["user", "org"]},
                        "org_id": ID, "masked": S, "updated_at": TIME}, ["provider", "scope", "masked", "updated_at"],
                       description="`org_id` only for an organization's key."),
    "UsageRow": obj({"key": S, "requests": COUNT, "prompt_tokens": COUNT, "completion_tokens": COUNT,
                     "cost_micros": COUNT,
                     "voice_sessions": {**COUNT, "description": "LiveKit voice sessions that started in the "
                                                                "period and have ended"},
                     "voice_seconds": {**COUNT, "description": "their whole seconds"}},
                    ["key", "requests", "prompt_tokens", "completion_tokens", "cost_micros", "voice_sessions",
                     "voice_seconds"]),
})

ADMIN_403 = {403: "The caller is a member of the organization without the role (`forbidden`)"}
paths.update({
    "/api/orgs": {
        "post": op("Create an organization; the caller is its owner", "orgs", status=201, ok=ref("Org"),
                   errors=(409,),
                   description="409 `conflict` when the caller already owns `MAX_ORGS_PER_USER` (20) organizations "
                               "besides their personal one; checked atomically with the insert.",
                   body=obj({"name": NAME}, ["name"])),
        "get": op("The caller's organizations with their role", "orgs", ok=page(ref("OrgMembership")),
                  errors=(400,), params=(LIMIT, CURSOR)),
    },
    "/api/orgs/{org}": {
        "get": op("One organization", "orgs", ok=ref("Org"), errors=(404,), params=(ORG,)),
        "patch": op("Rename it or change its settings (admin+)", "orgs", ok=ref("Org"), errors=(403, 404, 409),
                    params=(ORG,), description=SETTINGS_DOC, texts=ADMIN_403,
                    body=obj({"name": nullable(NAME), "settings": nullable(ref("OrgSettingsInput"))})),
        "delete": op("Delete it and everything in it (owner)", "orgs", status=204, errors=(403, 404, 409),
                     params=(ORG,), description="A personal organization goes only with its account (409)."),
    },
    "/api/orgs/{org}/members": {"get": op("Members with their roles", "orgs", ok=page(ref("Member")),
                                          errors=(400, 404), params=(ORG, LIMIT, CURSOR))},
    "/api/orgs/{org}/members/{user}": {
        "patch": op("Change a member's role (admin+; owner to grant or remove owner)", "orgs", ok=ref("Member"),
                    errors=(403, 404, 409), params=(ORG, path_param("user", "user id")),
                    description="The last owner cannot be demoted (409).", body=obj({"role": ROLE}, ["role"])),
        "delete": op("Remove a member (admin+, or the member themself)", "orgs", status=204, errors=(403, 404, 409),
                     params=(ORG, path_param("user", "user id")),
                     description="The last owner cannot leave (409). The member's API keys in the org are deleted."),
    },
    "/api/orgs/{org}/invitations": {
        "post": op("Invite an email (admin+; only owners invite owners)", "orgs", status=201, errors=(403, 404, 409),
                   params=(ORG,), ok=obj({"id": ID, "token": S, "expires_at": TIME}, ["id", "token", "expires_at"]),
                   ok_text="Created; `token` is shown once (7 days, single use, bound to the email)",
                   description="`role` defaults to `member`. An earlier pending invitation of the same email is "
                               "revoked. 409 `conflict` when the email is a member already, or when the organization "
                               "has `MAX_PENDING_INVITATIONS_PER_ORG` (100) pending invitations (checked atomically "
                               "with the insert; a replacement does not count).",
                   body=obj({"email": EMAIL, "role": nullable(ROLE)}, ["email"])),
        "get": op("Pending invitations (admin+)", "orgs", ok=page(ref("Invitation")), errors=(400, 403, 404),
                  description="Those that can still be accepted: not used, revoked or expired, and whose inviter "
                              "could still send them.",
                  params=(ORG, LIMIT, CURSOR)),
    },
    "/api/orgs/{org}/invitations/{id}": {"delete": op(
        "Revoke a pending invitation (admin+)", "orgs", status=204, errors=(403, 404),
        params=(ORG, path_param("id", "invitation id")))},
    "/api/invitations/accept": {"post": op(
        "Join the invitation's organization", "orgs", errors=(403, 404, 409),
        ok=obj({"org": ref("OrgMembership")}, ["org"]),
        texts={403: "The caller's address is not verified (`email_unverified`)"},
        description="The caller's email must be the invited one; an unknown, used, revoked or expired token, or "
                    "another email, is 404. The caller's address must be verified (403 `email_unverified`). So is an invitation whose inviter can no longer grant its role (demoted "
                    "below it, or no longer a member): it keeps only the authority its inviter still has. 409 when "
                    "the caller is already a member.",
        body=obj({"token": S}, ["token"]))},
    "/api/orgs/{org}/keys": {"get": op("Every API key of the organization (admin+)", "keys",
                                       ok=page(ref("ApiKey")), errors=(400, 403, 404), params=(ORG, LIMIT, CURSOR))},
    "/api/keys": {
        "post": op("Issue an API key; the key is shown only in this response", "keys", status=201,
                   ok=obj({"id": ID, "name": S, "key": S, "prefix": S, "org_id": ID, "created_at": TIME,
                           "expires_at": NULLABLE_TIME, "scopes": {"type": "array", "items": {"enum": ["chat", "conversations"]}}},
                          ["id", "name", "key", "prefix", "org_id", "created_at", "expires_at", "scopes"]),
                   errors=(404, 409),
                   description="Format `cg_` + 40 base62 characters + a 6-character checksum. `scopes`: `chat` "
                               "(the /v1 API, the default) and `conversations` (/api/conversations). A key acts as "
                               "its creator in its organization and stops when the creator leaves it. `expires_at` "
                               "must be in the future (else 400). 409 `conflict` when the caller has "
                               "`MAX_API_KEYS_PER_USER_PER_ORG` (50) keys in the organization (expired ones count "
                               "until deleted); checked atomically with the insert.",
                   body=obj({"name": NAME, "org_id": ORG_ID, "expires_at": NULLABLE_TIME,
                             "scopes": nullable({"type": "array", "minItems": 1,
                                                 "items": {"enum": ["chat", "conversations"]}})},
                            ["name", "org_id"])),
        "get": op("The caller's API keys (never the secret)", "keys", ok=page(ref("ApiKey")), errors=(400,),
                  params=(LIMIT, CURSOR)),
    },
    "/api/keys/{id}": {"delete": op("Delete an API key; it stops working at once", "keys", status=204, errors=(404,),
                                    params=(path_param("id", "key id"),),
                                    description="The caller's own key, or any key of an org where they are admin+.")},
    "/api/provider-keys": {"get": op("Provider keys the caller can use, masked", "keys", ok=page(ref("ProviderKey")),
                                     errors=(400,), params=(LIMIT, CURSOR))},
    "/api/provider-keys/{provider}": {
        "put": op("Set a bring-your-own provider key (sealed with AES-256-GCM)", "keys", status=204,
                  errors=(403, 404), params=(path_param("provider", "openai, anthropic or gemini", PROVIDER),),
                  texts={403: FEATURE_403},
                  description="With `org_id` (admin+) the key serves the whole organization. A chat request uses "
                              "the user's key, then the org's, then the service's; in an organization with "
                              "`features.byok` false only the service's (and an org key cannot be set there: 403 "
                              "`feature_disabled`).",
                  extra_responses=feature_off("byok", also_forbidden=True),
                  body=obj({"api_key": PROVIDER_KEY, "org_id": nullable(ORG_ID)}, ["api_key"])),
        "delete": op("Remove a provider key", "keys", status=204, errors=(400, 403, 404), texts={403: FEATURE_403},
                     params=(path_param("provider", "openai, anthropic or gemini", PROVIDER),
                             query("org_id", S, "remove the organization's key instead of the caller's"))),
    },
    "/api/orgs/{org}/usage": {"get": op(
        "Usage of the organization (admin+)", "usage", ok=page(ref("UsageRow")), errors=(400, 403, 404),
        description="Every group in one page, ordered by key (`next_cursor` is always null). `from` must be "
                    "before `to` (else 400). Voice sessions (from LiveKit's webhooks) count by the day they "
                    "started and their user; grouped by model they are the key `livekit/voice`.",
        params=(ORG, query("from", {"anyOf": [{"type": "string", "format": "date"}, TIME]},
                           "YYYY-MM-DD or RFC 3339, inclusive (default: start of this month)"),
                query("to", {"anyOf": [{"type": "string", "format": "date"}, TIME]},
                      "YYYY-MM-DD or RFC 3339, exclusive (default: the start of next month)"),
                query("group_by", {"enum": ["day", "user", "model"], "default": "day"}, "row key")))},
})

# --- OpenAI-compatible API ---------------------------------------------------------------
OPENAI_ERROR = {"description": "OpenAI-shaped error `{\"error\": {\"message\", \"type\", \"code\", \"param\"}}`",
                "content": {"application/json": {"schema": ref("OpenAIError")}}}
TEXT_PART = obj({"type": {"const": "text"}, "text": S}, ["type", "text"])
TEXT_CONTENT = {"anyOf": [S, {"type": "array", "items": TEXT_PART}]}
BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
IMAGE_URL = {"type": "string", "maxLength": 8192,
             "pattern": rf"^(?:https?://\S+|data:image/[a-z0-9.+-]+;base64,{BASE64})$",
             "description": "an `https` URL (fetched by chatgate, under the outbound rule, for a provider "
                            "that cannot take URLs) or a base64 `data:` URL of an image"}
USER_PART = {"oneOf": [
    TEXT_PART,
    obj({"type": {"const": "image_url"},
         "image_url": {"anyOf": [IMAGE_URL, obj({"url": IMAGE_URL, "detail": {
             "enum": ["auto", None], "description": "only `auto`: `low` and `high` are refused (400)"}}, ["url"])]}},
        ["type", "image_url"]),
    obj({"type": {"const": "file"}, "file": obj({
        "file_data": {"type": "string", "pattern": rf"^(?:data:application/pdf;base64,)?{BASE64}$",
                      "description": "base64 (a PDF), or a base64 `data:` URL"},
        "filename": NULLABLE_S,
        "file_id": {"type": "null", "description": "not supported: chatgate has no file store (400)"}},
        ["file_data"])}, ["type", "file"]),
], "description": "`input_audio` parts are refused (400)"}
TOOL_CALL = obj({"id": {"type": "string", "description": "as chatgate sent it (a Gemini thought signature "
                                                         "rides in it after `__thought__`)"},
                 "type": {"const": "function"},
                 "function": obj({"name": S, "arguments": {"type": "string", "description": "JSON text"}},
                                 ["name"])}, ["id", "function"])
THINKING_BLOCK = {"oneOf": [
    obj({"type": {"const": "thinking"}, "thinking": S, "signature": NULLABLE_S}, ["type"]),
    obj({"type": {"const": "redacted_thinking"}, "data": S}, ["type", "data"]),
], "description": "LiteLLM's shape of a reasoning block, as chatgate renders it: sent back as it came"}


def message(role, props, required=("role", "content"), **more):
    return obj({"role": {"enum": role} if isinstance(role, list) else {"const": role}, **props},
               list(required), **more)


CHAT_MESSAGE = {"oneOf": [
    message(["system", "developer"], {"content": TEXT_CONTENT, "name": NULLABLE_S},
            description="joined, in order and wherever they stand, into the one system prompt"),
    message("user", {"content": {"anyOf": [S, {"type": "array", "items": USER_PART}]}, "name": NULLABLE_S}),
    message("assistant", {
        "content": {"anyOf": [S, {"type": "null"}, {"type": "array", "items": {"oneOf": [
            TEXT_PART, obj({"type": {"const": "refusal"}, "refusal": S}, ["type", "refusal"])]}}]},
        "name": NULLABLE_S, "refusal": NULLABLE_S,
        "tool_calls": {"type": ["array", "null"], "items": TOOL_CALL},
        "reasoning_content": {"type": ["string", "null"],
                              "description": "reasoning text sent back (when `thinking_blocks` is absent)"},
        "thinking_blocks": {"type": ["array", "null"], "items": THINKING_BLOCK},
    }, ["role"], description="content may be null (or absent) when tool_calls or refusal is given"),
    message("tool", {"tool_call_id": S, "content": TEXT_CONTENT}, ["role", "tool_call_id", "content"],
            description="consecutive tool results make one user turn"),
], "description": "`function` messages and `audio` are not supported (400)"}
TOOL = obj({"type": {"const": "function"}, "function": obj({
    "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "description": NULLABLE_S,
    "parameters": {"type": ["object", "null"], "description": "a JSON Schema object"},
    "strict": {"type": ["boolean", "null"]}}, ["name"])}, ["type", "function"],
    description="function tools only (other types: 400); names must be unique")
# OpenAI-only tuning: passed to OpenAI as it is; for another provider refused (400, naming it)
# unless at the value that changes nothing, which is what the document allows.
OPENAI_ONLY = {
    "frequency_penalty": {"enum": [0, None]}, "presence_penalty": {"enum": [0, None]},
    "logit_bias": {"type": ["object", "null"], "maxProperties": 0},
    "service_tier": {"enum": ["auto", "default", None]},
    "store": {"enum": [False, None]}, "verbosity": {"enum": ["medium", None]},
    "modalities": {"anyOf": [{"const": ["text"]}, {"type": "null"}]},
    **{k: {"type": "null"} for k in ("prediction", "web_search_options")},
    # Hints that change nothing in a reply: any value, relayed to OpenAI only.
    "metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"},
                 "description": "relayed to `openai/*` models only"},
    **{k: {**NULLABLE_S, "description": "a hint about OpenAI's own caching or monitoring: relayed to `openai/*` "
                                       "models only"}
       for k in ("prompt_cache_key", "safety_identifier", "prompt_cache_retention")},
}
U32 = {"type": ["integer", "null"], "minimum": 1, "maximum": 4294967295}
components["schemas"].update({
    "OpenAIError": obj({"error": obj({"message": S, "type": S, "code": NULLABLE_S, "param": NULLABLE_S},
                                     ["message", "type", "code", "param"])}, ["error"]),
    "ChatCompletionRequest": obj({
        "model": MODEL,
        "messages": {"type": "array", "items": CHAT_MESSAGE, "minItems": 1, "maxItems": 1000,
                     "contains": {"type": "object", "properties": {"role": {"enum": ["user", "assistant", "tool"]}}},
                     "description": "at least one user, assistant or tool message"},
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {"type": ["object", "null"], "additionalProperties": False, "properties": {
            "include_usage": {"type": ["boolean", "null"]}, "include_obfuscation": {"type": ["boolean", "null"]}}},
        "max_tokens": U32, "max_completion_tokens": U32,
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "stop": {"anyOf": [S, {"type": "array", "items": S, "maxItems": 4}, {"type": "null"}]},
        "n": {"type": ["integer", "null"], "minimum": 1, "maximum": 1, "description": "only 1"},
        "user": NULLABLE_S,
        "seed": {"type": ["integer", "null"], "minimum": -9007199254740991, "maximum": 9007199254740991},
        "logprobs": {"type": ["boolean", "null"]},
        "top_logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20,
                         "description": "requires `logprobs: true`"},
        "tools": {"type": ["array", "null"], "items": TOOL, "maxItems": 128},
        "tool_choice": {"anyOf": [{"enum": ["none", "auto", "required", None]}, obj({
            "type": {"const": "function"}, "function": obj({"name": S}, ["name"])}, ["type", "function"])],
            "description": "`required` or a named tool needs `tools` (naming one of them)"},
        "parallel_tool_calls": {"type": ["boolean", "null"]},
        "response_format": {"oneOf": [
            {"type": "null"},
            obj({"type": {"enum": ["text", "json_object"]}}, ["type"]),
            obj({"type": {"const": "json_schema"}, "json_schema": obj({
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}, "description": NULLABLE_S,
                "schema": {"type": ["object", "null"]}, "strict": {"type": ["boolean", "null"]}}, ["name"])},
                ["type", "json_schema"])]},
        "reasoning_effort": {"enum": ["minimal", "low", "medium", "high", None]},
        "thinking": {"oneOf": [{"type": "null"}, obj({"type": {"const": "enabled"},
                                                       "budget_tokens": {"type": "integer", "minimum": 1,
                                                                         "maximum": 4294967295}},
                                                      ["type", "budget_tokens"]),
                               obj({"type": {"const": "disabled"}}, ["type"])],
                     "description": "LiteLLM's extension: a reasoning token budget (with or instead of "
                                    "`reasoning_effort`)"},
        **{k: {**v, "description": f"OpenAI's `{k}`: any value for `openai/*` models (passed through); for "
                                   "other providers only the value that changes nothing (else 400)"}
           for k, v in OPENAI_ONLY.items()},
        **{k: {"type": "null", "description": "not supported: absent or null"}
           for k in ("functions", "function_call", "audio")},
    }, ["model", "messages"], description="OpenAI's Chat Completions request, for every provider. Null counts as "
                                          "absent. What a model's provider cannot do is refused with 400 "
                                          "naming the parameter (`param`)."),
    "ChatCompletion": obj({
        "id": S, "object": {"const": "chat.completion"}, "created": COUNT, "model": S,
        "choices": {"type": "array", "minItems": 1, "maxItems": 1, "items": obj({
            "index": {"const": 0},
            "message": obj({"role": {"const": "assistant"}, "content": NULLABLE_S, "refusal": NULLABLE_S,
                            "tool_calls": {"type": "array", "items": TOOL_CALL},
                            "reasoning_content": {"type": "string", "description": "the reasoning blocks' text"},
                            "thinking_blocks": {"type": "array", "items": THINKING_BLOCK}},
                           ["role", "content", "refusal"]),
            "logprobs": {"type": ["object", "null"], "description": "with `logprobs: true`: OpenAI's `content`"},
            "finish_reason": {"enum": ["stop", "length", "tool_calls", "content_filter"]},
        }, ["index", "message", "logprobs", "finish_reason"])},
        "usage": ref("ChatUsage"),
    }, ["id", "object", "created", "model", "choices", "usage"]),
    "ChatUsage": obj({"prompt_tokens": COUNT, "completion_tokens": COUNT, "total_tokens": COUNT,
                      "prompt_tokens_details": obj({"cached_tokens": COUNT}, ["cached_tokens"]),
                      "completion_tokens_details": obj({"reasoning_tokens": COUNT}, ["reasoning_tokens"]),
                      "cache_creation_input_tokens": {**COUNT, "description": "prompt tokens written to the "
                                                                              "provider's cache (Anthropic), when any"}},
                     ["prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
                      "completion_tokens_details"]),
    "ChatCompletionChunk": obj({
        "id": S, "object": {"const": "chat.completion.chunk"}, "created": COUNT, "model": S,
        "choices": {"type": "array", "maxItems": 1, "items": obj({
            "index": {"const": 0},
            "delta": obj({"role": {"const": "assistant"}, "content": S, "refusal": S,
                          "reasoning_content": S,
                          "thinking_blocks": {"type": "array", "items": THINKING_BLOCK,
                                              "description": "a reasoning block whole, once its signature came"},
                          "tool_calls": {"type": "array", "items": obj({
                              "index": COUNT, "id": S, "type": {"const": "function"},
                              "function": obj({"name": S, "arguments": S}, ["arguments"])}, ["index", "function"]),
                              "description": "`id`, `type` and `function.name` on a call's first fragment only"}}),
            "logprobs": {"type": ["object", "null"]},
            "finish_reason": {"enum": ["stop", "length", "tool_calls", "content_filter", None]},
        }, ["index", "delta", "logprobs", "finish_reason"])},
        "usage": {"oneOf": [ref("ChatUsage"), {"type": "null"}],
                  "description": "with `stream_options.include_usage`: null on every chunk but the last, "
                                 "which has no choices"},
    }, ["id", "object", "created", "model", "choices"], description="One `data:` frame of a streamed reply."),
    "ModelList": obj({"object": {"const": "list"}, "data": {"type": "array", "items": obj(
        {"id": MODEL, "object": {"const": "model"},
         "owned_by": {"enum": ["chatgate", "openai", "anthropic", "gemini"]}}, ["id", "object", "owned_by"])}},
        ["object", "data"]),
})
V1_ERRORS = {
    400: "Invalid request (`invalid_request_error`): bad JSON or parameters, a model not enabled in the "
         "organization, no key for the provider, or a request the provider refused",
    401: "Missing or invalid credentials (`authentication_error`)",
    403: "The API key lacks the `chat` scope (`invalid_request_error`, code `forbidden`), or, with "
         "`REQUIRE_VERIFIED_EMAIL`, the user's address is not verified (code `email_unverified`)",
    404: "The `OpenAI-Organization` is not one of the caller's (`invalid_request_error`, code `not_found`), or "
         "the provider does not know the model (code `model_not_found`)",
    413: "Body over 20 MiB",
    415: "Body is not application/json",
    429: "Rate limited (`rate_limit_error`: the key's limit or the provider's) or the monthly token budget "
         "spent (`insufficient_quota`), with `retry-after`",
    502: "The provider failed (`api_error`)",
    503: "A dependency is unavailable (`api_error`)",
}
paths.update({
    "/v1/chat/completions": {"post": {
        "summary": "OpenAI Chat Completions for any configured model", "tags": ["openai"],
        "security": [{"apiKey": []}, {"bearer": []}],
        "description": "OpenAI's request and response shapes, `stream` true or false, `stream_options.include_usage`. "
                       "Anthropic and Gemini models are translated both ways. With an access token the org is the "
                       "user's personal org, or the one named by the `OpenAI-Organization` header, and the per-user "
                       "rate applies (429 `rate_limit_exceeded`). With a monthly budget the completion cap sent "
                       "upstream is `max_completion_tokens`/`max_tokens` (or 4096) cut to what the month has left "
                       "after the prompt; 429 `insufficient_quota` when less than a useful reply would fit. "
                       "Every feature (tools and tool results, images and PDFs, response_format, reasoning, "
                       "logprobs) goes to every provider; what a provider cannot do is refused with 400 naming "
                       "the parameter. A remote image a provider cannot fetch itself is fetched by chatgate "
                       "(https only, never an internal address, 20 MiB and 10 s per request).",
        "parameters": [{"name": "OpenAI-Organization", "in": "header", "required": False, "schema": S,
                        "description": "an organization id of the caller (access tokens only)"}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ChatCompletionRequest")}}},
        "responses": {"200": {"description": "`chat.completion`, or with `stream: true` a `text/event-stream` of "
                                             "`chat.completion.chunk` frames ending in "
                                             "`data: [DONE]`; a provider failure mid-stream is one OpenAI error "
                                             "frame before the end",
                              "content": {"application/json": {"schema": ref("ChatCompletion")},
                                          "text/event-stream": {"schema": obj({
                                              "event": {"const": "message",
                                                        "description": "no `event:` line: the default type"},
                                              "data": {"anyOf": [
                                                  {"const": "[DONE]"},
                                                  json_text({"oneOf": [ref("ChatCompletionChunk"),
                                                                       ref("OpenAIError")]})]}}, ["data"],
                                              description="One event: a `data:` line")}}},
                      **{str(c): {**OPENAI_ERROR, "description": t} for c, t in V1_ERRORS.items()}},
    }},
    "/v1/models": {"get": {
        "summary": "The models the organization may use", "tags": ["openai"],
        "security": [{"apiKey": []}, {"bearer": []}],
        "parameters": [{"name": "OpenAI-Organization", "in": "header", "required": False, "schema": S,
                        "description": "an organization id of the caller (access tokens only)"}],
        "responses": {"200": json_response(ref("ModelList")),
                      **{str(c): {**OPENAI_ERROR, "description": V1_ERRORS[c]} for c in (401, 403, 404, 429)}},
    }},
})

# --- Anthropic Messages API --------------------------------------------------------------
# As the server reads it (src/ingress/messages): null counts as absent everywhere; what chatgate
# accepts only as a hint or refuses by name is described on the field.
ANTHROPIC_ERROR_TYPES = ["invalid_request_error", "authentication_error", "billing_error", "permission_error",
                         "not_found_error", "request_too_large", "rate_limit_error", "timeout_error", "api_error",
                         "overloaded_error"]
CACHE_CONTROL_SCHEMA = nullable(obj({"type": {"const": "ephemeral"}, "ttl": {"enum": ["5m", "1h", None]}}, ["type"],
                             description="accepted and not relayed: chatgate sends no cache breakpoints"))
CACHE_CONTROL = ref("AnthropicCacheControl")
A_TEXT_SCHEMA = obj({"type": {"const": "text"}, "text": S, "cache_control": CACHE_CONTROL,
              "citations": {"type": ["array", "null"], "maxItems": 0, "description": "not supported (400)"}},
             ["type", "text"])
A_TEXT = ref("AnthropicTextBlock")
A_URL = {"type": "string", "maxLength": 8192, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?:",
         "description": "an `https` URL (fetched by chatgate, under the outbound rule, for a provider that "
                        "cannot take URLs)"}
A_BASE64 = {"type": "string", "pattern": f"^{BASE64}$", "description": "base64, standard alphabet, padded"}
A_IMAGE_SCHEMA = obj({"type": {"const": "image"}, "cache_control": CACHE_CONTROL, "source": {"oneOf": [
    obj({"type": {"const": "base64"}, "media_type": {"type": "string", "pattern": "^image/"}, "data": A_BASE64},
        ["type", "media_type", "data"]),
    obj({"type": {"const": "url"}, "url": A_URL}, ["type", "url"])],
    "description": "`file` sources are not supported: chatgate has no file store (400)"}}, ["type", "source"])
A_IMAGE = ref("AnthropicImageBlock")
A_DOCUMENT_SCHEMA = obj({
    "type": {"const": "document"}, "cache_control": CACHE_CONTROL, "title": NULLABLE_S,
    "context": {"type": "null", "description": "not supported (400)"},
    "citations": nullable(obj({"enabled": {"enum": [False, None]}}, description="citations are not supported")),
    "source": {"oneOf": [
        obj({"type": {"const": "base64"}, "media_type": {"type": "string", "pattern": "/"}, "data": A_BASE64},
            ["type", "media_type", "data"], description="a PDF (what each provider reads, it decides)"),
        obj({"type": {"const": "url"}, "url": A_URL}, ["type", "url"]),
        obj({"type": {"const": "text"}, "media_type": {"const": "text/plain"}, "data": S},
            ["type", "media_type", "data"], description="becomes a text block (its title first)")],
        "description": "`content` and `file` sources are not supported (400)"}}, ["type", "source"])
A_DOCUMENT = ref("AnthropicDocumentBlock")
A_TOOL_RESULT_SCHEMA = obj({
    "type": {"const": "tool_result"}, "tool_use_id": S, "cache_control": CACHE_CONTROL,
    "is_error": {"type": ["boolean", "null"]},
    "content": {"anyOf": [{"type": "null"}, S, {"type": "array", "items": {"oneOf": [A_TEXT, A_IMAGE, A_DOCUMENT]}}]},
}, ["type", "tool_use_id"])
A_TOOL_RESULT = ref("AnthropicToolResultBlock")
A_TOOL_USE_SCHEMA = obj({"type": {"const": "tool_use"},
                  "id": {"type": "string", "description": "as chatgate sent it (a Gemini thought signature rides "
                                                          "in it after `__thought__`)"},
                  "name": S, "input": {"type": "object"}, "cache_control": CACHE_CONTROL,
                  "caller": nullable(obj({"type": {"const": "direct"}}, ["type"]))}, ["type", "id", "name", "input"])
A_TOOL_USE = ref("AnthropicToolUseBlock")
A_THINKING_SCHEMA = obj({"type": {"const": "thinking"}, "thinking": S, "signature": S, "cache_control": CACHE_CONTROL},
                 ["type", "thinking", "signature"])
A_THINKING = ref("AnthropicThinkingBlock")
A_REDACTED_SCHEMA = obj({"type": {"const": "redacted_thinking"}, "data": S, "cache_control": CACHE_CONTROL},
                 ["type", "data"])
A_REDACTED = ref("AnthropicRedactedThinkingBlock")
A_SYSTEM = {"anyOf": [S, {"type": "array", "items": A_TEXT}]}


def a_message(role, blocks, description=None):
    more = {"description": description} if description else {}
    return obj({"role": {"const": role}, "content": {"anyOf": [S, {"type": "array", "items": {"oneOf": blocks}}]}},
               ["role", "content"], **more)


A_TOOL_SCHEMA = obj({
    "type": {"enum": ["custom", None], "description": "server tools (`web_search_…`, `bash_…`…) are refused (400)"},
    "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}, "description": NULLABLE_S,
    "input_schema": {"type": "object", "description": "a JSON Schema object"}, "cache_control": CACHE_CONTROL,
    "strict": {"type": ["boolean", "null"]},
    "defer_loading": {"enum": [False, None], "description": "deferred tools are not supported (400)"},
    "eager_input_streaming": {"type": ["boolean", "null"], "description": "accepted, not relayed"},
    "input_examples": {"type": ["array", "null"], "maxItems": 0, "description": "not supported (400)"},
    "allowed_callers": {"anyOf": [{"const": ["direct"]}, {"type": "null"}]},
}, ["name", "input_schema"], description="custom tools only; names must be unique")
A_TOOL = ref("AnthropicTool")
A_PARALLEL = {"type": ["boolean", "null"], "description": "true: `parallel_tool_calls: false`"}
A_THINKING_CONFIG = {"oneOf": [
    {"type": "null"},
    obj({"type": {"const": "enabled"}, "budget_tokens": {"type": "integer", "minimum": 1, "maximum": 4294967295},
         "display": {"enum": ["summarized", "omitted", None]}}, ["type", "budget_tokens"]),
    obj({"type": {"const": "adaptive"}, "display": {"enum": ["summarized", "omitted", None]}}, ["type"]),
    obj({"type": {"const": "disabled"}}, ["type"]),
], "description": "the reasoning request: a budget, or the model's choice (adaptive); `display: omitted` asks for "
                  "no reasoning text"}
A_FORMAT = obj({"type": {"const": "json_schema"}, "schema": {"type": "object"}}, ["type", "schema"])
A_FIELDS = {
    "model": {"type": "string", "maxLength": 135,
              "pattern": rf"^(?:(?:openai|anthropic|gemini)/{MODEL_SEGMENT}(?:/{MODEL_SEGMENT})*|demo/echo|"
                         rf"{MODEL_SEGMENT})$",
              "description": "`provider/model` (as on `/v1/chat/completions`), or a bare name (`claude-sonnet-4-5`, "
                             "as Claude Code sends), which is `anthropic/<name>`; it must be enabled in the "
                             "organization, else 400",
              "examples": ["claude-sonnet-4-5", "demo/echo", "openai/gpt-4o-mini"]},
    "messages": {"type": "array", "minItems": 1, "maxItems": 100000, "items": ref("AnthropicInputMessage"),
        "contains": {"type": "object", "properties": {"role": {"enum": ["user", "assistant"]}}},
        "description": "at least one user or assistant message"},
    "system": {"anyOf": [{"type": "null"}, S, {"type": "array", "items": A_TEXT}],
               "description": "text blocks are joined by blank lines"},
    "stream": {"type": ["boolean", "null"]},
    "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "top_k": {"type": "null", "description": "not supported: no provider-neutral counterpart (400)"},
    "stop_sequences": {"type": ["array", "null"], "items": S, "maxItems": 64},
    "metadata": nullable(obj({"user_id": {"type": ["string", "null"], "maxLength": 256}},
                             description="`user_id` is the `user` sent to the provider")),
    "tools": {"type": ["array", "null"], "items": A_TOOL, "maxItems": 512},
    "tool_choice": {"oneOf": [
        {"type": "null"},
        obj({"type": {"enum": ["auto", "any"]}, "disable_parallel_tool_use": A_PARALLEL}, ["type"]),
        obj({"type": {"const": "tool"}, "name": S, "disable_parallel_tool_use": A_PARALLEL}, ["type", "name"]),
        obj({"type": {"const": "none"}}, ["type"])],
        "description": "`any` needs `tools`; `tool` names one of them"},
    "thinking": ref("AnthropicThinkingConfig"),
    "output_config": nullable(obj({
        "effort": {"enum": ["low", "medium", "high", None],
                   "description": "the reasoning effort (`xhigh` and `max` are refused: not every provider has them)"},
        "format": nullable(A_FORMAT)})),
    "output_format": {**nullable(A_FORMAT), "description": "deprecated form of `output_config.format` (not both)"},
    "service_tier": {"enum": ["auto", "standard_only", None], "description": "accepted, not relayed"},
    "context_management": nullable(obj({"edits": {"type": ["array", "null"], "items": obj(
        {"type": {"type": "string", "pattern": "^clear_thinking_"}, "keep": {}}, ["type"])}},
        description="Claude Code's: `clear_thinking_*` edits are accepted (no provider here reads earlier "
                    "turns' thinking); others are refused (400)")),
    "cache_control": CACHE_CONTROL,
    "container": {"type": "null", "description": "not supported (400)"},
    "inference_geo": {"type": "null", "description": "not supported (400)"},
    "speed": {"enum": ["standard", None], "description": "`fast` is not supported (400)"},
    "diagnostics": nullable(obj({"previous_message_id": NULLABLE_S}, description="accepted, not relayed")),
    "mcp_servers": {"type": ["array", "null"], "maxItems": 0, "description": "not supported (400)"},
}
A_USAGE_SCHEMA = obj({"input_tokens": {**COUNT, "description": "prompt tokens not read from or written to the cache"},
               "cache_creation_input_tokens": COUNT, "cache_read_input_tokens": COUNT, "output_tokens": COUNT,
               "output_tokens_details": obj({"thinking_tokens": COUNT}, ["thinking_tokens"])},
              ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"])
A_USAGE = ref("AnthropicUsage")
A_STOP_REASON = {"enum": ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]}
A_STOP_DETAILS_SCHEMA = obj({"type": {"const": "refusal"}, "category": {"type": "null"}, "explanation": NULLABLE_S},
                     ["type", "category", "explanation"], description="a refusal's explanation")
A_STOP_DETAILS = ref("AnthropicStopDetails")
A_REPLY_BLOCK_SCHEMA = {"oneOf": [
    obj({"type": {"const": "text"}, "text": S}, ["type", "text"]),
    obj({"type": {"const": "tool_use"}, "id": S, "name": S, "input": {"type": "object"}}, ["type", "id", "name", "input"]),
    obj({"type": {"const": "thinking"}, "thinking": S, "signature": S}, ["type", "thinking", "signature"]),
    obj({"type": {"const": "redacted_thinking"}, "data": S}, ["type", "data"])]}


A_REPLY_BLOCK = ref("AnthropicReplyBlock")
def a_event(name, props, required):
    return obj({"type": {"const": name}, **props}, ["type", *required])


A_DELTA = {"oneOf": [
    obj({"type": {"const": "text_delta"}, "text": S}, ["type", "text"]),
    obj({"type": {"const": "input_json_delta"}, "partial_json": S}, ["type", "partial_json"]),
    obj({"type": {"const": "thinking_delta"}, "thinking": S}, ["type", "thinking"]),
    obj({"type": {"const": "signature_delta"}, "signature": S}, ["type", "signature"])]}
A_EVENTS = {
    "message_start": a_event("message_start", {"message": ref("AnthropicMessage")}, ["message"]),
    "ping": a_event("ping", {}, []),
    "content_block_start": a_event("content_block_start", {"index": COUNT, "content_block": A_REPLY_BLOCK},
                                   ["index", "content_block"]),
    "content_block_delta": a_event("content_block_delta", {"index": COUNT, "delta": A_DELTA}, ["index", "delta"]),
    "content_block_stop": a_event("content_block_stop", {"index": COUNT}, ["index"]),
    "message_delta": a_event("message_delta", {
        "delta": obj({"stop_reason": A_STOP_REASON, "stop_sequence": {"type": "null"},
                      "stop_details": A_STOP_DETAILS}, ["stop_reason", "stop_sequence"]),
        "usage": A_USAGE}, ["delta", "usage"]),
    "message_stop": a_event("message_stop", {}, []),
    "error": ref("AnthropicError"),
}
components["securitySchemes"]["anthropicKey"] = {
    "type": "apiKey", "in": "header", "name": "x-api-key",
    "description": "An API key (`cg_…`) or an access token, in the header Anthropic's clients send their key in "
                   "(`Authorization: Bearer` is read first)."}
components["schemas"].update({
    "AnthropicInputMessage": {"oneOf": [
        a_message("user", [A_TEXT, A_IMAGE, A_DOCUMENT, A_TOOL_RESULT]),
        a_message("assistant", [A_TEXT, A_TOOL_USE, A_THINKING, A_REDACTED]),
        obj({"role": {"const": "system"}, "content": A_SYSTEM}, ["role", "content"],
            description="joined, in order, into the one system prompt")]},
    "AnthropicThinkingConfig": A_THINKING_CONFIG,
    "AnthropicCacheControl": CACHE_CONTROL_SCHEMA,
    "AnthropicTextBlock": A_TEXT_SCHEMA,
    "AnthropicImageBlock": A_IMAGE_SCHEMA,
    "AnthropicDocumentBlock": A_DOCUMENT_SCHEMA,
    "AnthropicToolResultBlock": A_TOOL_RESULT_SCHEMA,
    "AnthropicToolUseBlock": A_TOOL_USE_SCHEMA,
    "AnthropicThinkingBlock": A_THINKING_SCHEMA,
    "AnthropicRedactedThinkingBlock": A_REDACTED_SCHEMA,
    "AnthropicTool": A_TOOL_SCHEMA,
    "AnthropicUsage": A_USAGE_SCHEMA,
    "AnthropicReplyBlock": A_REPLY_BLOCK_SCHEMA,
    "AnthropicStopDetails": A_STOP_DETAILS_SCHEMA,
    "AnthropicError": obj({"type": {"const": "error"}, "error": obj(
        {"type": {"enum": ANTHROPIC_ERROR_TYPES}, "message": {
            "type": "string", "description": "names the field it is about, as Anthropic does (`messages.1.content.0: …`)"}},
        ["type", "message"])}, ["type", "error"]),
    "AnthropicMessageRequest": obj(
        {**A_FIELDS, "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4294967295}},
        ["model", "max_tokens", "messages"],
        description="Anthropic's Messages request, for every provider. Null counts as absent. What a model's "
                    "provider cannot do is refused with 400 naming the field in the message."),
    "AnthropicCountTokensRequest": obj(
        {**A_FIELDS, "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": 4294967295,
                                    "description": "optional here (a create body may be reused)"}},
        ["model", "messages"]),
    "AnthropicMessage": obj({
        "id": S, "type": {"const": "message"}, "role": {"const": "assistant"},
        "model": {"type": "string", "description": "as the request named it"},
        "content": {"type": "array", "items": A_REPLY_BLOCK},
        "stop_reason": {"oneOf": [A_STOP_REASON, {"type": "null"}], "description": "null only in `message_start`"},
        "stop_sequence": {"type": "null", "description": "always null: no provider-neutral reply says which "
                                                         "sequence matched"},
        "stop_details": A_STOP_DETAILS, "usage": A_USAGE,
    }, ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"]),
    "AnthropicStreamEvent": {"oneOf": [
        obj({"event": {"const": name}, "data": json_text(schema)}, ["event", "data"]) for name, schema in A_EVENTS.items()],
        "description": "One event: `event:` its type, `data:` the JSON of it"},
})
A_ERRORS = {
    400: "Invalid request (`invalid_request_error`): bad JSON or fields, a model not enabled in the organization, "
         "no key for the provider, or a request the provider refused",
    401: "Missing or invalid credentials (`authentication_error`)",
    403: "The API key lacks the `chat` scope (`permission_error`)",
    404: "The provider does not know the model (`not_found_error`)",
    413: "Body over 20 MiB (`request_too_large`)",
    415: "Body is not application/json (`invalid_request_error`)",
    429: "Rate limited (the key's limit, the user's or the provider's) or the monthly token budget spent "
         "(`rate_limit_error`), with `retry-after`",
    502: "The provider failed (`api_error`)",
    503: "The provider is overloaded (`overloaded_error`) or a dependency is unavailable (`api_error`)",
}
A_HEADERS = [{"name": "anthropic-version", "in": "header", "required": False, "schema": S,
              "description": "accepted, any value"},
             {"name": "anthropic-beta", "in": "header", "required": False, "schema": S,
              "description": "accepted, any value (e.g. Claude Code's `claude-code-20250219,interleaved-thinking-…`)"}]


def a_errors(codes):
    return {str(c): {"description": A_ERRORS[c], "content": {"application/json": {"schema": ref("AnthropicError")}}}
            for c in codes}


paths.update({
    "/v1/messages": {"post": {
        "summary": "Anthropic Messages for any configured model", "tags": ["anthropic"],
        "security": [{"apiKey": []}, {"anthropicKey": []}, {"bearer": []}],
        "description": "Anthropic's request and response shapes, `stream` true or false, so the `anthropic` SDKs and "
                       "Claude Code (`ANTHROPIC_BASE_URL`) work on every model: OpenAI and Gemini models are "
                       "translated both ways, every feature (tools and tool results, images and PDFs, structured "
                       "output, thinking with signatures). A bare model name is `anthropic/<name>`. Usage metering, "
                       "budgets, rate limits, the `chat` scope and the org's enabled models apply as on "
                       "`/v1/chat/completions`; with an access token the org is the user's personal org.",
        "parameters": A_HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref("AnthropicMessageRequest")}}},
        "responses": {"200": {"description": "`message`, or with `stream: true` a `text/event-stream`: "
                                             "`message_start`, `ping`, each content block (`content_block_start`, "
                                             "its deltas, `content_block_stop`, indexes from 0), `message_delta`, "
                                             "`message_stop`; a provider failure mid-stream is an `error` event",
                              "content": {"application/json": {"schema": ref("AnthropicMessage")},
                                          "text/event-stream": {"schema": ref("AnthropicStreamEvent")}}},
                      **a_errors([400, 401, 403, 404, 413, 415, 429, 502, 503])},
    }},
    "/v1/messages/count_tokens": {"post": {
        "summary": "An estimate of a Messages request's input tokens", "tags": ["anthropic"],
        "security": [{"apiKey": []}, {"anthropicKey": []}, {"bearer": []}],
        "description": "chatgate's own estimate (about 4 characters a token, plus per-message overhead) of the system "
                       "prompt, the messages and the tools' definitions; images and documents are not counted. No "
                       "provider is called and nothing is metered.",
        "parameters": A_HEADERS,
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": ref("AnthropicCountTokensRequest")}}},
        "responses": {"200": json_response(obj({"input_tokens": COUNT}, ["input_tokens"])),
                      **a_errors([400, 401, 403, 413, 415, 429])},
    }},
})

# --- OpenAI Responses API (stateless) ----------------------------------------------------------
# Request items keep OpenAI's names; a field not listed may appear only as null (null is absent).
NULL_ONLY = {"type": "null"}


def item(props, required=(), **more):
    """An object whose unknown fields may only be null, as the server reads them."""
    return {**obj(props, required, **more), "additionalProperties": NULL_ONLY}


ITEM_STATUS = {"enum": ["in_progress", "completed", "incomplete", None]}
TEXT_PARTS = {"type": ["array", "null"], "items": {"type": "object"}}
INPUT_TEXT = item({"type": {"const": "input_text"}, "text": S, "annotations": TEXT_PARTS, "logprobs": TEXT_PARTS},
                  ["type", "text"])
OUTPUT_TEXT = item({"type": {"enum": ["output_text", "input_text"]}, "text": S, "annotations": TEXT_PARTS,
                    "logprobs": TEXT_PARTS}, ["type", "text"],
                   description="an earlier reply's text (its annotations and logprobs are not sent to the model)")
AUTO_DETAIL = {"enum": ["auto", None], "description": "only `auto`: `low`, `high` and `original` are refused (400)"}
NO_FILE_ID = {"type": "null", "description": "not supported: chatgate has no file store (400)"}
HTTP_URL = {"type": "string", "maxLength": 8192, "pattern": r"^https?://\S+$"}
RESP_IMAGE = item({"type": {"const": "input_image"}, "image_url": IMAGE_URL, "detail": AUTO_DETAIL,
                   "file_id": NO_FILE_ID}, ["type", "image_url"])
RESP_FILE = {**item({
    "type": {"const": "input_file"},
    "file_data": {"type": ["string", "null"], "pattern": rf"^(?:data:[a-z0-9.+-]+/[a-z0-9.+-]+;base64,)?{BASE64}$",
                  "description": "a base64 `data:` URL, or bare base64 (a PDF)"},
    "file_url": {**HTTP_URL, "type": ["string", "null"],
                 "description": "fetched by chatgate (under the outbound rule) for a provider that cannot take URLs"},
    "filename": NULLABLE_S, "detail": AUTO_DETAIL, "file_id": NO_FILE_ID}, ["type"]),
    "anyOf": [{"properties": {"file_data": S}, "required": ["file_data"]},
              {"properties": {"file_url": S}, "required": ["file_url"]}],
    "not": {"properties": {"file_data": S, "file_url": S}, "required": ["file_data", "file_url"]},
    "description": "`file_data` or `file_url`, not both"}
RESP_REFUSAL = item({"type": {"const": "refusal"}, "refusal": S}, ["type", "refusal"])
MEDIA_PARTS = {"type": "array", "items": {"anyOf": [INPUT_TEXT, RESP_IMAGE, RESP_FILE]}}
MESSAGE_EXTRAS = {"type": {"enum": ["message", None]}, "id": NULLABLE_S, "status": ITEM_STATUS,
                  "phase": {"enum": ["commentary", "final_answer", None]}}


def resp_message(roles, parts, text):
    return item({"role": {"enum": roles}, "content": {"anyOf": [S, {"type": "array", "items": {"anyOf": parts}}]},
                 **MESSAGE_EXTRAS}, ["role", "content"], description=text)
CALL_EXTRAS = {"id": NULLABLE_S, "status": ITEM_STATUS,
               "namespace": {"type": "null", "description": "not supported: chatgate has no tool namespaces"},
               "caller": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"type": {"const": "direct"}},
                                                       "required": ["type"]}],
                          "description": "only direct calls"}}
RESP_INPUT_ITEM = {"anyOf": [
    resp_message(["user"], [INPUT_TEXT, RESP_IMAGE, RESP_FILE], "A user message (`input_audio` is refused)."),
    resp_message(["system", "developer"], [INPUT_TEXT],
                 "Text only: joined, in order and wherever it stands, into the system prompt after "
                 "`instructions`."),
    resp_message(["assistant"], [OUTPUT_TEXT, RESP_REFUSAL], "An earlier reply's message."),
    item({"type": {"const": "function_call"}, "call_id": {"type": "string", "description": "as chatgate sent it "
                                                          "(a Gemini thought signature rides in it after "
                                                          "`__thought__`)"},
          "name": S, "arguments": {"type": "string", "description": "JSON text"}, **CALL_EXTRAS},
         ["type", "call_id", "name", "arguments"], description="A function call of an earlier reply."),
    item({"type": {"const": "function_call_output"}, "call_id": S, "output": {"anyOf": [S, MEDIA_PARTS]},
          "name": NULLABLE_S, **CALL_EXTRAS}, ["type", "call_id", "output"],
         description="A function's result; outputs that follow one another make one turn."),
    item({"type": {"const": "reasoning"}, "id": NULLABLE_S, "status": ITEM_STATUS,
          "summary": {"type": "array", "items": item({"type": {"const": "summary_text"}, "text": S},
                                                     ["type", "text"])},
          "content": {"type": ["array", "null"], "items": item({"type": {"const": "reasoning_text"}, "text": S},
                                                                ["type", "text"])},
          "encrypted_content": {"type": ["string", "null"], "pattern": "^chatgate:(?:signature|redacted):",
                                "description": "as chatgate returned it; OpenAI's own encrypted reasoning is "
                                               "refused (400)"}},
         ["type", "summary"], description="A reasoning item of an earlier reply, sent back so the turn continues."),
], "description": "`item_reference` and the items of OpenAI's built-in tools are refused (400)."}
RESP_TOOL = item({"type": {"const": "function"}, "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                  "description": NULLABLE_S, "parameters": {"type": ["object", "null"],
                                                            "description": "a JSON Schema object"},
                  "strict": {"type": ["boolean", "null"]},
                  "defer_loading": {"enum": [False, None], "description": "no tool search (true: 400)"}},
                 ["type", "name"], description="function tools only (built-in tools: 400); names must be unique")
RESP_FORMAT = {"oneOf": [
    {"type": "null"},
    item({"type": {"enum": ["text", "json_object"]}}, ["type"]),
    item({"type": {"const": "json_schema"}, "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
          "schema": {"type": "object"}, "description": NULLABLE_S, "strict": {"type": ["boolean", "null"]}},
         ["type", "name", "schema"])]}
RESP_EFFORT = ["none", "minimal", "low", "medium", "high", "xhigh", "max"]
SUMMARY = {"enum": ["auto", "concise", "detailed", None],
           "description": "any of them returns the reasoning's text where the provider can"}
UNSUPPORTED_STATE = {"type": "null", "description": "not supported: chatgate is stateless (400)"}
RESP_OPENAI_ONLY = "OpenAI's: any value for `openai/*` models (passed through); for other providers "
components["schemas"].update({
    "ResponseCreateRequest": obj({
        "model": MODEL,
        "input": {"anyOf": [S, {"type": "array", "items": RESP_INPUT_ITEM, "minItems": 1, "maxItems": 1000,
                                "contains": {"not": {"properties": {"role": {"enum": ["system", "developer"]}},
                                                     "required": ["role"]}}}],
                  "description": "a string (one user message) or items; at least one that is not a system or "
                                 "developer message"},
        "instructions": NULLABLE_S,
        "tools": {"type": ["array", "null"], "items": RESP_TOOL, "maxItems": 128},
        "tool_choice": {"anyOf": [{"enum": ["none", "auto", "required", None]},
                                  item({"type": {"const": "function"}, "name": S}, ["type", "name"])],
                        "description": "`required` or a named tool needs `tools` (naming one of them)"},
        "parallel_tool_calls": {"type": ["boolean", "null"]},
        "text": {"oneOf": [{"type": "null"}, item({
            "format": RESP_FORMAT,
            "verbosity": {"enum": ["low", "medium", "high", None],
                          "description": RESP_OPENAI_ONLY + "only `medium`"}})]},
        "reasoning": {"oneOf": [{"type": "null"}, item({
            "effort": {"enum": [*RESP_EFFORT, None],
                       "description": "`xhigh` and `max` for `openai/*` models only; `none` asks for no reasoning"},
            "summary": SUMMARY, "generate_summary": {**SUMMARY, "description": "deprecated: `summary`"},
            "context": {"enum": ["auto", None]}, "mode": {"enum": ["standard", None]}})]},
        "max_output_tokens": U32,
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "top_logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20,
                         "description": "asks for logprobs, as `include: [\"message.output_text.logprobs\"]` does"},
        "include": {"type": ["array", "null"], "maxItems": 16, "items": {
            "enum": ["reasoning.encrypted_content", "message.output_text.logprobs"]},
            "description": "`reasoning.encrypted_content` is always sent; other values are refused (400)"},
        "user": NULLABLE_S,
        "safety_identifier": {**NULLABLE_S, "description": "for models other than `openai/*`, the end-user id "
                                                           "when `user` is absent (both, differing: 400)"},
        "metadata": {"type": ["object", "null"], "maxProperties": 16, "propertyNames": {"maxLength": 64},
                     "additionalProperties": {"type": "string", "maxLength": 512},
                     "description": "repeated in the response; sent to no provider"},
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {"oneOf": [{"type": "null"}, item({"include_obfuscation": {"type": ["boolean", "null"]}})],
                           "description": "chatgate never pads events"},
        "store": {"enum": [False, None], "description": "chatgate stores nothing: `true` is refused (400)"},
        "background": {"enum": [False, None], "description": "`true` is refused (400)"},
        "truncation": {"enum": ["disabled", None], "description": "`auto` is refused (400)"},
        "service_tier": {**NULLABLE_S, "description": RESP_OPENAI_ONLY + "only `auto` or `default`"},
        "prompt_cache_key": {**NULLABLE_S, "description": "a hint about OpenAI's prompt cache: relayed to "
                                                          "`openai/*` models only"},
        "prompt_cache_retention": {**NULLABLE_S, "description": "a hint about OpenAI's prompt cache: relayed "
                                                                "to `openai/*` models only"},
        **{k: UNSUPPORTED_STATE for k in ("previous_response_id", "conversation", "prompt")},
        **{k: {"type": "null", "description": "not supported (400)"}
           for k in ("max_tool_calls", "context_management", "moderation", "prompt_cache_options")},
    }, ["model", "input"], description="OpenAI's Responses request (`CreateResponse`), stateless, for every "
                                       "provider. Null counts as absent. What a model's provider cannot do is "
                                       "refused with 400 naming the parameter (`param`)."),
    "ResponseOutputItem": {"oneOf": [
        obj({"id": {"type": "string", "pattern": "^msg_"}, "type": {"const": "message"},
             "role": {"const": "assistant"}, "status": {"enum": ["completed", "incomplete", "in_progress"]},
             "content": {"type": "array", "items": {"oneOf": [
                 obj({"type": {"const": "output_text"}, "text": S, "annotations": {"type": "array", "maxItems": 0},
                      "logprobs": {"type": "array", "items": {"type": "object"}}},
                     ["type", "text", "annotations", "logprobs"]),
                 obj({"type": {"const": "refusal"}, "refusal": S}, ["type", "refusal"])]}}},
            ["id", "type", "role", "status", "content"]),
        obj({"id": {"type": "string", "pattern": "^rs_"}, "type": {"const": "reasoning"},
             "status": {"enum": ["completed", "incomplete", "in_progress"]},
             "summary": {"type": "array", "items": obj({"type": {"const": "summary_text"}, "text": S},
                                                       ["type", "text"])},
             "encrypted_content": {"type": "string", "pattern": "^chatgate:(?:signature|redacted):",
                                   "description": "the provider's signature or redacted reasoning: send the "
                                                  "item back as it is"}},
            ["id", "type", "status", "summary"]),
        obj({"id": {"type": "string", "pattern": "^fc_"}, "type": {"const": "function_call"},
             "status": {"enum": ["completed", "incomplete", "in_progress"]}, "call_id": S, "name": S,
             "arguments": {"type": "string", "description": "JSON text"}},
            ["id", "type", "status", "call_id", "name", "arguments"]),
    ]},
    "ResponseUsage": obj({
        "input_tokens": COUNT, "output_tokens": COUNT, "total_tokens": COUNT,
        "input_tokens_details": obj({"cached_tokens": COUNT, "cache_write_tokens": COUNT},
                                    ["cached_tokens", "cache_write_tokens"]),
        "output_tokens_details": obj({"reasoning_tokens": COUNT}, ["reasoning_tokens"])},
        ["input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"]),
    "ResponseObject": obj({
        "id": {"type": "string", "pattern": "^resp_"}, "object": {"const": "response"},
        "created_at": COUNT, "completed_at": {"type": ["integer", "null"], "minimum": 0},
        "status": {"enum": ["completed", "incomplete", "in_progress", "failed"]},
        "error": {"oneOf": [{"type": "null"}, obj({"code": {"enum": ["server_error", "rate_limit_exceeded"]},
                                                   "message": S}, ["code", "message"])]},
        "incomplete_details": {"oneOf": [{"type": "null"}, obj({"reason": {
            "enum": ["max_output_tokens", "content_filter"]}}, ["reason"])]},
        "model": S, "output": {"type": "array", "items": ref("ResponseOutputItem")},
        "usage": {"oneOf": [{"type": "null"}, ref("ResponseUsage")]},
        "instructions": NULLABLE_S, "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"anyOf": [S, {"type": "object"}]}, "parallel_tool_calls": {"type": "boolean"},
        "text": {"type": "object"}, "reasoning": obj({"effort": {"enum": [*RESP_EFFORT, None]},
                                                      "summary": {"enum": ["auto", "concise", "detailed", None]}},
                                                     ["effort", "summary"]),
        "max_output_tokens": {"type": ["integer", "null"]}, "max_tool_calls": {"type": "null"},
        "temperature": {"type": ["number", "null"]}, "top_p": {"type": ["number", "null"]},
        "top_logprobs": {"type": ["integer", "null"]}, "user": NULLABLE_S, "safety_identifier": NULLABLE_S,
        "metadata": {"type": "object", "additionalProperties": S},
        "store": {"const": False}, "previous_response_id": {"type": "null"}, "background": {"const": False},
        "truncation": {"const": "disabled"}, "service_tier": NULLABLE_S, "prompt_cache_key": NULLABLE_S,
        "prompt_cache_retention": NULLABLE_S,
    }, ["id", "object", "created_at", "completed_at", "status", "error", "incomplete_details", "model", "output",
        "usage", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text", "reasoning",
        "max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs", "user",
        "safety_identifier", "metadata", "store", "previous_response_id", "background", "truncation",
        "service_tier", "prompt_cache_key", "prompt_cache_retention"],
        description="OpenAI's response object. The request's settings are repeated (with OpenAI's defaults); "
                    "`output_text` is the SDKs' own property, not sent."),
})


def resp_event(name, props, required, text):
    data = obj({"type": {"const": name}, "sequence_number": COUNT, **props},
               ["type", "sequence_number", *required])
    return obj({"event": {"const": name}, "data": json_text(data)}, ["event", "data"], description=text)


IN_ITEM = {"item_id": S, "output_index": COUNT}
IN_PART = {**IN_ITEM, "content_index": COUNT}
IN_SUMMARY = {**IN_ITEM, "summary_index": {"const": 0}}
WHOLE = {"response": ref("ResponseObject")}
PART_JSON = {"oneOf": [obj({"type": {"const": "output_text"}, "text": S, "annotations": {"type": "array"},
                            "logprobs": {"type": "array"}}, ["type", "text", "annotations", "logprobs"]),
                       obj({"type": {"const": "refusal"}, "refusal": S}, ["type", "refusal"])]}
SUMMARY_PART = obj({"type": {"const": "summary_text"}, "text": S}, ["type", "text"])
LOGPROBS = {"type": "array", "items": {"type": "object"}}
RESPONSE_EVENTS = [
    ("response.created", WHOLE, "First: the response, `in_progress`, with no output."),
    ("response.in_progress", WHOLE, "Second: the same."),
    ("response.output_item.added", {"output_index": COUNT, "item": ref("ResponseOutputItem")},
     "An item begins (`in_progress`, empty); items never interleave."),
    ("response.content_part.added", {**IN_PART, "part": PART_JSON}, "A message part begins, empty."),
    ("response.output_text.delta", {**IN_PART, "delta": S, "logprobs": LOGPROBS}, "Text."),
    ("response.output_text.done", {**IN_PART, "text": S, "logprobs": LOGPROBS}, "The part's whole text."),
    ("response.refusal.delta", {**IN_PART, "delta": S}, "Refusal text."),
    ("response.refusal.done", {**IN_PART, "refusal": S}, "The whole refusal."),
    ("response.content_part.done", {**IN_PART, "part": PART_JSON}, "A message part ends, whole."),
    ("response.reasoning_summary_part.added", {**IN_SUMMARY, "part": SUMMARY_PART}, "Reasoning text begins."),
    ("response.reasoning_summary_text.delta", {**IN_SUMMARY, "delta": S}, "Reasoning text."),
    ("response.reasoning_summary_text.done", {**IN_SUMMARY, "text": S}, "The whole reasoning text."),
    ("response.reasoning_summary_part.done", {**IN_SUMMARY, "part": SUMMARY_PART}, "Reasoning text ends."),
    ("response.function_call_arguments.delta", {**IN_ITEM, "delta": S}, "A call's arguments, in pieces."),
    ("response.function_call_arguments.done", {**IN_ITEM, "name": S, "arguments": S}, "A call's whole arguments."),
    ("response.output_item.done", {"output_index": COUNT, "item": ref("ResponseOutputItem")},
     "An item ends, whole (a reasoning item with its `encrypted_content`)."),
    ("response.completed", WHOLE, "Last: the whole response, `completed`, with its usage."),
    ("response.incomplete", WHOLE, "Last, instead: cut by `max_output_tokens` or a content filter."),
    ("error", {"code": {"enum": ["server_error", "rate_limit_exceeded"]}, "message": S, "param": {"type": "null"}},
     "The provider failed mid-reply; `response.failed` follows."),
    ("response.failed", WHOLE, "Last, after `error`: what came so far, `failed`, with its `error`."),
]
components["schemas"]["ResponseStreamEvent"] = {
    "oneOf": [resp_event(name, props, list(props), text) for name, props, text in RESPONSE_EVENTS],
    "description": "One event of a streamed response: an `event:` line (the type) and a `data:` line "
                   "(the event's JSON, with `type` and `sequence_number`, 0, 1, 2…)."}
paths["/v1/responses"] = {"post": {
    "summary": "OpenAI Responses for any configured model (stateless)", "tags": ["openai"],
    "security": [{"apiKey": []}, {"bearer": []}],
    "description": "OpenAI's Responses API, so `client.responses.create(...)` (streamed or not) works for every "
                   "model; Anthropic and Gemini models are translated both ways. Stateless: nothing is stored, "
                   "`store` is false, and `previous_response_id`, `conversation`, `background` and item "
                   "references are refused (400): send the whole conversation in `input`, earlier output items "
                   "included. Reasoning comes back as `reasoning` items whose `encrypted_content` carries the "
                   "provider's signature: send them back and the turn continues intact. Organizations, usage "
                   "metering, budgets, rate limits and API-key scopes apply as on `/v1/chat/completions`.",
    "parameters": [{"name": "OpenAI-Organization", "in": "header", "required": False, "schema": S,
                    "description": "an organization id of the caller (access tokens only)"}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ResponseCreateRequest")}}},
    "responses": {"200": {"description": "The response object, or with `stream: true` a `text/event-stream` of "
                                         "its events",
                          "content": {"application/json": {"schema": ref("ResponseObject")},
                                      "text/event-stream": {"schema": ref("ResponseStreamEvent")}}},
                  **{str(c): {**OPENAI_ERROR, "description": t} for c, t in V1_ERRORS.items()}},
}}

# --- Federation, webhooks and the audit log ---
ORG_EVENT = {"enum": ["member.joined", "member.removed", "member.role_changed", "key.created", "key.revoked",
                      "conversation.deleted"]}
components["schemas"].update({
    "Webhook": obj({"url": S, "events": {"type": "array", "items": ORG_EVENT}, "created_at": TIME,
                    "updated_at": TIME}, ["url", "events", "created_at", "updated_at"],
                   description="The org's endpoint; the signing secret is never returned."),
    "WebhookDelivery": obj({
        "id": ID, "event": S, "event_id": ID, "status": {"enum": ["pending", "delivered", "failed"]},
        "attempts": {"type": "array", "items": obj({
            "at": TIME, "status_code": {"type": ["integer", "null"]},
            "error": {"type": ["string", "null"],
                      "description": "without an HTTP answer: `connection failed`, `timed out after 10 s`, "
                                     "`refused by policy: …`, `no endpoint is configured`…"},
            "duration_ms": COUNT}, ["at", "status_code", "error", "duration_ms"])},
        "created_at": TIME, "delivered_at": NULLABLE_TIME,
        "next_attempt_at": {**NULLABLE_TIME, "description": "while pending"},
    }, ["id", "event", "event_id", "status", "attempts", "created_at", "delivered_at", "next_attempt_at"]),
    "AuditEvent": obj({
        "id": ID, "type": AUDIT_TYPE,
        "created_at": TIME, "actor_id": {"type": ["string", "null"],
                                         "description": "null when unauthenticated; `deleted` once the account "
                                                        "is deleted"},
        "subject_id": {"type": ["string", "null"], "description": "the user acted upon (`deleted` once the "
                                                                  "account is deleted)"},
        "org_id": NULLABLE_S,
        "ip": {"type": ["string", "null"], "description": "null in /api/me/audit where another person acted"},
        "user_agent": NULLABLE_S, "details": {"type": "object"},
    }, ["id", "type", "created_at", "actor_id", "subject_id", "org_id", "ip", "user_agent", "details"]),
})
components["schemas"].update({
    "VoiceSession": obj({
        "id": ID, "org_id": ID, "user_id": {"type": ["string", "null"], "description": "null once deleted"},
        "room": {"type": "string", "description": "the LiveKit room name, `<org id>:<room>`"},
        "started_at": TIME, "ended_at": {**NULLABLE_TIME, "description": "null while in the room"},
        "duration_seconds": {"type": ["integer", "null"], "minimum": 0, "description": "null while in the room"},
    }, ["id", "org_id", "user_id", "room", "started_at", "ended_at", "duration_seconds"]),
    "OrgExport": obj({
        "format": {"const": "chatgate.org-export"}, "version": {"const": 1}, "org_id": ID, "exported_at": TIME,
        "org": obj({"id": ID, "name": S, "personal": {"type": "boolean"}, "created_at": NULLABLE_TIME,
                    "settings": ref("OrgSettings")}, ["id", "name", "personal", "settings"]),
        "members": {"type": "array", "items": ref("Member")},
        "invitations": {"type": "array", "items": ref("Invitation")},
        "usage": {"type": "array", "items": obj({
            "day": {"type": "string", "format": "date"}, "user_id": {"type": ["string", "null"]}, "model": S,
            "requests": COUNT, "prompt_tokens": COUNT, "completion_tokens": COUNT, "cost_micros": COUNT},
            ["day", "user_id", "model", "requests", "prompt_tokens", "completion_tokens", "cost_micros"])},
        "voice_sessions": {"type": "array", "items": ref("VoiceSession")},
        "audit": {"type": "array", "items": ref("AuditEvent")},
        "truncated": obj({k: {"type": "boolean"} for k in
                          ("members", "invitations", "usage", "voice_sessions", "audit")},
                         ["members", "invitations", "usage", "voice_sessions", "audit"]),
        "conversations": {"type": "array", "items": obj({
            "id": ID, "org_id": ID, "user_id": ID, "title": S, "model": S, "system_prompt": S,
            "created_at": TIME, "last_activity_at": TIME,
            "title_source": {"enum": ["default", "generated", "user"]}, **CONV_SETTINGS,
            "messages": {"type": "array", "items": {"type": "object"},
                         "description": "as GET /api/conversations/{id}/messages gives them (its current branch), "
                                        "oldest first"},
            "messages_truncated": {"type": "boolean"}},
            ["id", "org_id", "user_id", "title", "model", "created_at", "last_activity_at", "messages",
             "messages_truncated"])},
        "next_cursor": {"type": ["string", "null"]},
    }, ["format", "version", "org_id", "exported_at", "conversations", "next_cursor"],
        description="Every section but `conversations` is in the first file only (no `cursor`)."),
})
WEBHOOK_DOC = ("One endpoint per org. Each delivery is a POST of `{id, type, created_at, org_id, data}` with "
               "`chatgate-event-id` and `chatgate-signature: t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`, "
               "retried with exponential backoff and jitter (10 s, 30 s, 1.5 min… up to 1 h apart) until a 2xx, "
               "for up to 24 h. At least once: deduplicate on the event id. With `features.webhooks` false the "
               "webhook routes are 403 `feature_disabled`, no event is queued and pending retries fail. "
               "The URL must be https to a public "
               "host: loopback, private, link-local, unique-local, CGNAT, metadata and other internal or "
               "reserved addresses in any spelling (hex, decimal, octal, short forms, IPv4 inside IPv6), "
               "local names (single labels, localhost, *.local, *.internal, *.home.arpa…), credentials and "
               "plain http are refused (400), unless the operator lists the host in "
               "WEBHOOK_ALLOW_INSECURE_HOSTS (development only). Names are not resolved. The rule is "
               "applied again at every delivery attempt; a refused attempt reads `refused by policy: …`.")
HOOKS_403 = feature_off("webhooks", also_forbidden=True)
paths.update({
    "/api/livekit/token": {"post": op(
        "A LiveKit access token for a room of one of the caller's organizations", "federation", errors=(404, 503),
        ok=obj({"token": S, "url": S,
                "room": {"type": "string", "description": "the LiveKit room name, `<org id>:<room>`, as granted"}},
               ["token", "url", "room"]),
        extra_responses=feature_off("livekit"),
        description="The room belongs to `org_id` (absent: the caller's personal organization); its LiveKit name "
                    "is `<org id>:<room>`, so two organizations never share a room, and a room string holding "
                    "another organization's id or room name stays in the caller's organization (org ids contain "
                    "no `:`). HS256 with LIVEKIT_API_SECRET, `iss` LIVEKIT_API_KEY, identity (`sub`) the user id, "
                    "`name` participant_name or the user's name, valid 6 h. Every member gets `roomJoin`, "
                    "`canPublish`, `canSubscribe`, `canPublishData` for that room; owners and admins also "
                    "`roomAdmin`. 404 for an organization the caller is not in; 403 `feature_disabled` when it has "
                    "`features.livekit` false; 503 `service_unavailable` when LiveKit is not configured.",
        body=obj({"room": ROOM, "org_id": nullable(ORG_ID),
                  "participant_name": nullable(display_name("participant_name"))}, ["room"]))},
    "/api/embed/tickets": {"post": op(
        "A single-use, 60-second ticket for an embedding site", "federation", status=201, errors=(404,),
        ok=obj({"ticket": S, "expires_at": TIME}, ["ticket", "expires_at"]), extra_responses=feature_off("embed"),
        description="Bound to the caller, the org (any member) and `origin` (`https://host[:port]`, or http for "
                    "localhost, 127.0.0.1, [::1]; no path): only a page of that origin can exchange it.",
        body=obj({"org_id": ORG_ID, "origin": ORIGIN}, ["org_id", "origin"]))},
    "/api/embed/exchange": {
        "post": op("Exchange an embed ticket for session tokens, once", "federation", public=True,
                   ok=TOKENS_JSON, errors=(401, 403),
                   texts={401: "A used, expired or unknown ticket, or one issued for another origin (`unauthorized`)"},
                   body=obj({"ticket": S}, ["ticket"]),
                   description="Called by the embedding page (CORS). The `Origin` header must be the ticket's "
                               "origin. Answers as login does, with `refresh_token` always in the body (no cookie). "
                               "A used, expired or unknown ticket, or another origin, is 401; a ticket shown to "
                               "another origin is spent. 403 `feature_disabled` when its organization has "
                               "switched `features.embed` off since. " + AUTH_BODY_NOTE,
                   extra_responses=feature_off("embed")),
        "options": {"summary": "CORS preflight of the exchange", "tags": ["federation"], "security": [],
                    "responses": {"204": {"description": "access-control-allow-origin: the caller's origin"}}},
    },
    "/api/orgs/{org}/webhooks": {
        "get": op("The org's webhook endpoint (admin+)", "webhooks", ok=ref("Webhook"), errors=(404,),
                  params=(ORG,), description="404 when none is configured.", extra_responses=HOOKS_403),
        "put": op("Set the org's webhook endpoint (admin+)", "webhooks", ok=ref("Webhook"), errors=(404,),
                  params=(ORG,), description=WEBHOOK_DOC, extra_responses=HOOKS_403,
                  body=obj({"url": WEBHOOK_URL, "secret": SECRET,
                            "events": {"type": "array", "items": ORG_EVENT, "minItems": 1,
                                       "description": "duplicates are dropped"}},
                           ["url", "secret", "events"])),
        "delete": op("Remove the org's webhook endpoint (admin+)", "webhooks", status=204, errors=(404,),
                     params=(ORG,), description="Pending deliveries fail at their next attempt.",
                     extra_responses=HOOKS_403),
    },
    "/api/orgs/{org}/webhooks/deliveries": {"get": op(
        "The org's webhook deliveries with their attempts, newest first (admin+)", "webhooks",
        ok=page(ref("WebhookDelivery")), errors=(400, 404), params=(ORG, LIMIT, CURSOR),
        description="Finished deliveries are kept 30 days.", extra_responses=HOOKS_403)},
    "/api/livekit/webhook": {"post": dict(op(
        "LiveKit's webhooks: voice sessions of the rooms chatgate issued tokens for", "federation", public=True,
        status=204, errors=(400, 401, 413, 503),
        ok_text="Recorded, or acknowledged and ignored",
        texts={401: "No `Authorization`, or not LiveKit's signature for this body with LIVEKIT_API_KEY and "
                    "LIVEKIT_API_SECRET (`unauthorized`)",
               400: "Signed, but the body is not a JSON object (`malformed_json`, `validation_failed`)",
               503: "LiveKit is not configured on this service (`service_unavailable`)"},
        description="Point LiveKit's webhooks here (LiveKit Cloud: Settings → Webhooks, signed with the API key "
                    "chatgate has; self-hosted: `webhook.api_key` and `webhook.urls`). The `Authorization` header "
                    "is LiveKit's JWT: HS256 with LIVEKIT_API_SECRET, `iss` LIVEKIT_API_KEY, valid now (60 s of "
                    "drift allowed), its `sha256` claim the base64 SHA-256 of the exact body. `participant_joined` "
                    "and `participant_left` of a room named `<org id>:<room>` whose participant identity is a "
                    "member of that organization open and close that user's voice session; `room_finished` "
                    "closes those still open. Every other event, room and participant is acknowledged and "
                    "ignored; a replayed event changes nothing."),
        requestBody={"required": True, "content": {"application/webhook+json": {"schema": obj({
            "event": S, "id": S, "createdAt": {"type": ["string", "integer"]},
            "room": obj({"sid": S, "name": S}, extra=True),
            "participant": obj({"sid": S, "identity": S, "joinedAt": {"type": ["string", "integer"]},
                                "joinedAtMs": {"type": ["string", "integer"]}}, extra=True),
        }, extra=True, description="LiveKit's `WebhookEvent` in protobuf's JSON form")}}})},
    "/api/me/voice-sessions": {"get": op(
        "The caller's voice sessions (LiveKit), newest first", "me", ok=page(ref("VoiceSession")), errors=(400,),
        params=(query("org_id", S, "only this organization's"), LIMIT, CURSOR))},
    "/api/orgs/{org}/export": {"get": op(
        "Export the organization's data as a JSON file (owner)", "orgs", errors=(400, 403, 404),
        params=(ORG, query("cursor", {"type": "string", "format": "cursor"},
                           "`next_cursor` of the previous file: its next conversations")),
        ok=ref("OrgExport"),
        texts={403: "The caller is a member without the owner role (`forbidden`)"},
        description="`content-disposition: attachment; filename=\"chatgate-<org id>-<day>.json\"`, "
                    "`cache-control: no-store`; recorded in the audit log (`org.exported`). The first file holds "
                    "everything but the later conversations: the organization and its settings, members, pending "
                    "invitations, usage by day, user and model, voice sessions, the audit log (each up to 10,000 "
                    "rows, newest first, `truncated` says which were cut) and up to 25 conversations, oldest "
                    "first, with their messages (the newest 1,000 each, oldest first; `messages_truncated`; "
                    "attachments listed, not included). Fewer conversations once a file's messages pass 16 MiB. "
                    "While `next_cursor` is not null, ask again with `?cursor=` for a file of only the next "
                    "conversations.")},
    "/api/me/audit": {"get": op(
        "The caller's security events (as actor or subject), newest first", "audit", ok=page(ref("AuditEvent")),
        errors=(400,), params=(LIMIT, CURSOR), description="Kept 90 days.")},
    "/api/orgs/{org}/audit": {"get": op(
        "The org's security events, newest first (admin+)", "audit", ok=page(ref("AuditEvent")),
        errors=(400, 403, 404), params=(ORG, LIMIT, CURSOR), description="Kept 90 days.")},
})

# --- The mailbox: verified addresses, address changes, password resets, the sign-up policy ---
ACCEPTED = obj({"detail": S}, ["detail"])
TOKEN_400 = ("`token` is used, expired or unknown (`validation_failed` with `param: token`), or the body is "
             "invalid")
components["schemas"].update({
    "SignUpPolicy": obj({
        "registration": {"enum": ["open", "invite-only", "closed"],
                         "description": "`ALLOW_REGISTRATION`: anyone, only an address with a pending invitation, "
                                        "or no one"},
        "registration_domains": {"type": "array", "items": S,
                                 "description": "`REGISTRATION_DOMAINS` (ASCII, lower-case): when not empty, only "
                                                "addresses at these domains may sign up"},
        "require_verified_email": {"type": "boolean",
                                   "description": "`REQUIRE_VERIFIED_EMAIL`: model calls need a verified address"},
        "dev_mailbox": {"type": "boolean", "description": "`DEV_MAILBOX=on`: GET /api/dev/mailbox exists"},
    }, ["registration", "registration_domains", "require_verified_email", "dev_mailbox"]),
    "SignInProvider": obj({"id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,31}$"}, "name": S,
                           "type": {"enum": ["google", "microsoft", "github", "oidc"]}}, ["id", "name", "type"]),
    "Identity": obj({"id": ID, "provider": S, "provider_name": S,
                     "email": {"type": "string", "description": "the address the provider gave at the last sign-in"},
                     "created_at": TIME, "last_used_at": TIME},
                    ["id", "provider", "provider_name", "email", "created_at", "last_used_at"]),
    "DevMail": obj({"id": ID, "to": S, "subject": S,
                    "text": {"type": "string", "description": "plain text; links are absolute and carry the "
                                                              "token in `?token=`"},
                    "html": S, "created_at": TIME}, ["id", "to", "subject", "text", "html", "created_at"]),
})
paths.update({
    "/api/auth/policy": {"get": op(
        "How this server lets people in: the registration policy, verification, the dev mailbox", "auth",
        public=True, ok=ref("SignUpPolicy"))},
    "/api/auth/verify-email": {"post": op(
        "Open a verification link (signed in or not)", "auth", public=True, status=204, errors=(409,),
        texts={400: TOKEN_400, 409: "A link to a new address that another account has taken since (`conflict`)"},
        description="The token of a link mailed at sign-up (or by the resend route): the account's address is "
                    "verified (`email_verified: true` in /api/me). The token of a link mailed to a new address "
                    "(POST /api/me/email): that address becomes the account's, verified, and the account's other "
                    "unused links (verification, address change, password reset) stop working. A link works once "
                    "and for 24 hours; a used, expired or unknown one, a password-reset link, or a verification "
                    "link for an address the account has left since, is 400. " + AUTH_BODY_NOTE,
        body=obj({"token": S}, ["token"]))},
    "/api/auth/verify-email/resend": {"post": op(
        "Mail a new verification link to the caller's address", "auth", status=202, ok=ACCEPTED, errors=(409, 429),
        ok_text="Accepted: the link is mailed after the response",
        texts={409: "The address is verified already (`conflict`)",
               429: "More than `EMAILS_PER_ACCOUNT_PER_HOUR` (5) resends this hour (`rate_limited`), with "
                    "`retry-after`"},
        description="Earlier verification links stop working. Counted per account before the mail is sent.")},
    "/api/auth/forgot-password": {"post": op(
        "Mail a password-reset link, if an account uses the address", "auth", public=True, status=202,
        ok=ACCEPTED, errors=(429,),
        ok_text="Accepted: the same body whether or not an account uses the address",
        texts={400: "The body is invalid, or `email` is not an address (`validation_failed`)",
               429: "More than `PASSWORD_RESETS_PER_ADDRESS_PER_HOUR` (20) requests from this client address, or "
                    "`EMAILS_PER_ACCOUNT_PER_HOUR` (5) for this email, this hour (`rate_limited`), with `retry-after`"},
        description="The answer and its timing do not tell whether an account uses the address: the same counts "
                    "and the same token are made either way, and the account's lookup, the link and the mail "
                    "happen after the response. The link (`/reset-password?token=…`) works once and for 30 "
                    "minutes. " + AUTH_BODY_NOTE,
        body=obj({"email": EMAIL}, ["email"]))},
    "/api/auth/reset-password": {"post": op(
        "Set a new password with a reset link", "auth", public=True, status=204,
        texts={400: TOKEN_400 + "; or `new_password` is refused (`param: new_password`, and the link still works)"},
        description="Every session of the account ends (its access and refresh tokens stop working at once), and "
                    "every other reset link with them; failed-login counts of the account are cleared; the address "
                    "becomes verified (the link proved it). Recorded as `password.reset` in the audit log. "
                    + AUTH_BODY_NOTE,
        body=obj({"token": S, "new_password": PASSWORD}, ["token", "new_password"]))},
    "/api/me/email": {"post": op(
        "Change the account's address: a link goes to the new one", "me", status=202, ok=ACCEPTED,
        errors=(409, 429), ok_text="Accepted: the link is mailed after the response",
        texts={400: "Invalid body or address, or the account's address already (`validation_failed`)",
               401: "Not authenticated, or a wrong password (`invalid_credentials`)",
               409: "Another account uses the address, or the account has no password to confirm with "
                    "(`conflict`; POST /api/auth/forgot-password mails a link that sets one)",
               429: "Too many wrong passwords for this account, or more than `EMAILS_PER_ACCOUNT_PER_HOUR` (5) "
                    "changes this hour (`rate_limited`), with `retry-after`"},
        description="The new address replaces the old one only when the link mailed to it is opened "
                    "(POST /api/auth/verify-email, within 24 hours); a newer request voids the older link. The old "
                    "address is told of the request. " + AUTH_BODY_NOTE,
        body=obj({"email": EMAIL, "password": S}, ["email", "password"]))},
    "/api/auth/providers": {"get": op(
        "The sign-in providers this server offers (OAuth 2.0 / OpenID Connect)", "auth", public=True,
        ok={"type": "array", "items": ref("SignInProvider")},
        description="Configured by the operator (GOOGLE_*, MICROSOFT_*, GITHUB_*, OIDC_PROVIDERS); empty when "
                    "none is. Sign in with one by sending the browser to `/api/auth/oauth/{id}/start`.")},
    "/api/auth/oauth/{provider}/start": {"get": op(
        "Start signing in with a provider: 302 to it", "auth", public=True, status=302,
        ok_text="To the provider's authorization endpoint (authorization code with PKCE S256, `state`, and "
                "`nonce` for OpenID providers), setting the cookie that binds the sign-in to this browser",
        errors=(404, 429),
        texts={404: "No such provider on this server (`not_found`)",
               429: "Too many sign-ins started from this client address (60 per 10 minutes; `rate_limited`), "
                    "with `retry-after`"},
        description="A browser navigation, not an API call. `next`: where the web client goes after signing in, "
                    "a path of this origin (anything else falls back to `/chat`). The sign-in must come back within "
                    "10 minutes, to the same browser, once. When the provider cannot be reached, 302 to "
                    "`/login?oauth_error=provider_unavailable`.",
        params=(PROVIDER_ID, query("next", {"type": "string", "maxLength": 1024},
                                   "a path of this origin to return to (default `/chat`)")))},
    "/api/auth/oauth/{provider}/callback": {"get": op(
        "The provider's return: sign in and 302 to the web client", "auth", public=True, status=302,
        ok_text="Signed in: to `next` with the refresh cookie set (the web client then refreshes); or not: "
                "to `/login?oauth_error=<reason>`",
        errors=(404,),
        texts={404: "No such provider on this server (`not_found`)"},
        description="Where the provider sends the browser back (register `<origin>/api/auth/oauth/{provider}/callback` "
                    "as the redirect URI). The code is exchanged (client_secret_basic or client_secret_post, as the "
                    "provider supports), the ID token's signature checked against the provider's JWKS and its "
                    "`iss`, `aud`, `azp`, `exp`, `iat` and `nonce` checked (GitHub: the account and its verified "
                    "primary address from its API). The account: the one linked to this provider account; else "
                    "the one with the address, when the provider verified it (linked now); else a new one, under "
                    "the registration policy, without a password. `oauth_error` reasons: `invalid_state` (unknown, "
                    "used, expired, or started in another browser), `issuer_mismatch` (`iss` names another "
                    "issuer, RFC 9207), `access_denied`, `provider_error`, "
                    "`invalid_request`, `code_exchange_failed`, `provider_unavailable`, `id_token_*` (signature, "
                    "expired, issuer, audience, azp, nonce…), `email_required`, `account_exists` (an account has "
                    "the address and the provider did not verify it), `registration_closed`, `rate_limited`.",
        params=(PROVIDER_ID, query("state", S, "the state sent to the provider"),
                query("code", S, "the authorization code"),
                query("error", S, "the provider's error code, when the user did not sign in"),
                query("iss", S, "the issuer, when the provider names it (RFC 9207): it must be the provider's")))},
    "/api/me/identities": {"get": op(
        "The sign-in providers linked to the account, and whether it has a password", "me",
        ok=obj({"items": {"type": "array", "items": ref("Identity")}, "next_cursor": {"type": "null"},
                "password": {"type": "boolean", "description": "whether the account also signs in with a password"}},
               ["items", "next_cursor", "password"]))},
    "/api/me/identities/{id}": {"delete": op(
        "Unlink a provider from the account", "me", status=204, errors=(404, 409),
        texts={409: "It is the account's last way to sign in (`conflict`): a password counts, so set one "
                    "(POST /api/auth/forgot-password) or link another provider first"},
        params=(path_param("id", "identity id"),))},
    "/api/dev/mailbox": {"get": op(
        "The dev mailbox: what would have been mailed, newest first (DEV_MAILBOX=on only)", "auth", public=True,
        ok=obj({"items": {"type": "array", "items": ref("DevMail"), "maxItems": 50}}, ["items"]),
        errors=(400, 404),
        texts={400: "`to` is not an address (`validation_failed`)",
               404: "The dev mailbox is off (`DEV_MAILBOX` is not `on`), as it is in production (`not_found`)"},
        description="For local development and tests: no authentication, every message with its links. The 50 "
                    "newest, to `to` only when given (compared as addresses are: case, Unicode spelling).",
        params=(query("to", EMAIL, "only messages to this address"),))},
})

for path in ("/api/auth/oauth/{provider}/start", "/api/auth/oauth/{provider}/callback"):
    redirect = paths[path]["get"]["responses"]["302"]
    redirect["headers"] = REDIRECT["headers"]

SSO_403 = ("the organization requires its members to sign in through its provider and this session was "
           "not (`sso_required`, naming it in `provider`)")
for path, ops in paths.items():
    org_scoped = "{org}" in path or path.startswith(("/api/conversations", "/api/keys", "/api/provider-keys",
                                                        "/api/livekit/", "/api/embed/tickets", "/v1/"))
    for method, o in ops.items():
        if not org_scoped or path == "/api/keys/{id}" or o.get("security") == []:
            continue
        r = o["responses"]
        if "403" in r:
            r["403"] = dict(r["403"], description=r["403"]["description"] + "; or " + SSO_403)
        else:
            r["403"] = problem(403, SSO_403[0].upper() + SSO_403[1:])

# --- Two-factor authentication and passkeys ------------------------------------------------
MFA_TOKEN = {"type": "string", "description": "the ticket of the login's answer: single use, 5 minutes"}
B64URL = {"type": "string", "pattern": "^[A-Za-z0-9_-]*={0,2}$", "description": "base64url"}
CODE = {"type": "string", "maxLength": 32, "description": "six digits from the authenticator app (spaces ignored)"}
RECOVERY_CODE = {"type": "string", "maxLength": 64,
                 "description": "one of the ten recovery codes, `xxxx-xxxx-xxxx-xxxx` (case, spaces and dashes ignored)"}
NULL = {"type": "null"}
PROOFS = (("code", CODE), ("recovery_code", RECOVERY_CODE), ("passkey", ref("AssertionCredential")))
CREDENTIAL_DESCRIPTOR = obj({"type": {"const": "public-key"}, "id": B64URL,
                             "transports": {"type": "array", "items": S}}, ["type", "id"])
components["schemas"].update({
    "SecondFactorRequired": obj({
        "mfa_required": {"const": True},
        "mfa_token": MFA_TOKEN,
        "methods": {"type": "array", "items": {"enum": ["totp", "recovery_code", "passkey"]},
                    "description": "`passkey` when the account has one"},
        "expires_in": {"type": "integer", "description": "seconds the ticket lasts (300)"},
    }, ["mfa_required", "mfa_token", "methods", "expires_in"],
        description="A login of an account with two-factor authentication on: no session yet; finish at "
                    "POST /api/auth/login/mfa."),
    "RegistrationCredential": obj({
        "id": B64URL, "rawId": B64URL, "type": {"const": "public-key"},
        "response": obj({"clientDataJSON": B64URL, "attestationObject": B64URL,
                         "transports": {"type": "array", "items": S}},
                        ["clientDataJSON", "attestationObject"], extra=True),
    }, ["id", "type", "response"], extra=True,
        description="`PublicKeyCredential.toJSON()` of `navigator.credentials.create` (WebAuthn L3 "
                    "RegistrationResponseJSON); other members are allowed and ignored."),
    "AssertionCredential": obj({
        "id": B64URL, "rawId": B64URL, "type": {"const": "public-key"},
        "response": obj({"clientDataJSON": B64URL, "authenticatorData": B64URL, "signature": B64URL,
                         "userHandle": {"type": ["string", "null"]}},
                        ["clientDataJSON", "authenticatorData", "signature"], extra=True),
    }, ["id", "type", "response"], extra=True,
        description="`PublicKeyCredential.toJSON()` of `navigator.credentials.get` (WebAuthn L3 "
                    "AuthenticationResponseJSON); other members are allowed and ignored."),
    "Passkey": obj({"id": ID, "name": S, "created_at": TIME, "last_used_at": NULLABLE_TIME,
                    "backed_up": {"type": "boolean", "description": "synced by its provider, as it last said"}},
                   ["id", "name", "created_at", "last_used_at", "backed_up"]),
})
FRESH_403 = ("The session was signed in more than 15 minutes ago (`reauthentication_required`): a passkey signs "
             "in alone, so adding one needs a recent sign-in")
PASSKEY_401 = "The passkey could not be verified (`unauthorized`): its challenge is unknown, used or expired, " \
              "it is not registered, made on another origin or for another relying party, its signature or " \
              "user verification fails, or its signature counter went backwards (recorded in the audit log)"
paths.update({
    "/api/auth/login/mfa": {"post": op(
        "The second step of a login: the ticket and one second factor", "auth", public=True, ok=TOKENS_JSON,
        errors=(401, 429),
        texts={401: "A ticket that is unknown, expired or used (`unauthorized`: log in again); a wrong, expired or "
                    "already used code or recovery code (`invalid_code`); a passkey that could not be verified "
                    "(`unauthorized`)",
               429: "Too many attempts (`rate_limited`), with `retry-after`: 5 per ticket, "
                    "`LOGIN_FAILURES_PER_ACCOUNT` per account and `LOGIN_FAILURES_PER_ADDRESS` per client address "
                    "in the login window, counted before the factor is checked"},
        description="Exactly one of `code` (TOTP: RFC 6238, 30 s, 6 digits, one step either way; each code is "
                    "accepted once, and none older than one accepted), `recovery_code` (each works once) or "
                    "`passkey` (an assertion for options of POST /api/auth/passkey/options `{mfa_token}`). The "
                    "answer is the login's; the ticket is then spent. Failures are `mfa.failed` in the audit "
                    "log, a used recovery code `mfa.recovery_code_used`. " + AUTH_BODY_NOTE.replace("16", "32"),
        body={"oneOf": [obj({"mfa_token": MFA_TOKEN, **{p: NULL for p, _ in PROOFS}, proof: schema,
                             "refresh_token_in": DELIVERY}, ["mfa_token", proof])
                        for proof, schema in PROOFS],
              "description": "the ticket and exactly one proof (a null is as absent)"})},
    "/api/me/2fa": {"get": op(
        "What protects the account beyond its password", "me",
        ok=obj({"enabled": {"type": "boolean", "description": "two-factor authentication (TOTP) is on"},
                "pending": {"type": "boolean", "description": "an enrolment waits for its first code"},
                "recovery_codes_left": COUNT, "passkeys": COUNT},
               ["enabled", "pending", "recovery_codes_left", "passkeys"]))},
    "/api/me/2fa/totp": {
        "post": op("Start a TOTP enrolment: a new secret, off until confirmed", "me", errors=(409, 429),
                   ok=obj({"secret": {"type": "string", "description": "160 bits, base32 without padding"},
                           "otpauth_uri": {"type": "string", "description": "`otpauth://totp/…` for a QR code"}},
                          ["secret", "otpauth_uri"]),
                   texts={401: "Not authenticated, or a wrong password (`invalid_credentials`)",
                          409: "Two-factor authentication is on already (`conflict`)",
                          429: "Too many wrong passwords for this account (`rate_limited`), with `retry-after`"},
                   description="The secret is sealed under the master key (ENCRYPTION_KEYS). Starting again "
                               "replaces a pending enrolment. " + AUTH_BODY_NOTE,
                   body=obj({"password": S}, ["password"])),
        "delete": op("Turn two-factor authentication off (or cancel a pending enrolment)", "me", status=204,
                     errors=(404, 429),
                     texts={400: "Neither or both of `code` and `password`, or an invalid body (`validation_failed`)",
                            401: "Not authenticated, a wrong password (`invalid_credentials`) or a wrong code "
                                 "(`invalid_code`)",
                            404: "Two-factor authentication is off (`not_found`)",
                            429: "Too many wrong codes or passwords for this account (`rate_limited`)"},
                     description="With a current code or the password; the recovery codes go too. Recorded as "
                                 "`2fa.disabled`. " + AUTH_BODY_NOTE,
                     body={"oneOf": [obj({"code": CODE, "password": NULL}, ["code"]),
                                     obj({"password": S, "code": NULL}, ["password"])],
                           "description": "a current code or the password (a null is as absent)"}),
    },
    "/api/me/2fa/totp/confirm": {"post": op(
        "Confirm the enrolment with a code: two-factor authentication is on", "me", errors=(409, 429),
        ok=obj({"recovery_codes": {"type": "array", "items": S, "minItems": 10, "maxItems": 10,
                                   "description": "shown this once; stored hashed; each works once"}},
               ["recovery_codes"]),
        texts={401: "Not authenticated, or a wrong code (`invalid_code`)",
               409: "No enrolment waits for a code, or two-factor authentication is on already (`conflict`)",
               429: "Too many wrong codes for this account (`rate_limited`), with `retry-after`"},
        description="Recorded as `2fa.enabled`. " + AUTH_BODY_NOTE,
        body=obj({"code": CODE}, ["code"]))},
    "/api/me/passkeys/options": {"post": op(
        "WebAuthn creation options to add a passkey", "me", errors=(403, 503),
        ok={"type": "object", "description": "PublicKeyCredentialCreationOptionsJSON: `rp` {id, name}, `user` {id "
                                             "(base64url of the account id), name, displayName}, `challenge`, "
                                             "`pubKeyCredParams` (ES256, Ed25519, RS256), `timeout`, "
                                             "`excludeCredentials`, `authenticatorSelection`, `attestation: none`"},
        texts={403: FRESH_403,
               503: "The relying party is unknown: no WEBAUTHN_RP_ID and the service was reached at an IP address "
                    "(`service_unavailable`)"},
        description="The challenge is single use and lasts 5 minutes. Takes no body (one is ignored).")},
    "/api/me/passkeys": {
        "post": op("Add a passkey: the attestation of the creation options", "me", status=201, ok=ref("Passkey"),
                   errors=(403, 409, 503),
                   texts={403: FRESH_403,
                          400: "The credential is malformed, was made on another origin or for another relying "
                               "party, for a used or expired challenge, or with an unsupported key "
                               "(`validation_failed`, `param: credential`)",
                          409: "The passkey is registered already, or the account has 20 (`conflict`)"},
                   description="Attestation is neither asked for nor evaluated. Recorded as `passkey.added`. "
                               "Bodies up to 64 KiB.",
                   body=obj({"credential": ref("RegistrationCredential"), "name": NAME}, ["credential"])),
        "get": op("The account's passkeys, oldest first", "me", ok=page(ref("Passkey")), errors=(400,),
                  params=(LIMIT, CURSOR)),
    },
    "/api/me/passkeys/{id}": {
        "patch": op("Rename a passkey", "me", ok=ref("Passkey"), errors=(404,),
                    params=(path_param("id", "passkey id"),), body=obj({"name": NAME}, ["name"])),
        "delete": op("Remove a passkey", "me", status=204, errors=(404, 409), params=(path_param("id", "passkey id"),),
                     texts={409: "It is the account's last way to sign in (`conflict`): no password, no linked "
                                 "provider, no other passkey; set a password (POST /api/auth/forgot-password) first"}),
    },
    "/api/auth/passkey/options": {"post": op(
        "WebAuthn request options to sign in with a passkey", "auth", public=True, body_required=False,
        errors=(401, 429, 503),
        ok=obj({"challenge": B64URL, "timeout": INT, "rpId": S,
                "allowCredentials": {"type": "array", "items": CREDENTIAL_DESCRIPTOR},
                "userVerification": {"enum": ["required", "preferred"]}},
               ["challenge", "timeout", "rpId", "allowCredentials", "userVerification"],
               description="PublicKeyCredentialRequestOptionsJSON"),
        texts={400: "Both `email` and `mfa_token`, or an invalid body (`validation_failed`)",
               401: "An `mfa_token` that is unknown, expired or used (`unauthorized`)",
               429: "More than `LOGIN_FAILURES_PER_ADDRESS` requests from this client address in the login window "
                    "(`rate_limited`)",
               503: "The relying party is unknown: no WEBAUTHN_RP_ID and the service was reached at an IP address "
                    "(`service_unavailable`)"},
        description="No body or `{}`: any discoverable passkey of this relying party (user verification "
                    "required). `{email}`: that account's passkeys; an address without any (or without an "
                    "account) gets one stand-in credential id, the same each time, so the answer does not tell. "
                    "`{mfa_token}`: the passkeys of the login waiting for its second factor (presence is "
                    "enough). The challenge is single use and lasts 5 minutes. " + AUTH_BODY_NOTE,
        body={"anyOf": [obj({"email": nullable(EMAIL), "mfa_token": NULL}),
                        obj({"mfa_token": nullable(MFA_TOKEN), "email": NULL})],
              "description": "`{}`, `{email}` or `{mfa_token}` (a null is as absent)"})},
    "/api/auth/passkey": {"post": op(
        "Sign in with a passkey alone", "auth", public=True, ok=TOKENS_JSON, errors=(401, 429, 503),
        texts={401: PASSKEY_401,
               429: "Too many failed sign-ins from this client address (`rate_limited`), with `retry-after`"},
        description="An assertion for options of POST /api/auth/passkey/options (no `mfa_token`): the "
                    "authenticator must have verified the user (PIN, biometrics). The answer is the login's. "
                    "Recorded as `login.succeeded` (`method: passkey`) or `login.failed`. " + AUTH_BODY_NOTE,
        body=obj({"credential": ref("AssertionCredential"), "refresh_token_in": DELIVERY}, ["credential"]))},
})
# The login's answer when a second factor is due.
paths["/api/auth/login"]["post"]["responses"]["200"] = {
    "description": "The tokens; or, when the account has two-factor authentication on, no session yet and the "
                   "ticket of the second step",
    "content": {"application/json": {"schema": {"oneOf": [TOKENS_JSON, ref("SecondFactorRequired")]}}}}

# --- The operator's console (src/routes/admin.rs) ------------------------------------------
ADMIN_401 = ("No credential (`unauthorized`), or an expired access token (`token_expired`): refresh it. Every "
             "other caller who is not a service admin (an API key, a token that is not valid, an ended session, "
             "an account not in ADMIN_EMAILS or not verified) gets 404")
ADMIN_404 = "Not a service admin (as for a path that does not exist), or no such resource (`not_found`)"
ADMIN_TEXTS = {401: ADMIN_401, 404: ADMIN_404}
USER_ID = path_param("id", "user id")
SEARCH = query("q", {"type": "string", "maxLength": 254},
               "an exact id, or part of an address (compared by its normalized form) or of a name")
PERIOD = (query("from", {"anyOf": [{"type": "string", "format": "date"}, TIME]},
                "YYYY-MM-DD or RFC 3339, inclusive (default: start of this month)"),
          query("to", {"anyOf": [{"type": "string", "format": "date"}, TIME]},
                "YYYY-MM-DD or RFC 3339, exclusive (default: the start of next month)"))
ADMIN_DOC = ("Service admins only: accounts whose verified address is in ADMIN_EMAILS (compared by its normalized "
             "form), signed in with a session; never granted through the API, never with an API key. Any other "
             "caller gets 404 (401 only without a credential or with an expired access token).")


def admin_op(summary, **kw):
    texts = {**ADMIN_TEXTS, **kw.pop("texts", {})}
    errors = tuple(sorted({404, *kw.pop("errors", ())}))
    description = ADMIN_DOC + (" " + kw.pop("description") if "description" in kw else "")
    return op(summary, "admin", errors=errors, texts=texts, description=description, **kw)


components["schemas"].update({
    "AdminUser": obj({"id": ID, "email": S, "name": S, "created_at": TIME, "email_verified": VERIFIED,
                      "disabled_at": {**NULLABLE_TIME, "description": "when a service admin disabled the account; "
                                                                      "null while it is enabled"}},
                     ["id", "email", "name", "created_at", "email_verified", "disabled_at"]),
    "AdminUserDetail": obj({
        "id": ID, "email": S, "name": S, "created_at": TIME, "email_verified": VERIFIED,
        "disabled_at": NULLABLE_TIME,
        "service_admin": {"type": "boolean"},
        "orgs": {"type": "array", "items": ref("OrgMembership")},
        "sessions": {"type": "array", "items": ref("Session"), "description": "live sessions (`current` is false)"},
        "keys": {"type": "array", "items": ref("ApiKey"), "description": "the first 100 API keys, oldest first"},
        "usage": obj({"from": TIME, "to": TIME, "items": {"type": "array", "items": ref("UsageRow")}},
                     ["from", "to", "items"], description="this month's model calls (UTC), keyed by model"),
    }, ["id", "email", "name", "created_at", "email_verified", "disabled_at", "service_admin", "orgs", "sessions",
        "keys", "usage"]),
    "AdminUsageRow": obj({"key": S, "name": {"type": "string", "description": "the organization's name, with "
                                                                         "`group_by=org` (absent once it is deleted)"},
                          "requests": COUNT, "prompt_tokens": COUNT, "completion_tokens": COUNT,
                          "cost_micros": COUNT}, ["key", "requests", "prompt_tokens", "completion_tokens",
                                                   "cost_micros"]),
    "AdminOrg": obj({
        "id": ID, "name": S, "personal": {"type": "boolean"}, "created_at": TIME, "members": COUNT,
        "service_keys": {"type": "boolean", "description": "whether the service's provider keys serve the org "
                                                           "(after its members' own keys and its own)"},
        "settings": ref("OrgSettings"),
    }, ["id", "name", "personal", "created_at", "members", "service_keys", "settings"]),
})
paths.update({
    "/api/admin/users": {"get": admin_op(
        "Accounts, newest first", ok=page(ref("AdminUser")), errors=(400,), params=(SEARCH, LIMIT, CURSOR))},
    "/api/admin/users/{id}": {
        "get": admin_op("An account with its organizations, sessions, API keys and usage",
                        ok=ref("AdminUserDetail"), params=(USER_ID,)),
        "delete": admin_op("Delete an account and everything it owns", status=204, errors=(409,),
                           params=(USER_ID,),
                           description="As DELETE /api/me: its conversations, keys, sessions, memberships, and the "
                                       "organizations where it was the only owner. 409 for the caller's own "
                                       "account. Audited as `admin.user_deleted`."),
    },
    "/api/admin/users/{id}/disable": {"post": admin_op(
        "Disable an account", ok=ref("AdminUserDetail"), errors=(409,), params=(USER_ID,),
        description="Its sessions are revoked in the same transaction: an open session's next request is 401. "
                    "Until it is enabled again, its refresh tokens, its API keys and every sign-in method (password, "
                    "the second step, passkeys, OAuth/OIDC, embed tickets, a password reset) are refused with 403 "
                    "`account_disabled`. Disabling a disabled account changes nothing. 409 for the caller's own "
                    "account. Audited as `admin.user_disabled`.")},
    "/api/admin/users/{id}/enable": {"post": admin_op(
        "Enable a disabled account", ok=ref("AdminUserDetail"), params=(USER_ID,),
        description="It may sign in again and its API keys work again (its old sessions stay ended). "
                    "Audited as `admin.user_enabled`.")},
    "/api/admin/orgs": {"get": admin_op(
        "Organizations, newest first", ok=page(ref("AdminOrg")), errors=(400,), params=(SEARCH, LIMIT, CURSOR))},
    "/api/admin/orgs/{org}": {
        "get": admin_op("An organization, its settings and whether the service's keys serve it",
                        ok=ref("AdminOrg"), params=(ORG,)),
        "patch": admin_op(
            "Set or lift an organization's budget; whether the service's provider keys serve it",
            ok=ref("AdminOrg"), params=(ORG,),
            body=obj({"monthly_token_limit": {"type": ["integer", "null"], "minimum": 1,
                                              "maximum": 1000000000000,
                                              "description": "its `settings.monthly_token_limit`, as its admins "
                                                             "set it (never above DEFAULT_MONTHLY_TOKEN_LIMIT); "
                                                             "null lifts it; absent leaves it"},
                      "service_keys": {"type": "boolean",
                                       "description": "false: the service's provider keys (OPENAI_API_KEY…) no "
                                                      "longer serve it, only its members' and its own (400 "
                                                      "`no_provider_key` otherwise); its admins cannot change it"}},
                     minProperties=1),
            description="At least one field. Audited as `admin.org_budget_changed` and "
                        "`admin.org_service_keys_changed`, in the organization's log too."),
    },
    "/api/admin/orgs/{org}/members": {"get": admin_op(
        "An organization's members, oldest first", ok=page(ref("Member")), errors=(400,),
        params=(ORG, LIMIT, CURSOR))},
    "/api/admin/usage": {"get": admin_op(
        "Usage of the whole service", ok=page(ref("AdminUsageRow")), errors=(400,),
        description="As an organization's usage: every group in one page, ordered by key; grouped by "
                    "organization, each row also has its `name`.",
        params=(*PERIOD, query("group_by", {"enum": ["day", "org", "model"], "default": "day"}, "row key")))},
    "/api/admin/audit": {"get": admin_op(
        "The whole audit log, newest first", ok=page(ref("AuditEvent")), errors=(400,),
        description="Kept 90 days. Filters combine; an unknown `type` is 400.",
        params=(query("type", AUDIT_TYPE, "only events of this type"),
                query("actor", S, "only events this user did"),
                query("org", S, "only events in this organization"),
                query("from", {"anyOf": [{"type": "string", "format": "date"}, TIME]}, "YYYY-MM-DD or RFC 3339, "
                      "inclusive"),
                query("to", {"anyOf": [{"type": "string", "format": "date"}, TIME]}, "YYYY-MM-DD or RFC 3339, "
                      "exclusive"),
                LIMIT, CURSOR))},
    "/api/admin/signing-keys/rotate": {"post": admin_op(
        "Publish a new signing key now", ok=obj({
            "published": {"type": "string", "description": "the kid of the key published"},
            "deleted": {"type": "integer", "description": "superseded keys deleted (their tokens had expired)"},
        }, ["published", "deleted"]),
        description="The key appears in /.well-known/jwks.json at once and signs an hour later (verifiers that "
                    "cache the JWKS have it by then); the previous key verifies until its last tokens expire. "
                    "Audited as `admin.signing_key_rotated`.")},
})

# --- chatgate as an OpenID Provider (src/routes/oauth_clients.rs, src/routes/openid.rs) ---------
OAUTH_SCOPE = {"enum": ["openid", "profile", "email", "org", "offline_access"]}
OAUTH_REDIRECT_URI = {"type": "string", "minLength": 1, "maxLength": 2048, "pattern": r"^(?:https://[^\s#@/]+|http://(?:localhost|127\.0\.0\.1|\[::1\])(?::[0-9]{1,5})?)(?:[/?][^\s#]*)?$",
                      "description": "an absolute https URL, or http to localhost, 127.0.0.1 or [::1]; no fragment, "
                                     "no credentials. Matched exactly, character for character"}
CLIENT_ID = path_param("client_id", "OAuth client id")
components["schemas"].update({
    "OAuthClient": obj({
        "client_id": ID, "org_id": ID, "name": S,
        "redirect_uris": {"type": "array", "items": S, "minItems": 1, "maxItems": 10},
        "post_logout_redirect_uris": {"type": "array", "items": S, "maxItems": 10},
        "type": {"enum": ["confidential", "public"]},
        "scopes": {"type": "array", "items": OAUTH_SCOPE},
        "any_user": {"type": "boolean", "description": "any chatgate user may authorize it, not only the "
                                                       "organization's members"},
        "created_at": TIME,
    }, ["client_id", "org_id", "name", "redirect_uris", "post_logout_redirect_uris", "type", "scopes", "any_user",
        "created_at"]),
})
paths.update({
    "/api/orgs/{org}/oauth-clients": {
        "post": op(
            "Register an OAuth client (an app that signs the organization's members in with chatgate)", "orgs",
            status=201, errors=(403, 404, 409), params=(ORG,),
            ok={**components["schemas"]["OAuthClient"],
                "properties": {**components["schemas"]["OAuthClient"]["properties"], "client_secret": {
                    "type": "string", "description": "confidential clients only: shown in this response only, "
                                                     "stored hashed"}}},
            texts={403: "The caller's role is below admin (`forbidden`)",
                   409: "The organization has 50 clients, the most allowed (`conflict`)"},
            description="Admin or owner. A confidential client authenticates at the token endpoint with its secret "
                        "(`client_secret_basic` or `client_secret_post`); a public one has no secret and must use "
                        "PKCE (S256). `scopes` (default `openid profile email`) are those it may ask for; `openid` "
                        "is required. Only the organization's members may authorize it, unless `any_user`. "
                        "Audited as `oauth_client.created`.",
            body=obj({"name": NAME,
                      "redirect_uris": {"type": "array", "items": OAUTH_REDIRECT_URI, "minItems": 1, "maxItems": 10,
                                        "uniqueItems": True},
                      "post_logout_redirect_uris": {"type": "array", "items": OAUTH_REDIRECT_URI, "maxItems": 10,
                                                    "uniqueItems": True,
                                                    "description": "where RP-initiated logout may return"},
                      "type": {"enum": ["confidential", "public"]},
                      "scopes": {"anyOf": [{"type": "array", "items": OAUTH_SCOPE, "uniqueItems": True,
                                            "contains": {"const": "openid"}}, {"type": "null"}],
                                 "description": "default (absent or null): openid profile email"},
                      "any_user": {"type": "boolean", "default": False}},
                     ["name", "redirect_uris", "type"])),
        "get": op("The organization's OAuth clients, oldest first (all of them: at most 50)", "orgs",
                  ok=obj({"items": {"type": "array", "items": ref("OAuthClient")}}, ["items"]),
                  errors=(403, 404), params=(ORG,),
                  texts={403: "The caller's role is below admin (`forbidden`)"}),
    },
    "/api/orgs/{org}/oauth-clients/{client_id}": {"delete": op(
        "Delete an OAuth client", "orgs", status=204, errors=(403, 404), params=(ORG, CLIENT_ID),
        texts={403: "The caller's role is below admin (`forbidden`)",
               404: "No such organization, or no such client in it (`not_found`)"},
        description="Admin or owner. Every token it holds stops working at once; its codes and users' consents "
                    "go with it. Audited as `oauth_client.deleted`.")},
})

OAUTH_ERROR = obj({"error": S, "error_description": S}, ["error"],
                  description="RFC 6749 5.2: `error` is an OAuth error code (`invalid_request`, `invalid_client`, "
                              "`invalid_grant`, `unsupported_grant_type`, `invalid_scope`; `invalid_token` at "
                              "userinfo)")


def oauth_error_response(text):
    return {"description": text, "content": {"application/json": {"schema": OAUTH_ERROR}}}


def form_body(schema):
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


CLIENT_AUTH = ("The client authenticates with `client_secret_basic` (`Authorization: Basic` of "
               "`client_id:client_secret`, each form-encoded) or `client_secret_post` (both in the body); a public "
               "client sends only `client_id`. A failed authentication is 401 `invalid_client` (with "
               "`WWW-Authenticate: Basic` when Basic was used). Parameters are at most once each (else "
               "`invalid_request`); an empty one is as absent. A body other than form-encoded is 400 "
               "`invalid_request`. Bodies up to 16 KiB.")
CLIENT_FORM = {"client_id": {"type": "string", "maxLength": 200}, "client_secret": {"type": "string", "maxLength": 200}}
OAUTH_SCOPES_TEXT = "space-separated scopes: `openid` (required) and any of `profile email org offline_access` the client may ask for"
components["securitySchemes"]["clientAccessToken"] = {
    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    "description": "An access token the token endpoint issued to an OAuth client: an ES256 JWT (a key of "
                   "GET /.well-known/jwks.json) with `aud` the client id, `scope`, `typ: chatgate.client_access`; "
                   "15 minutes. chatgate's own routes refuse it."}
components["schemas"].update({
    "OAuthGrant": obj({
        "client_id": ID, "client_name": S, "org_id": ID, "org_name": S,
        "scopes": {"type": "array", "items": OAUTH_SCOPE}, "created_at": TIME, "updated_at": TIME,
    }, ["client_id", "client_name", "org_id", "org_name", "scopes", "created_at", "updated_at"]),
})
paths.update({
    "/.well-known/openid-configuration": {"get": op(
        "OpenID Provider metadata (discovery)", "oauth", public=True,
        ok=obj({"issuer": S, "authorization_endpoint": S, "token_endpoint": S, "userinfo_endpoint": S,
                "jwks_uri": S, "revocation_endpoint": S, "end_session_endpoint": S,
                "scopes_supported": {"type": "array", "items": S},
                "response_types_supported": {"type": "array", "items": S}}, ["issuer", "authorization_endpoint",
                                                                            "token_endpoint", "jwks_uri"],
               extra=True),
        description="OpenID Connect Discovery 1.0. `issuer` is PUBLIC_URL, else the origin the request came to; "
                    "the authorization code flow only, PKCE S256, ID tokens ES256. `sub` is the user's id, the "
                    "same for every client. `Cache-Control: public, max-age=600`.")},
    "/api/oauth/authorize": {"post": op(
        "The consent decision of the authorization page (GET /oauth/authorize)", "oauth", public=True,
        errors=(401, 403),
        ok={"oneOf": [
            obj({"redirect_to": {"type": "string", "description": "where the browser goes: the client's redirect "
                                                                 "URI with `code` and `state`, or with `error`, "
                                                                 "`error_description` and `state`"}},
                ["redirect_to"]),
            obj({"consent": obj({
                "client": obj({"client_id": ID, "name": S}, ["client_id", "name"]),
                "org": {"anyOf": [obj({"id": ID, "name": S}, ["id", "name"]), {"type": "null"}]},
                "scopes": {"type": "array", "items": OAUTH_SCOPE},
                "previously_granted": {"type": ["array", "null"], "items": OAUTH_SCOPE}},
                ["client", "org", "scopes", "previously_granted"])}, ["consent"],
                description="no `decision` and the user has not allowed these scopes: show the consent page"),
            obj({"login_required": {"const": True}}, ["login_required"],
                description="the sign-in is older than `max_age` (or `prompt=login`): sign in again, then ask "
                            "again"),
        ]},
        texts={400: "No such client, or a `redirect_uri` it did not register (never redirected), a field over "
                    "its length, or an invalid body (`validation_failed`)",
               401: "Not signed in (without `prompt=none`, which redirects with `login_required` instead)",
               403: "The user is not a member of the client's organization (unless the client is for any user), "
                    "or the organization requires a sign-in provider or two-factor authentication the session "
                    "lacks (`forbidden`, `sso_required`, `mfa_required`)"},
        description="Called by the web client's page at /oauth/authorize with the authorization request's "
                    "parameters and the user's access token (optional: `prompt=none` needs none). Once the client "
                    "and its redirect URI are known good, every other error is a redirect with `error` (RFC 6749 "
                    "4.1.2.1): `unsupported_response_type`, `invalid_scope`, `invalid_request` (PKCE missing for a "
                    "public client, a method other than S256, a bad `prompt` or `max_age`), `login_required`, "
                    "`consent_required`, `access_denied`. Consent is remembered per user and client: a covered "
                    "request (without `prompt=consent`) gets its code at once. `decision: allow` records the "
                    "consent (`oauth_consent.granted`). A sign-in counts as fresh for `max_age` or 10 minutes, "
                    "whichever is longer (`prompt=login` is `max_age=0`). Codes are single use, live 60 s and are "
                    "bound to the client, the redirect URI and the PKCE challenge. " + AUTH_BODY_NOTE,
        body=obj({"client_id": {"type": "string", "maxLength": 200}, "redirect_uri": {"type": "string", "maxLength": 2048},
                  "response_type": nullable({"type": "string", "maxLength": 100}),
                  "response_mode": nullable({"type": "string", "maxLength": 100}),
                  "scope": nullable({"type": "string", "maxLength": 200, "description": OAUTH_SCOPES_TEXT}),
                  "state": nullable({"type": "string", "maxLength": 2048}),
                  "nonce": nullable({"type": "string", "maxLength": 512}),
                  "code_challenge": nullable({"type": "string", "maxLength": 128}),
                  "code_challenge_method": nullable({"type": "string", "maxLength": 20}),
                  "prompt": nullable({"type": "string", "maxLength": 100}),
                  "max_age": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 999999999999},
                                        {"type": "string", "pattern": "^[0-9]{0,12}$"}, {"type": "null"}]},
                  "decision": nullable({"enum": ["allow", "deny"]})},
                 ["client_id", "redirect_uri"]))},
    "/api/oauth/logout": {"post": op(
        "Check an RP-initiated logout request (the page at /oauth/logout)", "oauth", public=True,
        ok=obj({"redirect_to": {"type": ["string", "null"], "description": "the registered "
                                                                          "`post_logout_redirect_uri` with `state`; "
                                                                          "null: stay on chatgate"},
                "client_name": NULLABLE_S}, ["redirect_to", "client_name"]),
        texts={400: "A field over its length, an `id_token_hint` that is not an ID token of this server, a `client_id` that differs from "
                    "its audience or names no client, or a `post_logout_redirect_uri` the client did not "
                    "register or without a client to say whose (`validation_failed`)"},
        description="OpenID Connect RP-Initiated Logout 1.0: the end_session_endpoint is the web client's page "
                    "/oauth/logout, which asks this, signs the user out of chatgate and goes to `redirect_to`. "
                    "An expired ID token is a valid hint. " + AUTH_BODY_NOTE,
        body=obj({"id_token_hint": nullable({"type": "string", "maxLength": 8192}),
                  "client_id": nullable({"type": "string", "maxLength": 200}),
                  "post_logout_redirect_uri": nullable({"type": "string", "maxLength": 2048}),
                  "state": nullable({"type": "string", "maxLength": 2048})}))},
    "/oauth/token": {"post": {
        "summary": "The token endpoint: an authorization code or a refresh token for tokens", "tags": ["oauth"],
        "security": [],
        "description": "Any origin may call it (`access-control-allow-origin: *`; it takes no cookie), as "
                       "discovery, userinfo and revocation. "
                       "RFC 6749 4.1.3 and 6, OpenID Connect Core 3.1.3. `authorization_code`: the code (single "
                       "use, 60 s; presented again, the tokens it gave are revoked), the same `redirect_uri`, and "
                       "the PKCE `code_verifier` when the request had a challenge. `refresh_token`: rotated on "
                       "every use (the answer has the next one); a used token presented again more than 10 s "
                       "later revokes the grant (`refresh.reuse_detected`). A refresh token is issued only with "
                       "the `offline_access` scope. Refused (`invalid_grant`) once the user left the client's "
                       "organization (unless it is for any user), the account is disabled, or the consent was "
                       "revoked. Errors are RFC 6749 5.2 JSON. " + CLIENT_AUTH,
        "requestBody": form_body(obj({
            "grant_type": {"type": "string", "maxLength": 100,
                           "description": "`authorization_code` or `refresh_token` (else `unsupported_grant_type`)"},
            "code": {"type": "string", "maxLength": 200}, "redirect_uri": {"type": "string", "maxLength": 2048},
            "code_verifier": {"type": "string", "maxLength": 200},
            "refresh_token": {"type": "string", "maxLength": 200},
            "scope": {"type": "string", "maxLength": 200, "description": "refresh only: a subset of the grant's"},
            **CLIENT_FORM}, ["grant_type"])),
        "responses": {
            "200": json_response(obj({
                "access_token": {"type": "string", "description": "ES256 JWT, `aud` the client id (see the "
                                                                 "clientAccessToken scheme)"},
                "token_type": {"const": "Bearer"}, "expires_in": {"const": 900}, "scope": S,
                "id_token": {"type": "string", "description": "ES256 with `kid`; `iss`, `sub` (user id), `aud`, "
                                                             "`exp`, `iat`, `auth_time`, `nonce`, `at_hash`, "
                                                             "`azp`, and the scopes' claims"},
                "refresh_token": {"type": "string", "description": "with `offline_access` only"}},
                ["access_token", "token_type", "expires_in", "scope"])),
            "400": oauth_error_response("`invalid_request`, `invalid_grant`, `unsupported_grant_type`, "
                                        "`invalid_scope`"),
            "401": oauth_error_response("`invalid_client`: unknown client, wrong or missing secret"),
            "413": problem(413),
        }}},
    "/oauth/userinfo": {"get": {
        "summary": "Claims about the user of a client's access token", "tags": ["oauth"],
        "security": [{"clientAccessToken": []}],
        "description": "OpenID Connect Core 5.3. `sub` (the user id); `email`, `email_verified` (scope email); "
                       "`name` (profile); `organization` {id, name, role, enabled_models, monthly_token_limit, "
                       "features} (org: the client's organization). 401 `invalid_token` once the grant is revoked, "
                       "the client deleted, or the user is no longer a member of its organization.",
        "responses": {
            "200": json_response(obj({
                "sub": S, "email": S, "email_verified": {"type": "boolean"}, "name": S,
                "organization": obj({"id": ID, "name": S, "role": {"enum": ["owner", "admin", "member", None]},
                                     "enabled_models": {"type": "array", "items": S},
                                     "monthly_token_limit": {"type": ["integer", "null"]},
                                     "features": {"type": "object", "additionalProperties": {"type": "boolean"}}},
                                    ["id", "name", "role", "enabled_models", "monthly_token_limit", "features"])},
                ["sub"])),
            "401": oauth_error_response("No bearer token (`invalid_request`), or one that is not a valid, live "
                                        "client access token (`invalid_token`); with `WWW-Authenticate: Bearer`"),
        }},
        "options": {"summary": "CORS preflight of userinfo", "tags": ["oauth"], "security": [],
                    "responses": {"204": {"description": "access-control-allow-origin: *, allow-methods GET, "
                                                         "allow-headers authorization"}}}},
    "/oauth/revoke": {"post": {
        "summary": "Revoke a token (RFC 7009)", "tags": ["oauth"], "security": [],
        "description": "A refresh token or an access token of this client: the grant it belongs to ends (its "
                       "other tokens too). An unknown token, or another client's, is answered the same: 200. "
                       + CLIENT_AUTH,
        "requestBody": form_body(obj({"token": {"type": "string", "maxLength": 8192},
                                      "token_type_hint": {"type": "string", "maxLength": 100}, **CLIENT_FORM},
                                     ["token"])),
        "responses": {
            "200": {"description": "Revoked, or nothing to revoke; no body"},
            "400": oauth_error_response("`invalid_request`"),
            "401": oauth_error_response("`invalid_client`"),
            "413": problem(413),
        }}},
    "/api/me/oauth-grants": {"get": op(
        "Connected apps: the OAuth clients the user has allowed, most recent first", "me",
        ok=obj({"items": {"type": "array", "items": ref("OAuthGrant")}}, ["items"]))},
    "/api/me/oauth-grants/{client_id}": {"delete": op(
        "Disconnect an app: revoke the consent and every token it holds for the user", "me", status=204,
        errors=(404,), params=(CLIENT_ID,),
        description="The next authorization asks for consent again. Audited as `oauth_consent.revoked`.")},
})

# A disabled account (the console) is refused wherever it would get in.
DISABLED_403 = "the account has been disabled by a service admin (`account_disabled`)"
for method, path in [("post", "/api/auth/login"), ("post", "/api/auth/refresh"), ("post", "/api/auth/login/mfa"),
                     ("post", "/api/auth/passkey"), ("post", "/api/auth/reset-password"),
                     ("post", "/api/embed/exchange")]:
    responses = paths[path][method]["responses"]
    if "403" in responses:
        responses["403"] = {**responses["403"],
                            "description": responses["403"]["description"].rstrip(".") + "; or " + DISABLED_403}
    else:
        responses["403"] = problem(403, DISABLED_403[0].upper() + DISABLED_403[1:])

# Organizations that require two-factor authentication: every route that acts in one.
MFA_403 = ("the organization requires two-factor authentication (`settings.require_2fa`) and the caller has "
           "none (`mfa_required`)")


# --- Search, share links, export and import (issue 16) --------------------------------------
components["schemas"].update({
    "SearchHit": obj({
        "conversation_id": ID,
        "message_id": {**NULLABLE_S, "description": "the message that matched; null for a match in the title"},
        "title": {**S, "description": "the conversation's title now"},
        "snippet": {**S, "description": "plain text around the match (about 12 words; `…` where it is cut), each "
                                        "matched word between U+0002 (start) and U+0003 (end); the indexed text "
                                        "never holds those characters, so render the snippet as text and mark "
                                        "what is between them"},
    }, ["conversation_id", "message_id", "title", "snippet"]),
})
paths.update({
    "/api/search": {"get": op(
        "Search the caller's conversations: titles and message text", "conversations",
        ok=page(ref("SearchHit")), errors=(400, 404),
        description="Newest match first. Every word of `q` must appear (the last one, from 3 letters or digits, may be the start of a word); "
                    "words are taken literally (quotes, `*`, `:`, `AND`/`OR`/`NEAR` are not operators). Only the "
                    "caller's own conversations, in organizations they still belong to (checked at query time: "
                    "leaving an organization hides its conversations from search at once). A user message and "
                    "its reply are indexed when the reply finishes (the reply only if it completed); titles as "
                    "they change. 400 (`validation_failed`, `param: q`) for a `q` with no letter or digit, over "
                    "200 characters or over 16 words; 404 for an `org_id` the caller is not in.",
        params=(query("q", {"type": "string", "minLength": 1, "maxLength": 200}, "the words to find (required)"),
                query("org_id", S, "only this organization's conversations"), LIMIT, CURSOR))},
    "/api/conversations/{id}/shares": {"post": op(
        "Make a share link: a read-only snapshot of the conversation", "conversations", status=201,
        ok=obj({"id": {**S, "description": "`shr_` and 144 random bits"},
                "url": {**S, "description": "the web client's read-only page of the link (`PUBLIC_URL` or this "
                                            "origin, `/s/{id}`)"}}, ["id", "url"]),
        keys=True, errors=(404,), params=(CONV,), body_required=False,
        body=obj({"up_to_message_id": {**NULLABLE_S, "description": "the last message shown (a message of the "
                                                                    "conversation's history, else 400); all by default"},
                  "include_attachments": {"type": "boolean", "default": False,
                                          "description": "show the user messages' images and files too (anyone "
                                                         "with the link can then read their bytes)"}}),
        description="The snapshot is taken now and stored: later messages never show. It holds the title and, "
                    "oldest first, the user's messages and the replies that were written (complete, or stopped "
                    "with text) as `{role, content, model}`: text, no reasoning, and attachments only with "
                    "`include_attachments` (each with a `url` under the link; an uploaded file's own id is never "
                    "shown). 400 for a conversation with no message yet, or a snapshot over 1 MiB of JSON (share "
                    "up to an earlier message); at most the newest 5,000 messages.")},
    "/api/shares/{id}": {
        "get": op("A share link's snapshot (no account needed)", "conversations", public=True, errors=(404,),
                  ok=obj({"title": S, "created_at": TIME,
                          "messages": {"type": "array", "items": obj({
                              "role": {"enum": ["user", "assistant"]}, "content": S, "model": NULLABLE_S,
                              "attachments": {"type": "array", "description": "only in a link that includes "
                                                                              "attachments, on user messages that have some",
                                              "items": obj({"type": {"enum": ["image", "document", "text"]},
                                                            "media_type": S, "size": COUNT, "name": S,
                                                            "url": {**S, "description": "the bytes: `/api/shares/{id}/attachments/{index}` on this origin"}},
                                                           ["type", "media_type", "size", "url"])}},
                              ["role", "content", "model"])}}, ["title", "messages", "created_at"]),
                  params=(path_param("id", "share link id"),),
                  description="Answered with `x-robots-tag: noindex, nofollow` and `cache-control: no-store`. 404 "
                              "once the link is revoked, its conversation deleted, or its owner no longer in the "
                              "conversation's organization."),
        "delete": op("Revoke a share link", "conversations", status=204, errors=(404,),
                     params=(path_param("id", "share link id"),),
                     description="The link's owner only; anyone else gets 404, as for a link that does not exist."),
    },
    "/api/shares/{id}/attachments/{index}": {"get": op(
        "An attachment of a share link (no account needed)", "conversations", public=True, errors=(404,),
        params=(path_param("id", "share link id"),
                {"name": "index", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": "^[0-9]+$"},
                 "description": "its place in the link, from 0 (as its `url` says)"}),
        description="Only for a link made with `include_attachments`; 404 otherwise, past the last one, once the "
                    "link is dead (as for the snapshot) or the file deleted. Served with its media type, "
                    "`x-content-type-options: nosniff`, `content-security-policy: default-src 'none'; sandbox`, "
                    "`x-robots-tag: noindex, nofollow` and `cache-control: no-store`.",
        extra_responses={"200": {"description": "The attachment's bytes", "content": {"*/*": {"schema": {
            "type": "string", "contentMediaType": "application/octet-stream"}}}}})},
    "/api/me/shares": {"get": op(
        "The caller's share links, newest first", "me", errors=(400,), params=(LIMIT, CURSOR),
        ok=page(obj({"id": ID, "url": S, "conversation_id": ID, "up_to_message_id": NULLABLE_S,
                     "title": {**S, "description": "the title when the link was made"},
                     "message_count": COUNT, "created_at": TIME,
                     "include_attachments": {"type": "boolean", "description": "whether the link shows attachments"}},
                    ["id", "url", "conversation_id", "up_to_message_id", "title", "message_count", "created_at",
                     "include_attachments"])))},
    "/api/conversations/{id}/export": {"get": {
        **op("Download the conversation (JSON or Markdown)", "conversations", keys=True, errors=(400, 404),
             params=(CONV, query("format", {"enum": ["json", "markdown"], "default": "json"}, "the file's format")),
             description="With `content-disposition: attachment` (`chatgate-{id}.json` or `.md`). JSON: `{format: "
                         "\"chatgate.conversation\", version: 1, exported_at, conversation, messages, "
                         "messages_truncated}` (messages as `GET …/messages` gives them, oldest first; images "
                         "listed, not included; the newest 10,000), which `POST /api/imports` takes back. "
                         "Markdown: the title, the system prompt, then each message under `## User` or "
                         "`## Assistant (model)`."),
        "responses": {**op("", "conversations", keys=True, errors=(400, 404))["responses"],
                      "200": {"description": "The file", "content": {
                          "application/json": {"schema": {"type": "object"}},
                          "text/markdown": {"schema": S}}}}}},
    "/api/imports": {"post": {
        **op("Import conversations: chatgate's export or ChatGPT's conversations.json", "conversations",
             status=201, errors=(400, 404, 413, 415),
             params=(query("org_id", S, "the organization they go to (default: the caller's personal one)"),),
             ok=obj({"imported": COUNT,
                     "conversations": {"type": "array", "items": obj({"id": ID, "title": S, "messages": COUNT},
                                                                     ["id", "title", "messages"])},
                     "skipped": {"type": "array", "items": obj({
                         "conversation": {**NULLABLE_S, "description": "the conversation's title, if about one"},
                         "reason": {**S, "description": "what was left out and why, with a count"}},
                         ["conversation", "reason"])}},
                    ["imported", "conversations", "skipped"]),
             texts={400: "The body is not JSON, or neither format (`validation_failed`)",
                    413: "The body is over 8 MiB (`payload_too_large`)",
                    415: "The body's content type is not JSON (`unsupported_media_type`)"},
             description="The body (JSON, at most 8 MiB) is chatgate's export of a conversation (one, or a list), or "
                         "ChatGPT's `conversations.json` (a list of `{title, mapping, current_node}`). At most 100 "
                         "conversations per request (the rest are reported as skipped). From ChatGPT: the path from "
                         "the root to `current_node` (the branch last seen), user and assistant messages with text "
                         "(`text`, and the text parts of `multimodal_text`); consecutive messages of one role joined; "
                         "system, tool and other messages, non-text parts, other content types, empty messages and "
                         "messages over 100,000 characters are skipped and counted. Each conversation becomes a new "
                         "one of the caller (its title; the model from a chatgate export if the organization allows "
                         "it, else the default), with complete, searchable messages."),
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [{"type": "object"}, {"type": "array"}]}}}}}},
})

# A disabled account (the console) is refused wherever it would get in.
DISABLED_403 = "the account has been disabled by a service admin (`account_disabled`)"
for method, path in [("post", "/api/auth/login"), ("post", "/api/auth/refresh"), ("post", "/api/auth/login/mfa"),
                     ("post", "/api/auth/passkey"), ("post", "/api/auth/reset-password"),
                     ("post", "/api/embed/exchange")]:
    responses = paths[path][method]["responses"]
    if "403" in responses:
        responses["403"] = {**responses["403"],
                            "description": responses["403"]["description"].rstrip(".") + "; or " + DISABLED_403}
    else:
        responses["403"] = problem(403, DISABLED_403[0].upper() + DISABLED_403[1:])

# Organizations that require two-factor authentication: every route that acts in one.
MFA_403 = ("the organization requires two-factor authentication (`settings.require_2fa`) and the caller has "
           "none (`mfa_required`)")


def acts_in_an_org(path, method):
    if path.startswith(("/api/orgs/{org}", "/api/conversations", "/v1/")):
        return True
    return (method, path) in {("post", "/api/keys"), ("put", "/api/provider-keys/{provider}"),
                              ("delete", "/api/provider-keys/{provider}"), ("post", "/api/livekit/token"),
                              ("post", "/api/embed/tickets"), ("post", "/api/imports")}


for path, item in paths.items():
    for method, operation in item.items():
        if not isinstance(operation, dict) or not acts_in_an_org(path, method):
            continue
        responses = operation["responses"]
        if "403" in responses:
            responses["403"] = {**responses["403"],
                                "description": responses["403"]["description"].rstrip(".") + "; or " + MFA_403}
        else:
            like = responses.get("401") or problem(403)
            responses["403"] = {**like, "description": MFA_403[0].upper() + MFA_403[1:]}

document = {
    "openapi": "3.1.0",
    "info": {
        "title": "chatgate",
        "version": "0.1.0",
        "description": "Edge-native authentication and AI-chat gateway. Errors are application/problem+json "
                       "(RFC 9457) with a stable `code`; /v1 errors use OpenAI's shape (Anthropic's under "
                       "/v1/messages). Every response carries "
                       "`x-request-id` (and the same as `request-id`); API responses also carry `Server-Timing` (milliseconds spent in each "
                       "phase: `auth`, then the route's own, such as `conversation`, `key` and `reply` "
                       "for a chat send). List endpoints take `limit` (1-100, default 20) and `cursor`. "
                       "A method a path does not have (`PUT /api/me`, `QUERY`, `PROPFIND`…) is 405 "
                       "`method_not_allowed` with `allow`.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "tags": [{"name": t} for t in ["service", "auth", "me", "orgs", "keys", "usage", "conversations", "files", "openai", "anthropic", "federation", "webhooks", "audit", "admin", "oauth"]],
    "paths": paths,
    "components": components,
}

if __name__ == "__main__":
    out = ROOT / "src" / "openapi.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}: {sum(len(v) for v in paths.values())} operations")
