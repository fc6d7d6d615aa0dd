//! Passkeys: registration and sign-in with a software authenticator made here per WebAuthn
//! (a P-256 or Ed25519 key; attestation and assertion objects built with coset's CBOR), list,
//! rename, delete, a passkey as the second factor, and the refusals: another origin, a used
//! challenge, a signature counter that goes backwards, an email's options that would tell
//! whether it has an account.
//!
//! The test server is the relying party `localhost` at http://localhost:PORT and
//! http://127.0.0.1:PORT (scripts/serve.sh's defaults).

use coset::cbor::value::Value as Cbor;
use ct_codecs::{Base64UrlSafeNoPadding, Decoder, Encoder};
use p256::ecdsa::signature::Signer;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;

use crate::helpers::{assert_problem, spawn_app, TestApp, User};
use crate::mfa::{enable_2fa, mfa_ticket};

fn b64(bytes: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(bytes).unwrap()
}

fn unb64(s: &str) -> Vec<u8> {
    Base64UrlSafeNoPadding::decode_to_vec(s, None).unwrap()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(bytes).to_vec()
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(value, &mut out).unwrap();
    out
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).unwrap();
    out
}

enum Key {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_compact::KeyPair),
}

/// An authenticator in software: one credential, a signature counter, and the user handle
/// the relying party gave it.
pub struct SoftAuthenticator {
    key: Key,
    pub credential_id: Vec<u8>,
    pub counter: u32,
    user_handle: Vec<u8>,
}

