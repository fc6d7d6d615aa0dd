"""LiveKit access tokens from POST /api/livekit/token, verified by LiveKit's own server SDK
(`livekit-api`): the signature with the configured key and secret, the identity, the name,
the room grant (a room of one organization, with grants by role) and the six-hour lifetime."""
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
    # The room of the caller's personal organization, named as LiveKit knows it.
    assert answer["room"] == f"{user.org}:standup-42"

    claims = api.TokenVerifier(KEY, SECRET).verify(answer["token"])
    assert claims.identity == user.id
    assert claims.name == "Ada Lovelace"
    assert claims.video.room_join is True
    assert claims.video.room == answer["room"]
    assert claims.video.can_publish and claims.video.can_subscribe and claims.video.can_publish_data
    assert claims.video.room_admin, "the owner of the organization moderates its rooms"
    assert not claims.video.room_create and not claims.video.room_list


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


# --- Rooms belong to organizations -----------------------------------------------------------


def new_org(server, owner, name: str) -> str:
    r = server.request("POST", "/api/orgs", owner.token, json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def join(server, owner, org: str, user, role: str) -> None:
    r = server.request("POST", f"/api/orgs/{org}/invitations", owner.token,
                       json={"email": user.email, "role": role})
    assert r.status_code == 201, r.text
    r = server.request("POST", "/api/invitations/accept", user.token, json={"token": r.json()["token"]})
    assert r.status_code == 200, r.text


def grant(server, user, **body):
    answer = token_for(server, user, **body)
    claims = api.TokenVerifier(KEY, SECRET).verify(answer["token"])
    assert claims.video.room == answer["room"]
    return answer, claims


def test_two_organizations_rooms_of_the_same_name_are_different_livekit_rooms(server):
    ada, bob = server.register("lk-ada"), server.register("lk-bob")
    a, _ = grant(server, ada, room="standup")
    b, _ = grant(server, bob, room="standup")
    assert a["room"] != b["room"]
    assert a["room"] == f"{ada.org}:standup" and b["room"] == f"{bob.org}:standup"


def test_another_organizations_full_room_name_gives_no_access_to_its_room(server):
    ada, mallory = server.register("lk-ada"), server.register("lk-mallory")
    target = token_for(server, ada, room="standup")["room"]
    for room in (target, f"{ada.org}:standup:x", f"x:{target}", f"{ada.org}:", ada.org):
        answer, claims = grant(server, mallory, room=room)
        assert answer["room"].startswith(f"{mallory.org}:"), answer
        assert claims.video.room != target
    r = server.request("POST", "/api/livekit/token", mallory.token, json={"room": "standup", "org_id": ada.org})
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found"
    r = server.request("POST", "/api/livekit/token", mallory.token,
                       json={"room": "standup", "org_id": "org_does_not_exist"})
    assert r.status_code == 404, r.text


def test_members_of_an_organization_share_its_rooms_and_admins_also_moderate_them(server):
    owner, admin, member = server.register("lk-own"), server.register("lk-adm"), server.register("lk-mem")
    org = new_org(server, owner, "Standups Inc")
    join(server, owner, org, admin, "admin")
    join(server, owner, org, member, "member")
    rooms = set()
    for user, moderates in ((owner, True), (admin, True), (member, False)):
        answer, claims = grant(server, user, room="standup", org_id=org)
        rooms.add(answer["room"])
        assert claims.identity == user.id
        assert claims.video.room_join and claims.video.can_publish and claims.video.can_subscribe
        assert claims.video.can_publish_data
        assert bool(claims.video.room_admin) is moderates, (user.email, claims.video)
        assert not claims.video.room_create and not claims.video.room_list
    assert rooms == {f"{org}:standup"}, "one room for the whole organization"
    # Without org_id, the member's own personal organization: another room.
    assert token_for(server, member, room="standup")["room"] == f"{member.org}:standup"


def test_an_organization_with_livekit_off_gets_no_token(server, user):
    server.set_settings(user, {"features": {"livekit": False}})
    r = server.request("POST", "/api/livekit/token", user.token, json={"room": "standup"})
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "feature_disabled"
    server.set_settings(user, {"features": {}})
    assert token_for(server, user, room="standup")["room"] == f"{user.org}:standup"
