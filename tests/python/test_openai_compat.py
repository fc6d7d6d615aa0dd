"""chatgate's OpenAI-compatible API driven by the official `openai` client: completions for
every provider (translated both ways), streaming, errors in OpenAI's shape, usage metering,
the org budget and the per-key rate limit under concurrency."""
from __future__ import annotations

import base64
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from conftest import JWT_SECRET, SERVICE_KEYS, Server, eventually, free_port, http, serving

PROVIDER_MODELS = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.5-flash"]
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def user(server):
    return server.register("py")


@pytest.fixture
def client(server, user):
    return server.openai(server.api_key(user))


def usage_rows(server, user, org=None, **params) -> dict:
    r = server.usage(user, org, **params)
    assert r.status_code == 200, r.text
    return {row["key"]: row for row in r.json()["items"]}


def error_of(exc: openai.APIStatusError) -> dict:
    return exc.response.json()["error"]


@pytest.mark.parametrize("model", PROVIDER_MODELS)
def test_a_completion_is_translated_for_each_provider_and_reports_usage(client, model):
    c = client.chat.completions.create(model=model, messages=HELLO)
    assert c.object == "chat.completion"
    assert c.model == model
    assert c.choices[0].message.role == "assistant"
    assert c.choices[0].message.content == "Echo: hello there "
    assert c.choices[0].finish_reason == "stop"
    # The mock counts prompt words and reply tokens.
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (2, 3, 5)


@pytest.mark.parametrize("model", PROVIDER_MODELS)
def test_a_streamed_completion_arrives_chunk_by_chunk_for_each_provider(client, model):
    stream = client.chat.completions.create(
        model=model, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(ch.object == "chat.completion.chunk" and ch.model == model for ch in chunks)
    assert len({ch.id for ch in chunks}) == 1
    deltas = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert "".join(deltas) == "Echo: hello there "
    assert len(deltas) >= 3, "relayed token by token, not buffered into one chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (2, 3)


def test_demo_echo_answers_without_any_provider_key_in_both_modes(client):
    c = client.chat.completions.create(model="demo/echo", messages=HELLO)
    assert c.choices[0].message.content.startswith("You said: hello there")
    assert c.usage.completion_tokens > 10
    stream = client.chat.completions.create(model="demo/echo", messages=HELLO, stream=True)
    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == c.choices[0].message.content


def test_the_usage_chunk_is_sent_only_when_include_usage_is_set(client):
    for model in ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "demo/echo"]:
        plain = list(client.chat.completions.create(model=model, messages=HELLO, stream=True))
        assert all(ch.usage is None and len(ch.choices) == 1 for ch in plain), model
        asked = list(client.chat.completions.create(
            model=model, messages=HELLO, stream=True, stream_options={"include_usage": True}
        ))
        with_usage = [ch for ch in asked if ch.usage is not None]
        assert with_usage == [asked[-1]], model
        assert asked[-1].usage.total_tokens > 0


def test_a_bad_api_key_raises_an_authentication_error_in_openai_shape(server):
    for key in ["cg_not-a-real-key", "sk-somebody-elses", "cg_" + "A" * 46]:
        with pytest.raises(openai.AuthenticationError) as e:
            server.openai(key).chat.completions.create(model="demo/echo", messages=HELLO)
        body = error_of(e.value)
        assert body["type"] == "authentication_error", body
        assert set(body) >= {"message", "type", "code", "param"}
        assert e.value.response.headers["content-type"].startswith("application/json")
    with pytest.raises(openai.AuthenticationError):
        server.openai("cg_nope").models.list()


def test_a_key_without_the_chat_scope_is_refused(server, user):
    key = server.api_key(user, scopes=["conversations"])
    with pytest.raises(openai.PermissionDeniedError) as e:
        server.openai(key).chat.completions.create(model="demo/echo", messages=HELLO)
    assert error_of(e.value)["type"] == "invalid_request_error"