impl SoftAuthenticator {
    pub fn p256() -> Self {
        let key = loop {
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&random::<32>()) {
                break k;
            }
        };
        Self::with(Key::P256(key))
    }

    pub fn ed25519() -> Self {
        let seed = ed25519_compact::Seed::new(random::<32>());
        Self::with(Key::Ed25519(ed25519_compact::KeyPair::from_seed(seed)))
    }

    fn with(key: Key) -> Self {
        SoftAuthenticator {
            key,
            credential_id: random::<16>().to_vec(),
            counter: 0,
            user_handle: vec![],
        }
    }

    /// The credential public key as a COSE_Key.
    fn cose_key(&self) -> Vec<u8> {
        let int = |i: i64| Cbor::Integer(i.into());
        let entries = match &self.key {
            Key::P256(k) => {
                let point = p256::ecdsa::VerifyingKey::from(k).to_encoded_point(false);
                vec![
                    (int(1), int(2)),
                    (int(3), int(-7)),
                    (int(-1), int(1)),
                    (int(-2), Cbor::Bytes(point.x().unwrap().to_vec())),
                    (int(-3), Cbor::Bytes(point.y().unwrap().to_vec())),
                ]
            }
            Key::Ed25519(kp) => vec![
                (int(1), int(1)),
                (int(3), int(-8)),
                (int(-1), int(6)),
                (int(-2), Cbor::Bytes(kp.pk.to_vec())),
            ],
        };
        cbor(&Cbor::Map(entries))
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            Key::Ed25519(kp) => kp.sk.sign(message, None).to_vec(),
        }
    }

    /// `navigator.credentials.create` with these creation options, on a page at `origin`.
    pub fn create(&mut self, options: &Value, origin: &str) -> Value {
        let rp_id = options["rp"]["id"].as_str().unwrap();
        self.user_handle = unb64(options["user"]["id"].as_str().unwrap());
        let client_data = json!({
            "type": "webauthn.create", "challenge": options["challenge"], "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(0x45); // user present, user verified, attested credential data
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]);
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let object = cbor(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        json!({
            "id": b64(&self.credential_id), "rawId": b64(&self.credential_id), "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data.as_bytes()),
                "attestationObject": b64(&object),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }

    /// `navigator.credentials.get` with these request options, on a page at `origin`; the
    /// counter moves one step first.
    pub fn get(&mut self, options: &Value, origin: &str, user_verified: bool) -> Value {
        self.counter += 1;
        let client_data = json!({
            "type": "webauthn.get", "challenge": options["challenge"], "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = sha256(options["rpId"].as_str().unwrap().as_bytes());
        auth_data.push(if user_verified { 0x05 } else { 0x01 });
        auth_data.extend(self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha256(client_data.as_bytes()));
        json!({
            "id": b64(&self.credential_id), "rawId": b64(&self.credential_id), "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data.as_bytes()),
                "authenticatorData": b64(&auth_data),
                "signature": b64(&self.sign(&signed)),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// Registers a passkey of `authenticator` for `user`; returns its id.
pub async fn add_passkey(
    app: &TestApp,
    user: &User,
    authenticator: &mut SoftAuthenticator,
    name: &str,
) -> String {
    let options = json_of(
        app.post("/api/me/passkeys/options", Some(&user.token), &json!({}))
            .await,
    )
    .await;
    let credential = authenticator.create(&options, &app.base);
    let resp = app
        .post(
            "/api/me/passkeys",
            Some(&user.token),
            &json!({"credential": credential, "name": name}),
        )
        .await;
    assert_eq!(resp.status(), 201, "register a passkey");
    json_of(resp).await["id"].as_str().unwrap().to_string()
}

async fn sign_in_options(app: &TestApp, body: Value) -> Value {
    let resp = app.post("/api/auth/passkey/options", None, &body).await;
    assert_eq!(resp.status(), 200);
    json_of(resp).await
}

async fn sign_in(app: &TestApp, credential: Value) -> reqwest::Response {
    app.post(
        "/api/auth/passkey",
        None,
        &json!({"credential": credential, "refresh_token_in": "body"}),
    )
    .await
}

async fn events_of(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.get("/api/me/audit?limit=100", Some(token)).await;
    assert_eq!(resp.status(), 200);
    json_of(resp).await["items"].as_array().unwrap().clone()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn a_passkey_is_registered_and_then_signs_in_alone() {
    let app = spawn_app().await;
    let user = app.register("passkey").await;
    let options = json_of(
        app.post("/api/me/passkeys/options", Some(&user.token), &json!({}))
            .await,
    )
    .await;
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], user.email.as_str());
    assert_eq!(unb64(options["challenge"].as_str().unwrap()).len(), 32);
    let algs: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    for alg in [-7, -8, -257] {
        assert!(algs.contains(&alg), "{alg} in {algs:?}");
    }
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["excludeCredentials"], json!([]));

    let mut authenticator = SoftAuthenticator::p256();
    let credential = authenticator.create(&options, &app.base);
    let resp = app
        .post(
            "/api/me/passkeys",
            Some(&user.token),
            &json!({"credential": credential, "name": "Laptop"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let added = json_of(resp).await;
    assert_eq!(added["name"], "Laptop");
    assert!(added["id"].as_str().unwrap().starts_with("pk_") && added["created_at"].is_string());
    // The same attestation again: its challenge is spent.
    let again = app
        .post(
            "/api/me/passkeys",
            Some(&user.token),
            &json!({"credential": credential}),
        )
        .await;
    assert_problem(again, 400, "validation_failed").await;
    // New options leave the registered passkey out.
    let options = json_of(
        app.post("/api/me/passkeys/options", Some(&user.token), &json!({}))
            .await,
    )
    .await;
    assert_eq!(
        options["excludeCredentials"][0]["id"],
        b64(&authenticator.credential_id).as_str()
    );

    // Signing in with the passkey alone: a discoverable credential, no email.
    let request = sign_in_options(&app, json!({})).await;
    assert_eq!(request["rpId"], "localhost");
    assert_eq!(request["allowCredentials"], json!([]));
    assert_eq!(request["userVerification"], "required");
    let assertion = authenticator.get(&request, &app.base, true);
    let resp = sign_in(&app, assertion.clone()).await;
    assert_eq!(resp.status(), 200);
    let tokens = json_of(resp).await;
    assert_eq!(tokens["user"]["id"], user.id.as_str());
    assert!(tokens["refresh_token"].is_string());
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/me", Some(token)).await.status(), 200);
    // The same assertion again: a challenge works once.
    assert_problem(sign_in(&app, assertion).await, 401, "unauthorized").await;

    let list = json_of(app.get("/api/me/passkeys", Some(token)).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0]["last_used_at"].is_string());
    let events = events_of(&app, token).await;
    assert_eq!(of_type(&events, "passkey.added").len(), 1);
    let login = of_type(&events, "login.succeeded")
        .into_iter()
        .find(|e| e["details"]["method"] == "passkey")
        .expect("a passkey sign-in in the audit log");
    assert_eq!(login["details"]["passkey_id"], added["id"]);
    let log = serde_json::to_string(&events).unwrap();
    assert!(
        !log.contains(request["challenge"].as_str().unwrap()),
        "no challenge in the log"
    );
}

#[tokio::test]
async fn an_ed25519_passkey_signs_in_from_either_local_origin() {
    let app = spawn_app().await;
    let user = app.register("passkey-ed").await;
    let mut authenticator = SoftAuthenticator::ed25519();
    add_passkey(&app, &user, &mut authenticator, "Key").await;
    let localhost = app.base.replace("127.0.0.1", "localhost");
    let request = sign_in_options(&app, json!({"email": user.email})).await;
    assert_eq!(
        request["allowCredentials"][0]["id"],
        b64(&authenticator.credential_id).as_str()
    );
    let resp = sign_in(&app, authenticator.get(&request, &localhost, true)).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn an_assertion_or_registration_for_another_origin_is_refused() {
    let app = spawn_app().await;
    let user = app.register("passkey-origin").await;
    let mut authenticator = SoftAuthenticator::p256();

    let options = json_of(
        app.post("/api/me/passkeys/options", Some(&user.token), &json!({}))
            .await,
    )
    .await;
    let foreign = authenticator.create(&options, "https://evil.example");
    let resp = app
        .post(
            "/api/me/passkeys",
            Some(&user.token),
            &json!({"credential": foreign}),
        )
        .await;
    let body = assert_problem(resp, 400, "validation_failed").await;
    assert_eq!(body["param"], "credential");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("https://evil.example"),
        "{body}"
    );

    add_passkey(&app, &user, &mut authenticator, "Phone").await;
    let request = sign_in_options(&app, json!({})).await;
    let phished = authenticator.get(&request, "https://evil.example", true);
    assert_problem(sign_in(&app, phished).await, 401, "unauthorized").await;
    // Nor a port of ours that is not configured.
    let request = sign_in_options(&app, json!({})).await;
    let other_port = authenticator.get(&request, "http://localhost:1", true);
    assert_problem(sign_in(&app, other_port).await, 401, "unauthorized").await;

    // The owner of the passkey sees the refused attempts in their log.
    let events = events_of(&app, &user.token).await;
    let failed = of_type(&events, "login.failed");
    assert_eq!(failed.len(), 2, "{events:?}");
    assert!(failed
        .iter()
        .all(|e| e["details"]["reason"] == "wrong_origin" && e["details"]["method"] == "passkey"));
}

#[tokio::test]
async fn a_signature_counter_that_goes_backwards_is_refused_and_audited() {
    let app = spawn_app().await;
    let user = app.register("passkey-counter").await;
    let mut authenticator = SoftAuthenticator::p256();
    authenticator.counter = 4;
    add_passkey(&app, &user, &mut authenticator, "Key").await;

    let request = sign_in_options(&app, json!({})).await;
    assert_eq!(
        sign_in(&app, authenticator.get(&request, &app.base, true))
            .await
            .status(),
        200
    ); // 5

    // A clone that stayed behind.
    authenticator.counter = 2;
    let request = sign_in_options(&app, json!({})).await;
    let cloned = authenticator.get(&request, &app.base, true); // 3
    assert_problem(sign_in(&app, cloned).await, 401, "unauthorized").await;
    // The same count again is no better.
    authenticator.counter = 4;
    let request = sign_in_options(&app, json!({})).await;
    assert_problem(
        sign_in(&app, authenticator.get(&request, &app.base, true)).await,
        401,
        "unauthorized",
    )
    .await; // 5
    let events = events_of(&app, &user.token).await;
    let regressed = of_type(&events, "passkey.counter_regressed");
    assert_eq!(regressed.len(), 2, "{events:?}");
    assert_eq!(regressed[1]["details"]["stored_count"], 5);
    assert_eq!(regressed[1]["details"]["presented_count"], 3);

    // The real authenticator, counting on, still works.
    let request = sign_in_options(&app, json!({})).await;
    assert_eq!(
        sign_in(&app, authenticator.get(&request, &app.base, true))
            .await
            .status(),
        200
    ); // 6
}

#[tokio::test]
async fn passkeys_are_listed_renamed_and_removed_by_their_owner_only() {
    let app = spawn_app().await;
    let user = app.register("passkey-manage").await;
    let other = app.register("passkey-other").await;
    let mut first = SoftAuthenticator::p256();
    let mut second = SoftAuthenticator::p256();
    let id = add_passkey(&app, &user, &mut first, "Laptop").await;
    add_passkey(&app, &user, &mut second, "Phone").await;

    let page = json_of(app.get("/api/me/passkeys?limit=1", Some(&user.token)).await).await;
    assert_eq!(page["items"][0]["name"], "Laptop");
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = json_of(
        app.get(
            &format!("/api/me/passkeys?cursor={cursor}"),
            Some(&user.token),
        )
        .await,
    )
    .await;
    assert_eq!(rest["items"][0]["name"], "Phone");
    assert!(rest["next_cursor"].is_null());

    let path = format!("/api/me/passkeys/{id}");
    let renamed = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&user.token),
            &json!({"name": "Work laptop"}),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(json_of(renamed).await["name"], "Work laptop");
    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "id": "y"}),
        json!({}),
    ] {
        let resp = app
            .send_json(Method::PATCH, &path, Some(&user.token), &bad)
            .await;
        assert_problem(resp, 400, "validation_failed").await;
    }
    let theirs = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&other.token),
            &json!({"name": "Mine"}),
        )
        .await;
    assert_problem(theirs, 404, "not_found").await;
    assert_problem(
        app.delete(&path, Some(&other.token)).await,
        404,
        "not_found",
    )
    .await;

    assert_eq!(app.delete(&path, Some(&user.token)).await.status(), 204);
    assert_problem(app.delete(&path, Some(&user.token)).await, 404, "not_found").await;
    let request = sign_in_options(&app, json!({})).await;
    assert_problem(
        sign_in(&app, first.get(&request, &app.base, true)).await,
        401,
        "unauthorized",
    )
    .await;
    let events = events_of(&app, &user.token).await;
    assert_eq!(of_type(&events, "passkey.renamed").len(), 1);
    assert_eq!(of_type(&events, "passkey.removed").len(), 1);
}

#[tokio::test]
async fn a_passkey_is_a_second_factor_and_alone_it_needs_user_verification() {
    let app = spawn_app().await;
    let user = app.register("passkey-2fa").await;
    let mut authenticator = SoftAuthenticator::p256();
    add_passkey(&app, &user, &mut authenticator, "Key").await;
    enable_2fa(&app, &user).await;

    let resp = app.login(&user.email, &user.password).await;
    let body = json_of(resp).await;
    assert_eq!(body["methods"], json!(["totp", "recovery_code", "passkey"]));
    let ticket = body["mfa_token"].as_str().unwrap().to_string();
    let request = sign_in_options(&app, json!({"mfa_token": ticket})).await;
    assert_eq!(request["userVerification"], "preferred");
    assert_eq!(
        request["allowCredentials"][0]["id"],
        b64(&authenticator.credential_id).as_str()
    );
    // Presence is enough after the password.
    let assertion = authenticator.get(&request, &app.base, false);
    let resp = app
        .post(
            "/api/auth/login/mfa",
            None,
            &json!({"mfa_token": ticket, "passkey": assertion}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["user"]["id"], user.id.as_str());

    // A sign-in challenge cannot serve a ticket, nor the reverse.
    let ticket = mfa_ticket(&app, &user).await;
    let request = sign_in_options(&app, json!({})).await;
    let resp = app
        .post(
            "/api/auth/login/mfa",
            None,
            &json!({"mfa_token": ticket, "passkey": authenticator.get(&request, &app.base, true)}),
        )
        .await;
    assert_problem(resp, 401, "unauthorized").await;
    let request = sign_in_options(&app, json!({"mfa_token": ticket})).await;
    assert_problem(
        sign_in(&app, authenticator.get(&request, &app.base, true)).await,
        401,
        "unauthorized",
    )
    .await;

    // Alone, the passkey must have verified the user (PIN, biometrics).
    let request = sign_in_options(&app, json!({})).await;
    assert_problem(
        sign_in(&app, authenticator.get(&request, &app.base, false)).await,
        401,
        "unauthorized",
    )
    .await;
    let request = sign_in_options(&app, json!({})).await;
    assert_eq!(
        sign_in(&app, authenticator.get(&request, &app.base, true))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_emails_options_do_not_tell_whether_it_has_an_account() {
    let app = spawn_app().await;
    let user = app.register("passkey-enum").await;
    let nobody = app.unique_email("passkey-nobody");
    let first = sign_in_options(&app, json!({"email": nobody})).await;
    let second = sign_in_options(&app, json!({"email": nobody})).await;
    assert_eq!(
        first["allowCredentials"], second["allowCredentials"],
        "the same every time"
    );
    assert_eq!(first["allowCredentials"].as_array().unwrap().len(), 1);
    let without = sign_in_options(&app, json!({"email": user.email})).await;
    assert_eq!(without["allowCredentials"].as_array().unwrap().len(), 1);
    assert_ne!(without["allowCredentials"], first["allowCredentials"]);
    assert_problem(
        app.post(
            "/api/auth/passkey/options",
            None,
            &json!({"email": user.email, "mfa_token": "x"}),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post(
            "/api/auth/passkey/options",
            None,
            &json!({"mfa_token": "x"}),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_credential_is_a_400_and_never_a_500() {
    let app = spawn_app().await;
    let user = app.register("passkey-garbage").await;
    for credential in [
        json!({}),
        json!({"id": "AAAA", "type": "public-key", "response": {}}),
        json!({"id": "!!", "type": "public-key", "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}),
        json!({"id": "AAAA", "type": "public-key", "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}),
        json!({"id": "AAAA", "type": "password", "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}),
    ] {
        let resp = app
            .post(
                "/api/me/passkeys",
                Some(&user.token),
                &json!({"credential": credential}),
            )
            .await;
        assert_problem(resp, 400, "validation_failed").await;
    }
    for credential in [
        json!({}),
        json!({"id": "AAAA", "type": "public-key", "response": {"clientDataJSON": "e30", "authenticatorData": "", "signature": ""}}),
    ] {
        let resp = app
            .post(
                "/api/auth/passkey",
                None,
                &json!({"credential": credential}),
            )
            .await;
        assert!(
            [400, 401].contains(&resp.status().as_u16()),
            "{}",
            resp.status()
        );
    }
}

#[tokio::test]
async fn adding_a_passkey_needs_a_sign_in_from_the_last_15_minutes() {
    let app = spawn_app().await;
    let user = app.register("passkey-fresh").await;
    let mut authenticator = SoftAuthenticator::p256();
    let options = json_of(
        app.post("/api/me/passkeys/options", Some(&user.token), &json!({}))
            .await,
    )
    .await;
    // The session was signed in 16 minutes ago (its tokens are still good).
    crate::helpers::d1(
        &format!(
            "UPDATE sessions SET created_at = created_at - 960000 WHERE user_id = '{}'",
            user.id
        ),
        "",
    );
    assert_eq!(app.get("/api/me", Some(&user.token)).await.status(), 200);
    let resp = app
        .post("/api/me/passkeys/options", Some(&user.token), &json!({}))
        .await;
    assert_problem(resp, 403, "reauthentication_required").await;
    let credential = authenticator.create(&options, &app.base);
    let resp = app
        .post(
            "/api/me/passkeys",
            Some(&user.token),
            &json!({"credential": credential}),
        )
        .await;
    assert_problem(resp, 403, "reauthentication_required").await;

    // Signed in again, the passkey is added.
    let fresh = json_of(app.login(&user.email, &user.password).await).await;
    let user = User {
        token: fresh["access_token"].as_str().unwrap().to_string(),
        ..user
    };
    add_passkey(&app, &user, &mut authenticator, "Key").await;
}

#[tokio::test]
async fn a_passkey_of_a_disabled_account_signs_no_one_in() {
    let app = spawn_app().await;
    let admin = crate::admin::operator(&app, 11).await;
    let user = app.register("passkey-disabled").await;
    let mut authenticator = SoftAuthenticator::ed25519();
    add_passkey(&app, &user, &mut authenticator, "Key").await;
    let resp = app
        .post(
            &format!("/api/admin/users/{}/disable", user.id),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let request = sign_in_options(&app, json!({"email": user.email})).await;
    let resp = sign_in(&app, authenticator.get(&request, &app.base, true)).await;
    assert_problem(resp, 403, "account_disabled").await;
}
