"""chatgate's Responses API (`POST /v1/responses`, stateless) driven by the official `openai`
client: `responses.create` streamed and not, the `responses.stream` helper, a function-call
round trip that sends `response.output` back, structured output with `responses.parse`, and
reasoning that continues intact — each against the mock's OpenAI, Anthropic and Gemini models
and `demo/echo`. The response objects are also checked against chatgate's OpenAPI document."""
from __future__ import annotations

import json

import jsonschema_rs
import openai
import pytest
from pydantic import BaseModel

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.5-flash", "demo/echo"]
WEATHER = [{
    "type": "function", "name": "get_weather", "description": "Weather of a city", "strict": None,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]


@pytest.fixture
def user(server):
    return server.register("py-responses")


@pytest.fixture
def client(server, user):
    return server.openai(server.api_key(user))


@pytest.fixture(scope="module")
def response_schema(server):
    doc = server.request("GET", "/openapi.json").json()
    return jsonschema_rs.Draft202012Validator(
        {"$ref": "#/components/schemas/ResponseObject", "components": doc["components"]})


def echo_of(model: str, text: str) -> str:
    """What each model answers to `text`: the mock echoes each word, demo/echo quotes it."""
    return f"You said: {text}" if model == "demo/echo" else "Echo: " + "".join(w + " " for w in text.split())


@pytest.mark.parametrize("model", MODELS)
def test_a_response_is_created_for_every_model_and_matches_the_document(client, model, response_schema):
    raw = client.responses.with_raw_response.create(model=model, input="hello there", instructions="Be brief.")
    response_schema.validate(json.loads(raw.http_response.text))
    r = raw.parse()
    assert r.object == "response" and r.status == "completed" and r.model == model
    assert r.id.startswith("resp_")
    assert r.output_text.startswith(echo_of(model, "hello there")), r.output_text
    assert r.store is False and r.previous_response_id is None and r.instructions == "Be brief."
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.usage.input_tokens_details.cached_tokens == 0
    assert r.usage.output_tokens_details.reasoning_tokens == 0


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_response_arrives_event_by_event_in_openais_order(client, model, response_schema):
    events = list(client.responses.create(model=model, input="hello there", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 3, "relayed piece by piece"
    final = events[-1].response
    assert "".join(deltas) == final.output_text
    assert final.output_text.startswith(echo_of(model, "hello there"))
    assert final.usage.output_tokens > 0
    response_schema.validate(final.model_dump(mode="json", exclude_unset=True))
    # The SDK's own accumulator (strict about item identities and order) agrees.
    with client.responses.stream(model=model, input="hello there") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        assert stream.get_final_response().output_text == text == final.output_text


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("streamed", [False, True])
def test_a_function_call_round_trip_sends_the_output_back_as_it_came(client, model, streamed):
    conversation = [{"role": "user", "content": "What is the weather in Paris?"}]

    def turn():
        if streamed:
            with client.responses.stream(model=model, input=conversation, tools=WEATHER) as s:
                return s.get_final_response()
        return client.responses.create(model=model, input=conversation, tools=WEATHER)

    first = turn()
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1, first.output
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments)["city"]
    conversation += first.output
    conversation.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C and sunny"})
    second = turn()
    said = "returned" if model == "demo/echo" else "said"
    assert second.output_text.startswith(f"Tool get_weather {said}: 18C and sunny"), second.output_text


class Weather(BaseModel):
    summary: str
    celsius: int


@pytest.mark.parametrize("model", MODELS)
def test_structured_output_parses_into_a_pydantic_model(client, model):
    r = client.responses.parse(model=model, input="Weather in Paris?", text_format=Weather)
    assert isinstance(r.output_parsed, Weather), r.output_text
    with client.responses.stream(model=model, input="Weather in Paris?", text_format=Weather) as s:
        assert isinstance(s.get_final_response().output_parsed, Weather)


@pytest.mark.parametrize("model", ["anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.5-flash", "demo/echo"])
def test_reasoning_comes_back_as_items_that_continue_the_turn(client, model):
    conversation = [{"role": "user", "content": "Weather in Rome?"}]
    options = dict(tools=WEATHER, reasoning={"effort": "low", "summary": "auto"},
                   include=["reasoning.encrypted_content"])
    first = client.responses.create(model=model, input=conversation, **options)
    reasoning = [item for item in first.output if item.type == "reasoning"]
    assert reasoning and reasoning[0].summary[0].text.startswith("Thinking about"), first.output
    call = next(item for item in first.output if item.type == "function_call")
    conversation += first.output
    conversation.append({"type": "function_call_output", "call_id": call.call_id, "output": "20C"})
    second = client.responses.create(model=model, input=conversation, **options)
    assert "20C" in second.output_text


def test_stateful_requests_are_refused_naming_their_parameter(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="demo/echo", input="hi", previous_response_id="resp_123")
    error = e.value.response.json()["error"]
    assert error["param"] == "previous_response_id" and "stateless" in error["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="demo/echo", input="hi", store=True)
    assert e.value.response.json()["error"]["param"] == "store"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="openai/missing-model", input="hi")