def test_an_invalid_request_is_a_bad_request_in_openai_shape(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="demo/echo", messages=HELLO, extra_body={"temprature": 1})
    assert "unrecognized request argument supplied: temprature" in error_of(e.value)["message"]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="mistral/large", messages=HELLO)


def test_usage_rows_add_up_after_several_calls(server, user, client):
    for _ in range(3):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}])
    stream = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=HELLO, stream=True)
    list(stream)

    def settled():
        rows = usage_rows(server, user, group_by="model")
        done = rows.get("openai/gpt-4o-mini", {}).get("requests") == 3 and "gemini/gemini-2.5-flash" in rows
        return rows if done else None

    rows = eventually(settled)
    assert rows, usage_rows(server, user, group_by="model")
    gpt = rows["openai/gpt-4o-mini"]
    assert (gpt["prompt_tokens"], gpt["completion_tokens"]) == (9, 12)
    assert gpt["cost_micros"] > 0
    assert rows["gemini/gemini-2.5-flash"]["requests"] == 1
    by_user = usage_rows(server, user, group_by="user")
    assert by_user[user.id]["requests"] == 4
    by_day = server.usage(user).json()
    assert by_day["next_cursor"] is None and len(by_day["items"]) == 1
    assert by_day["items"][0]["requests"] == 4
    # An explicit period that ends before today holds nothing.
    assert server.usage(user, to="2020-01-01", **{"from": "2019-01-01"}).json()["items"] == []
    assert server.usage(user, group_by="colour").status_code == 400


def test_usage_is_for_admins_of_the_org_only(server, user):
    stranger = server.register("stranger")
    assert server.usage(stranger, org=user.org).status_code == 404


def test_24_concurrent_calls_against_a_100_token_budget_never_spend_past_it(server, user, client):
    server.set_settings(user, {"monthly_token_limit": 100})
    # Each call: prompt "go" (1 word upstream; estimated 1 + 4 for the message + 3 for the
    # request), 8 reply tokens, max_tokens 10: it reserves 18 and uses 9.

    def call(_):
        try:
            client.chat.completions.create(
                model="openai/mock-tokens-8", messages=[{"role": "user", "content": "go"}], max_tokens=10
            )
            return "ok"
        except openai.RateLimitError as e:
            assert error_of(e)["type"] == "insufficient_quota", error_of(e)
            assert int(e.response.headers["retry-after"]) > 0
            return "429"

    with ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(call, range(24)))
    assert "429" in outcomes and "ok" in outcomes, outcomes
    # Spend the rest one call at a time, until the budget refuses, and still does once the
    # previous call's settlement (sent after its answer) is surely in.
    for _ in range(20):
        if call(None) == "429":
            time.sleep(1)
            if call(None) == "429":
                break
    else:
        pytest.fail("the budget never ran out")

    def total():
        rows = usage_rows(server, user, group_by="model")
        return sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows.values())

    ok_calls = outcomes.count("ok")
    assert eventually(lambda: total() >= ok_calls * 9)
    used = total()
    # A call is admitted only when its whole reservation fits: never past the limit, and
    # refused only once less than one call's reservation is left.
    assert 100 - 18 < used <= 100, (used, outcomes)


def mock_requests(server, tag: str) -> list:
    """What the mock upstream received for models whose name carries `tag`."""
    r = http("GET", f"{server.mock_base}/__mock/requests")
    assert r.status_code == 200, r.text
    return [q for q in r.json() if tag in q["path"] or tag in str(q["body"].get("model", ""))]


