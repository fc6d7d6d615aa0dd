"""chatgate as an OpenID Provider, seen by authlib as a confidential-client relying party: it
discovers the provider, builds the authorization URL with PKCE, state and nonce, exchanges the
code with client_secret_basic, validates the ID token against the JWKS (issuer, audience,
nonce, at_hash), reads userinfo, refreshes (the refresh token rotates) and revokes.

The user's consent is given the way the web client's page gives it: POST /api/oauth/authorize
with the authorization request's parameters and the user's access token."""
from __future__ import annotations

import os
import urllib.parse

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

# The test server is plain http on 127.0.0.1.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

CALLBACK = "https://rp.example.com/oauth/openid/callback"


@pytest.fixture
def rp(server):
    """A user, and a confidential client of their personal workspace."""
    user = server.register("authlib")
    r = server.request("POST", f"/api/orgs/{user.org}/oauth-clients", user.token,
                       json={"name": "authlib RP", "redirect_uris": [CALLBACK], "type": "confidential",
                             "scopes": ["openid", "profile", "email", "org", "offline_access"]})
    assert r.status_code == 201, r.text
    client = r.json()
    return user, client["client_id"], client["client_secret"]


def consent(server, user, authorization_url: str) -> str:
    """What the consent page does when the user clicks Allow: the URL the browser goes to."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorization_url).query))
    r = server.request("POST", "/api/oauth/authorize", user.token, json={**query, "decision": "allow"})
    assert r.status_code == 200, r.text
    return r.json()["redirect_to"]


def test_authlib_signs_in_with_the_code_flow_and_validates_the_id_token_against_the_jwks(server, rp):
    user, client_id, secret = rp
    meta = requests.get(f"{server.base}/.well-known/openid-configuration", timeout=30).json()
    assert meta["issuer"] == server.base
    session = OAuth2Session(client_id, secret, scope="openid profile email org offline_access",
                            redirect_uri=CALLBACK, token_endpoint_auth_method="client_secret_basic",
                            code_challenge_method="S256")
    verifier = "v" * 64
    nonce = "nonce-of-authlib"
    url, state = session.create_authorization_url(meta["authorization_endpoint"], nonce=nonce,
                                                  code_verifier=verifier)
    callback = consent(server, user, url)
    assert callback.startswith(CALLBACK)

    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state,
                                code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 900

    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=30).json())
    claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
                        claims_params={"nonce": nonce, "client_id": client_id,
                                       "access_token": token["access_token"]})
    claims.validate()  # exp, iat, aud, nonce, at_hash
    assert claims["sub"] == user.id
    assert claims["email"] == user.email and claims["email_verified"] is True
    assert claims["organization"]["id"] == user.org

    info = session.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == user.id and info["organization"]["role"] == "owner"

    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]

    r = session.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"],
                             token_type_hint="refresh_token")
    assert r.status_code == 200
    r = requests.get(meta["userinfo_endpoint"], timeout=30,
                     headers={"authorization": f"Bearer {refreshed['access_token']}"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_authlib_with_a_wrong_secret_gets_invalid_client_and_a_tampered_code_invalid_grant(server, rp):
    user, client_id, secret = rp
    meta = requests.get(f"{server.base}/.well-known/openid-configuration", timeout=30).json()
    session = OAuth2Session(client_id, "not the secret", scope="openid email", redirect_uri=CALLBACK)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], nonce="n")
    callback = consent(server, user, url)
    with pytest.raises(Exception, match="invalid_client"):
        session.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state)
    good = OAuth2Session(client_id, secret, scope="openid email", redirect_uri=CALLBACK)
    tampered = callback.replace("code=", "code=x")
    with pytest.raises(Exception, match="invalid_grant"):
        good.fetch_token(meta["token_endpoint"], authorization_response=tampered, state=state)
