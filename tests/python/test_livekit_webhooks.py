"""LiveKit's webhooks at POST /api/livekit/webhook become voice sessions, each event signed
exactly as LiveKit signs it, with LiveKit's own server SDK (`livekit-api`): the body is the
`WebhookEvent` in protobuf's JSON form, the `Authorization` header an access token of the
configured key and secret whose `sha256` claim is the body's hash."""
from __future__ import annotations

import base64
import datetime
import hashlib
import time

import pytest
from google.protobuf.json_format import MessageToJson
from livekit import api
from livekit.protocol.models import ParticipantInfo, Room
from livekit.protocol.webhook import WebhookEvent

from conftest import LIVEKIT, http

KEY = LIVEKIT["LIVEKIT_API_KEY"]
SECRET = LIVEKIT["LIVEKIT_API_SECRET"]
_events = iter(range(1, 1_000_000))


def event(kind: str, room: str, room_sid: str, identity: str | None = None, participant_sid: str = "",
          joined_at: int = 0, at: int | None = None) -> str:
    """A webhook body as LiveKit's server writes it (protojson: camelCase, int64 as strings)."""
    e = WebhookEvent(event=kind, id=f"EV_{next(_events)}", created_at=at or int(time.time()),
                     room=Room(sid=room_sid, name=room, creation_time=joined_at or int(time.time())))
    if identity is not None:
        e.participant.CopyFrom(ParticipantInfo(sid=participant_sid, identity=identity, joined_at=joined_at))
    return MessageToJson(e)


def sign(body: str, key: str = KEY, secret: str = SECRET) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = api.AccessToken(key, secret).with_sha256(digest).with_ttl(datetime.timedelta(minutes=5)).to_jwt()
    # What LiveKit's receivers accept is what chatgate must: check with the SDK's own receiver.
    if (key, secret) == (KEY, SECRET):
        assert api.WebhookReceiver(api.TokenVerifier(KEY, SECRET)).receive(body, token).event
    return token


def post(server, body: str, authorization: str | None) -> int:
    headers = {"content-type": "application/webhook+json"}
    if authorization is not None:
        headers["authorization"] = authorization
    r = http("POST", server.base + "/api/livekit/webhook", headers, body.encode())
    assert r.status_code in (204, 401), r.text
    return r.status_code


def deliver(server, body: str) -> None:
    assert post(server, body, sign(body)) == 204


def sessions(server, user) -> list[dict]:
    r = server.request("GET", "/api/me/voice-sessions", user.token)
    assert r.status_code == 200, r.text
    return r.json()["items"]


@pytest.fixture
def user(server):
    return server.register("voice")


def room_of(server, user, name: str) -> str:
    r = server.request("POST", "/api/livekit/token", user.token, json={"room": name})
    assert r.status_code == 200, r.text
    return r.json()["room"]


def test_a_participant_who_joins_and_leaves_is_one_voice_session_of_the_user_and_org(server, user):
    room = room_of(server, user, "standup")
    start = int(time.time()) - 120
    joined = event("participant_joined", room, "RM_a1", user.id, "PA_a1", joined_at=start, at=start)
    deliver(server, event("room_started", room, "RM_a1", at=start))
    deliver(server, joined)
    [open_session] = sessions(server, user)
    assert open_session["org_id"] == user.org and open_session["room"] == room
    assert open_session["ended_at"] is None and open_session["duration_seconds"] is None

    deliver(server, event("participant_left", room, "RM_a1", user.id, "PA_a1", joined_at=start, at=start + 95))
    [closed] = sessions(server, user)
    assert closed["id"] == open_session["id"]
    assert closed["duration_seconds"] == 95
    assert closed["started_at"] < closed["ended_at"]

    today = datetime.datetime.now(datetime.timezone.utc).date()
    period = {"from": today.isoformat(), "to": (today + datetime.timedelta(days=1)).isoformat()}
    by_model = server.usage(user, group_by="model", **period)
    assert by_model.status_code == 200, by_model.text
    [voice] = [r for r in by_model.json()["items"] if r["key"] == "livekit/voice"]
    assert (voice["voice_sessions"], voice["voice_seconds"], voice["requests"]) == (1, 95, 0)
    by_user = server.usage(user, group_by="user", **period).json()["items"]
    assert [r["voice_seconds"] for r in by_user if r["key"] == user.id] == [95]


def test_replayed_events_never_count_twice(server, user):
    room = room_of(server, user, "replays")
    start = int(time.time()) - 60
    joined = event("participant_joined", room, "RM_b1", user.id, "PA_b1", joined_at=start, at=start)
    left = event("participant_left", room, "RM_b1", user.id, "PA_b1", joined_at=start, at=start + 30)
    for body in (joined, joined, left, left, joined):
        token = sign(body)
        assert post(server, body, token) == 204
        assert post(server, body, token) == 204, "the very same delivery again"
    [only] = sessions(server, user)
    assert only["duration_seconds"] == 30


