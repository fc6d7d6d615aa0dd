"""LiveKit access tokens from POST /api/livekit/token, verified by LiveKit's own server SDK
(`livekit-api`): the signature with the configured key and secret, the identity, the name,
the room grant and the six-hour lifetime."""
from __future__ import annotations

import time

import jwt  # PyJWT, a dependency of livekit-api
import pytest
from livekit import api

from conftest import LIVEKIT

KEY = LIVEKIT["LIVEKIT_API_KEY"]
SECRET = LIVEKIT["LIVEKIT_API_SECRET"]


@pytest.fixture
def user(server):
    return server.register("lk")


def token_for(server, user, **body) -> dict:
    r = server.request("POST", "/api/livekit/token", user.token, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()


def test_a_token_is_accepted_by_livekits_verifier_with_identity_name_and_room_grant(server, user):
    answer = token_for(server, user, room="standup-42", participant_name="Ada Lovelace")
    assert answer["url"] == LIVEKIT["LIVEKIT_URL"]
    assert answer["room"] == "standup-42"

    claims = api.TokenVerifier(KEY, SECRET).verify(answer["token"])
    assert claims.identity == user.id
    assert claims.name == "Ada Lovelace"
    assert claims.video.room_join is True
    assert claims.video.room == "standup-42"
    assert claims.video.can_publish and claims.video.can_subscribe and claims.video.can_publish_data
    assert not claims.video.room_admin and not claims.video.room_create


def test_a_token_lives_six_hours_and_names_its_issuer(server, user):
    before = int(time.time())
    token = token_for(server, user, room="r1")["token"]
    raw = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert raw["sub"] == user.id
    assert raw["exp"] - raw["nbf"] == 6 * 3600
    assert before - 5 <= raw["nbf"] <= int(time.time()) + 5
    assert raw["jti"], "a token id"
    assert raw["jti"] != jwt.decode(token_for(server, user, room="r1")["token"], SECRET,
                                    algorithms=["HS256"], issuer=KEY)["jti"]


def test_the_participant_name_defaults_to_the_users_name(server, user):
    token = token_for(server, user, room="r2")["token"]
    assert api.TokenVerifier(KEY, SECRET).verify(token).name == "lk"


def test_another_secret_or_api_key_rejects_the_token(server, user):
    token = token_for(server, user, room="r3")["token"]
    with pytest.raises(jwt.InvalidTokenError):
        api.TokenVerifier(KEY, SECRET + "x").verify(token)
    with pytest.raises(jwt.InvalidTokenError):
        api.TokenVerifier("APIother", SECRET).verify(token)


@pytest.mark.parametrize("room", ["", "a b", "slash/room", "é", "r" * 129])
def test_bad_room_names_are_400(server, user, room):
    r = server.request("POST", "/api/livekit/token", user.token, json={"room": room})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "validation_failed"


def test_a_token_needs_a_signed_in_user(server):
    r = server.request("POST", "/api/livekit/token", json={"room": "r"})
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
