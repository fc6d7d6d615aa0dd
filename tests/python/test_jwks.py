"""chatgate's access tokens verified by a third party from the JWKS alone, with PyJWT's
PyJWKClient (as a downstream service would): ES256, a `kid` the JWKS names, chatgate's issuer
and audience. A verifier pinned to ES256 refuses the same claims under any other algorithm."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json as jsonlib

import jwt  # PyJWT[crypto]
import pytest
from cryptography.hazmat.primitives import serialization
from jwt import PyJWKClient


@pytest.fixture
def user(server):
    return server.register("jwks")


def test_an_access_token_verifies_from_the_jwks_alone(server, user):
    client = PyJWKClient(f"{server.base}/.well-known/jwks.json", cache_keys=False)
    key = client.get_signing_key_from_jwt(user.token)
    claims = jwt.decode(user.token, key.key, algorithms=["ES256"], audience="chatgate-api",
                        issuer="chatgate", options={"require": ["exp", "iat", "sub"]})
    assert jwt.get_unverified_header(user.token)["alg"] == "ES256"
    assert key.key_id == jwt.get_unverified_header(user.token)["kid"]
    assert claims["sub"] == user.id
    assert claims["typ"] == "chatgate.access"
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_the_jwks_is_cacheable_and_has_no_private_parts(server, user):
    r = server.request("GET", "/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=600"
    keys = r.json()["keys"]
    assert keys and all(k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256"
                        and k["use"] == "sig" and "d" not in k for k in keys)


def test_a_token_signed_otherwise_is_refused_by_chatgate(server, user):
    header = jwt.get_unverified_header(user.token)
    claims = jwt.decode(user.token, options={"verify_signature": False})
    jwk = PyJWKClient(f"{server.base}/.well-known/jwks.json").get_signing_key(header["kid"])
    # HS256 keyed with the public key's PEM: the classic algorithm confusion.
    pem = jwk.key.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    signed = b64(jsonlib.dumps({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}).encode()) \
        + "." + b64(jsonlib.dumps(claims).encode())
    forged = signed + "." + b64(hmac.new(pem, signed.encode(), hashlib.sha256).digest())
    none = b64(jsonlib.dumps({"alg": "none", "kid": header["kid"]}).encode()) + "." \
        + b64(jsonlib.dumps(claims).encode()) + "."
    for token in (forged, none):
        r = server.request("GET", "/api/me", token)
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "unauthorized"
    assert server.request("GET", "/api/me", user.token).status_code == 200