CAPS = {
    "openai": lambda body: body.get("max_completion_tokens"),
    "anthropic": lambda body: body.get("max_tokens"),
    "gemini": lambda body: body.get("generationConfig", {}).get("maxOutputTokens"),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_every_provider_is_sent_a_completion_cap_within_what_the_budget_has_left(server, user, client,
                                                                                 provider, stream):
    server.set_settings(user, {"monthly_token_limit": 1000})
    tag = f"cap{uuid.uuid4().hex[:10]}"
    model = f"{provider}/mock-tokens-6000-{tag}"
    kw = {"stream_options": {"include_usage": True}} if stream else {}

    def create(**more):
        reply = client.chat.completions.create(model=model, messages=HELLO, stream=stream, **kw, **more)
        usage = [ch.usage for ch in reply if ch.usage][-1] if stream else reply.usage
        return usage.prompt_tokens + usage.completion_tokens

    # A lower max_tokens from the client is what goes upstream.
    first = create(max_tokens=7)
    assert CAPS[provider](mock_requests(server, tag)[-1]["body"]) == 7
    # Without one, the cap is what the budget has left after what was spent (or is still
    # reserved, if the first call's settlement is not in yet: 10 + 7) and the prompt
    # ("hello there": 3 tokens of text, 4 for the message, 3 for the request).
    second = create()
    cap = CAPS[provider](mock_requests(server, tag)[-1]["body"])
    assert cap in (1000 - first - 10, 1000 - 17 - 10), cap
    assert first + second <= 1000, (first, second)
def test_demo_echo_is_held_to_the_budget_and_a_cap_below_a_useful_reply_is_refused(server, user, client):
    server.set_settings(user, {"monthly_token_limit": 40})
    c = client.chat.completions.create(model="demo/echo", messages=HELLO)
    assert c.choices[0].finish_reason == "length", c
    assert c.usage.prompt_tokens + c.usage.completion_tokens <= 40, c.usage
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="demo/echo", messages=HELLO, stream=True)
    assert error_of(e.value)["code"] == "insufficient_quota"


def test_the_rpm_limit_admits_exactly_5_of_12_concurrent_calls(server, user):
    server.set_settings(user, {"rate_limit_rpm": 5})
    client = server.openai(server.api_key(user))

    def call(_):
        try:
            client.chat.completions.create(model="demo/echo", messages=HELLO)
            return "ok"
        except openai.RateLimitError as e:
            assert error_of(e)["type"] == "rate_limit_error", error_of(e)
            assert 1 <= int(e.response.headers["retry-after"]) <= 60
            return "429"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(call, range(12)))
    assert outcomes.count("ok") == 5, outcomes
    assert outcomes.count("429") == 7
    # Another key of the same org has its own window.
    other = server.openai(server.api_key(user))
    other.chat.completions.create(model="demo/echo", messages=HELLO)


def test_a_disabled_model_is_refused_and_v1_models_lists_the_enabled_ones(server, user, client):
    enabled = ["demo/echo", "anthropic/claude-haiku-4-5"]
    server.set_settings(user, {"enabled_models": enabled})
    models = client.models.list()
    assert [m.id for m in models.data] == enabled
    assert all(m.object == "model" for m in models.data)
    assert [m.owned_by for m in models.data] == ["chatgate", "anthropic"]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert "not enabled" in error_of(e.value)["message"]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO, stream=True)
    assert client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=HELLO).choices


def test_v1_models_lists_demo_and_the_default_models_of_each_provider_with_a_key(client):
    ids = [m.id for m in client.models.list().data]
    assert ids[0] == "demo/echo"
    for provider in ["openai", "anthropic", "gemini"]:
        assert any(i.startswith(provider + "/") for i in ids), (provider, ids)
    assert len(ids) == len(set(ids))