def test_a_leave_that_arrives_first_is_still_one_session(server, user):
    room = room_of(server, user, "reordered")
    start = int(time.time()) - 60
    deliver(server, event("participant_left", room, "RM_c1", user.id, "PA_c1", joined_at=start, at=start + 40))
    deliver(server, event("participant_joined", room, "RM_c1", user.id, "PA_c1", joined_at=start, at=start))
    [only] = sessions(server, user)
    assert only["duration_seconds"] == 40


def test_room_finished_closes_the_sessions_still_open(server, user):
    room = room_of(server, user, "finished")
    start = int(time.time()) - 300
    deliver(server, event("participant_joined", room, "RM_d1", user.id, "PA_d1", joined_at=start, at=start))
    deliver(server, event("participant_joined", room, "RM_d1", user.id, "PA_d2", joined_at=start + 100,
                          at=start + 100))
    deliver(server, event("room_finished", room, "RM_d1", at=start + 200))
    assert sorted(s["duration_seconds"] for s in sessions(server, user)) == [100, 200]


def test_a_webhook_not_signed_by_this_services_livekit_key_for_this_body_is_401(server, user):
    room = room_of(server, user, "forged")
    body = event("participant_joined", room, "RM_e1", user.id, "PA_e1", joined_at=int(time.time()))
    other = event("participant_joined", room, "RM_e1", user.id, "PA_e2", joined_at=int(time.time()))
    assert post(server, body, None) == 401
    assert post(server, body, "") == 401
    assert post(server, body, sign(body, secret=SECRET + "x")) == 401
    assert post(server, body, sign(body, key="APIsomeoneelse")) == 401
    assert post(server, body, sign(other)) == 401, "a signature of another body"
    assert post(server, body, api.AccessToken(KEY, SECRET).to_jwt()) == 401, "no sha256 claim"
    assert sessions(server, user) == []
    r = http("POST", server.base + "/api/livekit/webhook", {"authorization": sign(body)}, body.encode())
    assert r.status_code == 204 and r.text == "", "signed, with or without LiveKit's content type"


def test_rooms_and_participants_chatgate_did_not_issue_are_acknowledged_and_ignored(server, user):
    stranger = server.register("voice-stranger")
    ours = room_of(server, user, "ours")
    now = int(time.time())
    for body in (
        event("participant_joined", "standup", "RM_f1", user.id, "PA_f1", joined_at=now),
        event("participant_joined", "org_notours:standup", "RM_f2", user.id, "PA_f2", joined_at=now),
        # Someone who is not a member of the room's organization, and an identity that is no user.
        event("participant_joined", ours, "RM_f3", stranger.id, "PA_f3", joined_at=now),
        event("participant_joined", ours, "RM_f3", "agent-42", "PA_f4", joined_at=now),
        event("track_published", ours, "RM_f3", user.id, "PA_f5", joined_at=now),
    ):
        deliver(server, body)
    assert sessions(server, user) == [] and sessions(server, stranger) == []


def test_a_signed_body_that_is_not_json_is_400(server):
    body = "not json"
    r = http("POST", server.base + "/api/livekit/webhook",
             {"authorization": sign_raw(body), "content-type": "application/webhook+json"}, body.encode())
    assert r.status_code == 400, r.text


def sign_raw(body: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return api.AccessToken(KEY, SECRET).with_sha256(digest).to_jwt()


def test_a_member_removed_during_a_call_still_has_their_session_closed_when_they_leave(server, user):
    member = server.register("voice-member")
    r = server.request("POST", "/api/orgs", user.token, json={"name": "Voice team"})
    assert r.status_code == 201, r.text
    org = r.json()["id"]
    r = server.request("POST", f"/api/orgs/{org}/invitations", user.token,
                       json={"email": member.email, "role": "member"})
    assert r.status_code == 201, r.text
    r = server.request("POST", "/api/invitations/accept", member.token, json={"token": r.json()["token"]})
    assert r.status_code == 200, r.text
    r = server.request("POST", "/api/livekit/token", member.token, json={"room": "call", "org_id": org})
    assert r.status_code == 200, r.text
    room = r.json()["room"]
    start = int(time.time()) - 60
    deliver(server, event("participant_joined", room, "RM_g1", member.id, "PA_g1", joined_at=start, at=start))
    r = server.request("DELETE", f"/api/orgs/{org}/members/{member.id}", user.token)
    assert r.status_code == 204, r.text
    deliver(server, event("participant_left", room, "RM_g1", member.id, "PA_g1", joined_at=start, at=start + 50))
    [session] = sessions(server, member)
    assert session["duration_seconds"] == 50
