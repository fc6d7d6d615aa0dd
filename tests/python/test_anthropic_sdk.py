"""chatgate's Anthropic Messages API driven by the official `anthropic` client, as a user of
the SDK (or Claude Code, with ANTHROPIC_BASE_URL) would: `messages.create`, `messages.stream`
(text_stream, get_final_message) and a tool-use round trip against OpenAI, Anthropic and
Gemini models through the mock, and the demo model; thinking signatures, count_tokens, and
errors raised as the SDK's own exceptions."""
from __future__ import annotations

import anthropic
import pytest

PROVIDER_MODELS = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.5-flash"]
MODELS = [*PROVIDER_MODELS, "demo/echo"]
HELLO = [{"role": "user", "content": "hello there"}]
WEATHER = [{"name": "get_weather", "description": "Weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


@pytest.fixture
def user(server):
    return server.register("py-anthropic")


def sdk(server, key: str | None = None, token: str | None = None) -> anthropic.Anthropic:
    """The official client pointed at chatgate (its base URL without `/v1`); no retries."""
    return anthropic.Anthropic(base_url=server.base, api_key=key, auth_token=token, max_retries=0, timeout=60)


@pytest.fixture
def client(server, user):
    return sdk(server, key=server.api_key(user))


def text(message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def expected_echo(model: str) -> str:
    return "You said: hello there" if model == "demo/echo" else "Echo: hello there "


@pytest.mark.parametrize("model", MODELS)
def test_messages_create_answers_in_anthropics_shape_for_each_model(client, model):
    m = client.messages.create(model=model, max_tokens=256, messages=HELLO)
    assert isinstance(m, anthropic.types.Message)
    assert m.type == "message" and m.role == "assistant" and m.model == model
    assert m.id.startswith("msg_")
    assert text(m).startswith(expected_echo(model))
    assert m.stop_reason == "end_turn" and m.stop_sequence is None
    if model != "demo/echo":
        # The mock counts the prompt's words and the reply's tokens.
        assert (m.usage.input_tokens, m.usage.output_tokens) == (2, 3)
        assert (m.usage.cache_read_input_tokens, m.usage.cache_creation_input_tokens) == (0, 0)
    assert m._request_id, "request-id is read from the response"


@pytest.mark.parametrize("model", MODELS)
def test_messages_stream_yields_text_as_it_comes_and_the_final_message(client, model):
    with client.messages.stream(model=model, max_tokens=256, messages=HELLO) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert "".join(pieces) == text(final)
    assert text(final).startswith(expected_echo(model))
    assert len(pieces) >= 3, "relayed token by token"
    assert final.stop_reason == "end_turn"
    if model != "demo/echo":
        assert (final.usage.input_tokens, final.usage.output_tokens) == (2, 3)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("streamed", [False, True])
def test_a_tool_use_round_trip_works_for_each_model(client, model, streamed):
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    if streamed:
        with client.messages.stream(model=model, max_tokens=512, tools=WEATHER, messages=question) as s:
            asked = s.get_final_message()
    else:
        asked = client.messages.create(model=model, max_tokens=512, tools=WEATHER, messages=question)
    assert asked.stop_reason == "tool_use"
    call = next(b for b in asked.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input["city"], str)
    done = client.messages.create(
        model=model, max_tokens=512, tools=WEATHER,
        messages=[*question, {"role": "assistant", "content": asked.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                "content": "18C and sunny"}]}])
    verb = "returned" if model == "demo/echo" else "said"
    assert text(done).startswith(f"Tool get_weather {verb}: 18C and sunny")
    assert done.stop_reason == "end_turn"


def test_a_bare_model_name_is_an_anthropic_model_and_a_bearer_token_works_too(server, user):
    client = sdk(server, token=user.token)
    m = client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=HELLO)
    assert m.model == "claude-sonnet-4-6"
    assert text(m) == "Echo: hello there "


def test_thinking_comes_back_signed_and_is_accepted_when_sent_back(client):
    model = "anthropic/claude-sonnet-4-6"
    question = [{"role": "user", "content": "Why is the sky blue?"}]
    with client.messages.stream(model=model, max_tokens=4096, tools=WEATHER, messages=question,
                                thinking={"type": "enabled", "budget_tokens": 1024}) as s:
        asked = s.get_final_message()
    thinking = asked.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "Thinking about: Why is the sky blue?"
    assert thinking.signature
    call = next(b for b in asked.content if b.type == "tool_use")
    done = client.messages.create(
        model=model, max_tokens=4096, tools=WEATHER, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[*question, {"role": "assistant", "content": asked.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}])
    assert "Tool get_weather said: sunny" in text(done)


def test_count_tokens_gives_an_estimate(client):
    plain = client.messages.count_tokens(model="claude-sonnet-4-6", messages=HELLO)
    with_tools = client.messages.count_tokens(model="claude-sonnet-4-6", messages=HELLO, tools=WEATHER)
    assert 0 < plain.input_tokens < with_tools.input_tokens


def test_errors_are_the_sdks_own_exceptions(server, client):
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(model="anthropic/missing-model", max_tokens=16, messages=HELLO)
    assert e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="demo/echo", max_tokens=16, messages=HELLO, extra_body={"top_k": 5})
    assert e.value.body["error"]["message"].startswith("top_k: ")
    with pytest.raises(anthropic.AuthenticationError):
        sdk(server, key="cg_not_a_key").messages.create(model="demo/echo", max_tokens=16, messages=HELLO)
    with pytest.raises(anthropic.RateLimitError) as e:
        client.messages.create(model="openai/status-429", max_tokens=16, messages=HELLO)
    assert e.value.response.headers["retry-after"] == "7"