def test_an_access_token_acts_in_the_org_named_by_openai_organization(server, user):
    r = server.request("POST", "/api/orgs", user.token, json={"name": "Team"})
    assert r.status_code == 201, r.text
    team = r.json()["id"]
    c = server.openai(user.token, organization=team)
    c.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert eventually(lambda: usage_rows(server, user, org=team, group_by="model").get("openai/gpt-4o-mini"))
    assert usage_rows(server, user, group_by="model") == {}, "the personal org is untouched"
    # Without the header, the personal org.
    server.openai(user.token).chat.completions.create(model="demo/echo", messages=HELLO)
    assert eventually(lambda: usage_rows(server, user, group_by="model").get("demo/echo"))
    stranger = server.register("stranger")
    with pytest.raises(openai.NotFoundError):
        server.openai(user.token, organization=stranger.org).chat.completions.create(model="demo/echo", messages=HELLO)
    # An API key is bound to its org: naming another one is 404 too.
    key = server.api_key(user)
    with pytest.raises(openai.NotFoundError):
        server.openai(key, organization=team).chat.completions.create(model="demo/echo", messages=HELLO)


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_that_fails_at_once_is_a_real_http_error(client, stream):
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="openai/mock-status-429", messages=HELLO, stream=stream)
    assert error_of(e.value)["type"] == "rate_limit_error"
    assert e.value.response.headers.get("retry-after") == "7"
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="anthropic/mock-status-500", messages=HELLO, stream=stream)
    assert error_of(e.value)["type"] == "api_error"


def test_a_stream_cut_midway_ends_with_an_error_and_its_usage_is_still_recorded(server, user, client):
    stream = client.chat.completions.create(model="openai/mock-tokens-10-cut-4", messages=HELLO, stream=True)
    got = []
    with pytest.raises(openai.APIError):
        for ch in stream:
            if ch.choices and ch.choices[0].delta.content:
                got.append(ch.choices[0].delta.content)
    assert got == ["tok0 ", "tok1 ", "tok2 ", "tok3 "]
    row = eventually(lambda: usage_rows(server, user, group_by="model").get("openai/mock-tokens-10-cut-4"))
    assert row and row["requests"] == 1 and row["completion_tokens"] >= 4, row


def test_a_client_that_goes_away_midstream_still_has_its_usage_recorded(server, user, client):
    model = "openai/mock-tokens-300-delay-20"
    stream = client.chat.completions.create(model=model, messages=HELLO, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    row = eventually(lambda: usage_rows(server, user, group_by="model").get(model), timeout=30)
    assert row and row["requests"] == 1, row
    assert 0 < row["completion_tokens"] < 300, "the upstream was stopped when the client left"


def test_conversation_chat_is_refused_with_budget_exceeded_once_the_budget_is_spent(server, user):
    r = server.request("POST", "/api/conversations", user.token, json={"model": "openai/mock-tokens-30"})
    assert r.status_code == 201, r.text
    conv = r.json()["id"]
    server.set_settings(user, {"monthly_token_limit": 30})
    first = server.request("POST", f"/api/conversations/{conv}/messages", user.token, json={"content": "hi"})
    assert first.status_code == 200 and "message.completed" in first.text, first.text
    # The reply was capped to what the budget had left after the prompt (22 of its 30 tokens);
    # the next send does not fit and is refused before any upstream call.
    def refused():
        r = server.request("POST", f"/api/conversations/{conv}/messages", user.token, json={"content": "again"})
        return r if r.status_code == 429 else None
    r = eventually(refused)
    assert r, "the conversation kept chatting past its budget"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "budget_exceeded"
    assert int(r.headers["retry-after"]) > 0
    # The /v1 API shares the org's budget.
    with pytest.raises(openai.RateLimitError) as e:
        server.openai(user.token).chat.completions.create(model="demo/echo", messages=HELLO)
    assert error_of(e.value)["code"] == "insufficient_quota"


def test_tokens_spent_without_a_limit_count_once_a_limit_is_set(server, user, client):
    def spend(tokens: int):
        client.chat.completions.create(model=f"openai/mock-tokens-{tokens}", messages=HELLO, max_tokens=tokens)

    def refused():
        try:
            spend(1)
            return False
        except openai.RateLimitError as e:
            return error_of(e)["code"] == "insufficient_quota"

    def spent():
        rows = server.usage(user).json()["items"]
        return sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)

    # Never limited: 2 × 40 tokens, then a limit of 60 is already spent.
    spend(40)
    spend(40)
    assert eventually(lambda: spent() >= 80)
    server.set_settings(user, {"monthly_token_limit": 60})
    assert eventually(refused), "tokens spent before the limit were not counted"
    # Raised well above the month so far, lifted, spent past it, set again: refused again.
    server.set_settings(user, {"monthly_token_limit": spent() + 500})
    spend(10)
    server.set_settings(user, {"monthly_token_limit": None})
    before = spent()
    for _ in range(3):
        spend(200)
    assert eventually(lambda: spent() >= before + 600)
    server.set_settings(user, {"monthly_token_limit": before + 500})
    assert eventually(refused), "tokens spent while the limit was lifted were not counted"


def test_an_api_key_is_rate_limited_on_the_conversation_routes_too(server, user):
    server.set_settings(user, {"rate_limit_rpm": 2})
    key = server.api_key(user, scopes=["conversations"])
    statuses = [server.request("GET", "/api/conversations", key).status_code for _ in range(3)]
    assert statuses[:2] == [200, 200], statuses
    r = server.request("GET", "/api/conversations", key)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited", r.text
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # An access token is not rate limited per key.
    assert server.request("GET", "/api/conversations", user.token).status_code == 200


# --- An operator's controls over the service's own provider keys --------------------------
# A second server: no service keys for anyone (SERVICE_KEYS=none), a default monthly budget
# for every organization, a per-user rate limit for access tokens.
OPERATOR = {
    "SERVICE_KEYS": "none",
    "DEFAULT_MONTHLY_TOKEN_LIMIT": "300",
    "USER_RATE_LIMIT_RPM": "4",
}


@pytest.fixture(scope="module")
def operator(server, tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("operator")
    vars_file = state_dir / "test.vars"
    vars_file.write_text(
        f"JWT_SECRET={JWT_SECRET}\nENCRYPTION_KEYS=1:{base64.b64encode(os.urandom(32)).decode()}\n"
    )
    env = dict(
        os.environ,
        PORT=str(free_port()),
        STATE_DIR=str(state_dir),
        VARS_FILE=str(vars_file),
        OPENAI_BASE_URL=f"{server.mock_base}/v1",
        ANTHROPIC_BASE_URL=server.mock_base,
        GEMINI_BASE_URL=server.mock_base,
        DEMO_TOKEN_DELAY_MS="0",
        **SERVICE_KEYS,
        **OPERATOR,
    )
    with serving(env, state_dir / "wrangler.log") as base:
        yield Server(base, server.mock_base)


def test_a_default_budget_holds_every_new_org_and_its_owner_cannot_raise_it(operator):
    owner = operator.register("budgeted")
    client = operator.openai(operator.api_key(owner))
    spent, refusals = 0, 0
    for _ in range(20):
        try:
            c = client.chat.completions.create(model="demo/echo", messages=HELLO, max_tokens=60)
        except openai.RateLimitError as e:
            assert error_of(e)["code"] == "insufficient_quota"
            refusals += 1
            if refusals == 2:
                break
            time.sleep(1)  # and again once the previous call's settlement is surely in
            continue
        spent += c.usage.prompt_tokens + c.usage.completion_tokens
    else:
        pytest.fail("an org without a monthly_token_limit of its own was not held to the default")
    assert 300 - 70 < spent <= 300, spent
    # Only lower: 301 is refused, 100 is taken.
    r = operator.request("PATCH", f"/api/orgs/{owner.org}", owner.token, json={"settings": {"monthly_token_limit": 301}})
    assert r.status_code == 400 and "300" in r.json()["detail"], r.text
    assert operator.set_settings(owner, {"monthly_token_limit": 100})["settings"]["monthly_token_limit"] == 100


def test_with_service_keys_none_only_the_callers_own_keys_reach_a_provider(operator):
    user = operator.register("byok-only")
    client = operator.openai(operator.api_key(user))
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert error_of(e.value)["code"] == "no_provider_key"
    assert [m.id for m in client.models.list().data] == ["demo/echo"]
    own = f"sk-own-{uuid.uuid4().hex}"
    r = operator.request("PUT", "/api/provider-keys/openai", user.token, json={"api_key": own})
    assert r.status_code == 204, r.text
    tag = f"own{uuid.uuid4().hex[:10]}"
    client.chat.completions.create(model=f"openai/mock-{tag}", messages=HELLO, max_tokens=20)
    (sent,) = mock_requests(operator, tag)
    assert dict(sent["headers"]).get("authorization") == f"Bearer {own}"


def test_access_tokens_are_rate_limited_per_user_across_chat_and_v1(operator):
    user = operator.register("per-user")
    r = operator.request("POST", "/api/conversations", user.token, json={"model": "demo/echo"})
    assert r.status_code == 201, r.text
    conv = r.json()["id"]
    by_token = operator.openai(user.token)

    def call(_):
        try:
            by_token.chat.completions.create(model="demo/echo", messages=HELLO, max_tokens=50)
            return "ok"
        except openai.RateLimitError as e:
            assert error_of(e)["type"] == "rate_limit_error", error_of(e)
            assert 1 <= int(e.response.headers["retry-after"]) <= 60
            return "429"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(call, range(6)))
    assert sorted(outcomes) == ["429", "429", "ok", "ok", "ok", "ok"], outcomes
    # The conversation route counts in the same window.
    r = operator.request("POST", f"/api/conversations/{conv}/messages", user.token,
                         json={"content": "hi", "max_tokens": 20})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited", r.text
    # An API key has its own window; another user has theirs.
    operator.openai(operator.api_key(user)).chat.completions.create(model="demo/echo", messages=HELLO, max_tokens=20)
    other = operator.register("per-user-other")
    operator.openai(other.token).chat.completions.create(model="demo/echo", messages=HELLO, max_tokens=20)


# --- Tools, images and structured output on every provider, as the official client uses them --
ALL_MODELS = [*PROVIDER_MODELS, "demo/echo"]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ALL_MODELS)
def test_an_agent_loop_with_tools_runs_on_every_provider(client, model, stream):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    if stream:
        chunks = list(client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL],
                                                     stream=True))
        calls: dict[int, dict] = {}
        for ch in chunks:
            for d in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
                call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = d.id or call["id"]
                call["name"] = (d.function.name if d.function else None) or call["name"]
                call["arguments"] += (d.function.arguments or "") if d.function else ""
        finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
        assert finish == ["tool_calls"], finish
        (call,) = calls.values()
    else:
        c = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
        assert c.choices[0].finish_reason == "tool_calls"
        (tc,) = c.choices[0].message.tool_calls
        call = {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
    assert call["name"] == "get_weather" and call["id"]
    assert "city" in json.loads(call["arguments"])
    # The result goes back; the model answers with it.
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"},
    ]
    answer = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    assert "18C and sunny" in answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ALL_MODELS)
def test_an_image_reaches_every_provider(client, model):
    described = model if model == "demo/echo" else f"{model}-describe"
    c = client.chat.completions.create(model=described, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}}]}])
    text = c.choices[0].message.content
    assert ("Saw 1 image (image/png, 70 bytes)" in text) if model != "demo/echo" else ("1 image" in text), text


@pytest.mark.parametrize("model", ALL_MODELS)
def test_a_json_schema_reply_parses_on_every_provider(client, model):
    from pydantic import BaseModel

    class Weather(BaseModel):
        summary: str
        celsius: int

    c = client.chat.completions.parse(model=model, response_format=Weather,
                                      messages=[{"role": "user", "content": "Paris, please"}])
    parsed = c.choices[0].message.parsed
    assert isinstance(parsed, Weather), c.choices[0].message
