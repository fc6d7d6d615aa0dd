//! Sign-in with OAuth 2.0 / OpenID Connect providers, against real and mock providers started
//! by tests/support/idp.mjs: `oidc-provider` (the certified OpenID Provider; its login and
//! consent pages driven over plain HTTP), GitHub's OAuth 2.0 as a mock, and a rogue issuer that
//! forges what a real provider never sends.

use std::collections::HashMap;
use std::io::BufRead;
use std::process::Stdio;

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{
    assert_problem, link_token, own_state_dir, server, spawn_app, OwnServer, TestApp, User,
};
use crate::passkeys::{add_passkey, SoftAuthenticator};

/// The test identity providers: one node process for the whole run.
pub struct Idp {
    pub url: String,
    _child: std::process::Child,
}

pub const RS_SECRET: &str = "chatgate-rs-secret-0123456789abcdef";
pub const ES_SECRET: &str = "chatgate-es-secret-0123456789abcdef";
pub const ROGUE_SECRET: &str = "chatgate-rogue-secret-0123456789abcdef";
pub const GITHUB_SECRET: &str = "chatgate-github-secret-0123456789abcdef";

impl Idp {
    pub fn start(state_dir: &std::path::Path) -> Idp {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let log = std::fs::File::create(state_dir.join("idp.log")).unwrap();
        // Ended by the watchdog when this process exits.
        #[allow(clippy::zombie_processes)]
        let mut child = std::process::Command::new("bash")
            .arg(root.join("tests/support/watchdog.sh"))
            .arg("node")
            .arg(root.join("tests/support/idp.mjs"))
            .args(["--port", "0"])
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start the test identity provider (npm ci brings oidc-provider)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "the test identity provider did not start: {line:?}; see {}",
                state_dir.join("idp.log").display()
            )
        });
        Idp {
            url: ready["url"].as_str().unwrap().to_string(),
            _child: child,
        }
    }

    /// The server's variables that configure the providers of tests/support/idp.mjs.
    pub fn vars(&self) -> Vec<(String, String)> {
        let u = &self.url;
        [
            ("OIDC_PROVIDERS", "testidp,testidp-es,rogue".to_string()),
            ("OIDC_TESTIDP_ISSUER", u.clone()),
            ("OIDC_TESTIDP_CLIENT_ID", "chatgate-rs".into()),
            ("OIDC_TESTIDP_CLIENT_SECRET", RS_SECRET.into()),
            ("OIDC_TESTIDP_NAME", "Test IdP".into()),
            ("OIDC_TESTIDP_ES_ISSUER", u.clone()),
            ("OIDC_TESTIDP_ES_CLIENT_ID", "chatgate-es".into()),
            ("OIDC_TESTIDP_ES_CLIENT_SECRET", ES_SECRET.into()),
            ("OIDC_ROGUE_ISSUER", format!("{u}/rogue")),
            ("OIDC_ROGUE_CLIENT_ID", "chatgate-rogue".into()),
            ("OIDC_ROGUE_CLIENT_SECRET", ROGUE_SECRET.into()),
            ("GITHUB_CLIENT_ID", "chatgate-github".into()),
            ("GITHUB_CLIENT_SECRET", GITHUB_SECRET.into()),
            ("GITHUB_OAUTH_URL", format!("{u}/github")),
            ("GITHUB_API_URL", format!("{u}/github/api")),
            ("OIDC_ALLOW_INSECURE_HOSTS", "127.0.0.1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// The `Set-Cookie` value of `name` in a response (empty when cleared), if it sets one.
fn set_cookie(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or("").to_string())
        })
}

fn location(resp: &Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no location in a {} from {}", resp.status(), resp.url()))
        .to_str()
        .unwrap()
        .to_string()
}

fn query_of(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// One browser: the cookies it holds for the identity provider, and chatgate's binding cookie.
struct Browser<'a> {
    app: &'a TestApp,
    idp_cookies: HashMap<String, String>,
    binding: Option<String>,
}

/// How a callback ended: signed in (the refresh token and where the browser went), or not.
#[derive(Debug)]
enum Outcome {
    SignedIn {
        refresh: String,
        to: String,
    },
    /// No session yet: the account has two-factor authentication on, and the browser went to
    /// the sign-in page with the ticket of the second step.
    SecondStep {
        ticket: String,
        methods: String,
    },
    Refused(String),
}

impl Outcome {
    fn refused(&self) -> &str {
        match self {
            Outcome::Refused(reason) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            idp_cookies: HashMap::new(),
            binding: None,
        }
    }

    /// `GET /api/auth/oauth/{provider}/start`: where chatgate sends the browser.
    async fn start(&mut self, provider: &str, next: Option<&str>) -> String {
        let mut path = format!("/api/auth/oauth/{provider}/start");
        if let Some(n) = next {
            path.push_str(&format!("?next={}", urlencode(n)));
        }
        let mut req = self.app.request(Method::GET, &path, None);
        if let Some(b) = &self.binding {
            req = req.header("cookie", format!("chatgate_oauth={b}"));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 302, "start {provider}");
        let cookie = set_cookie(&resp, "chatgate_oauth").expect("a binding cookie");
        let flags = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("chatgate_oauth="))
            .unwrap();
        for flag in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/api/auth/oauth",
            "Max-Age=600",
        ] {
            assert!(flags.contains(flag), "{flag} missing: {flags}");
        }
        self.binding = Some(cookie);
        location(&resp)
    }

    /// A request to the identity provider with its cookies; keeps the ones it sets.
    async fn idp(&mut self, method: Method, url: &str, form: Option<&[(&str, &str)]>) -> Response {
        let cookies: Vec<String> = self
            .idp_cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut req = self
            .app
            .client
            .request(method, url)
            .header("cookie", cookies.join("; "));
        if let Some(f) = form {
            req = req.form(f);
        }
        let resp = req.send().await.unwrap();
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.idp_cookies.remove(k);
                } else {
                    self.idp_cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        resp
    }

    /// Signs in at oidc-provider as `login` (its dev login page, then its consent page, each
    /// when it asks) and returns where it sends the browser back.
    async fn idp_sign_in(&mut self, authorize: &str, login: &str) -> String {
        let base = server().idp.url.clone();
        let absolute = |l: String| {
            if l.starts_with('/') {
                format!("{base}{l}")
            } else {
                l
            }
        };
        let mut at = authorize.to_string();
        for _ in 0..4 {
            let resp = self.idp(Method::GET, &at, None).await;
            assert_eq!(resp.status(), 303, "{at}");
            let next = absolute(location(&resp));
            if !next.starts_with(&base) {
                return next;
            }
            let page = self
                .idp(Method::GET, &next, None)
                .await
                .text()
                .await
                .unwrap();
            let field = |name: &str| {
                page.split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .map(str::to_string)
            };
            let action = field("action").unwrap_or_else(|| panic!("no form on {next}: {page}"));
            let prompt = page
                .split("name=\"prompt\" value=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("no prompt on {next}"))
                .to_string();
            let resp = self
                .idp(
                    Method::POST,
                    &absolute(action),
                    Some(&[
                        ("prompt", prompt.as_str()),
                        ("login", login),
                        ("password", "any"),
                    ]),
                )
                .await;
            assert_eq!(resp.status(), 303, "{prompt}");
            at = absolute(location(&resp));
        }
        panic!("the provider did not send the browser back");
    }

    /// Follows the provider's redirect back to chatgate's callback.
    async fn callback(&self, url: &str) -> Outcome {
        let path = url
            .strip_prefix(&self.app.base)
            .unwrap_or_else(|| panic!("{url} is not chatgate's"));
        let mut req = self.app.request(Method::GET, path, None);
        if let Some(b) = &self.binding {
            req = req.header("cookie", format!("chatgate_oauth={b}"));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 302, "callback");
        let to = location(&resp);
        match set_cookie(&resp, "chatgate_refresh") {
            Some(refresh) if !refresh.is_empty() => Outcome::SignedIn { refresh, to },
            _ if to.starts_with("/login#") => {
                let fragment = reqwest::Url::parse(&format!("http://x/?{}", &to[7..])).unwrap();
                let field = |name| query_of(fragment.as_str(), name).unwrap_or_default();
                Outcome::SecondStep {
                    ticket: field("mfa_token"),
                    methods: field("methods"),
                }
            }
            _ => {
                assert!(to.starts_with("/login?oauth_error="), "{to}");
                Outcome::Refused(to.trim_start_matches("/login?oauth_error=").to_string())
            }
        }
    }

    /// The whole round trip with oidc-provider.
    async fn sign_in(&mut self, provider: &str, login: &str) -> Outcome {
        let authorize = self.start(provider, None).await;
        let back = self.idp_sign_in(&authorize, login).await;
        self.callback(&back).await
    }

    /// The round trip with a mock that signs in at once (GitHub's, the rogue issuer), with
    /// `extra` query parameters telling it who and how.
    async fn sign_in_at_mock(&mut self, provider: &str, extra: &[(&str, &str)]) -> Outcome {
        let mut authorize = reqwest::Url::parse(&self.start(provider, None).await).unwrap();
        authorize.query_pairs_mut().extend_pairs(extra);
        let resp = self.app.client.get(authorize).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        self.callback(&location(&resp)).await
    }
}

fn urlencode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("v", s)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("v=")
        .to_string()
}

/// The session a sign-in opened: its access token (from the refresh cookie's token).
async fn access_token(app: &TestApp, outcome: &Outcome) -> String {
    let Outcome::SignedIn { refresh, .. } = outcome else {
        panic!("not signed in: {outcome:?}");
    };
    let resp = app
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn me(app: &TestApp, token: &str) -> Value {
    let resp = app.get("/api/me", Some(token)).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn identities(app: &TestApp, token: &str) -> Value {
    let resp = app.get("/api/me/identities", Some(token)).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn audit_types(app: &TestApp, token: &str) -> Vec<(String, Value)> {
    let body: Value = app
        .get("/api/me/audit?limit=100", Some(token))
        .await
        .json()
        .await
        .unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["details"].clone(),
            )
        })
        .collect()
}

fn login_for(email: &str, verified: bool) -> String {
    format!("sub-{email};{email};{verified}")
}

#[tokio::test]
async fn the_configured_providers_are_listed_without_their_secrets() {
    let app = spawn_app().await;
    let resp = app.get("/api/auth/providers", None).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body
        .as_array()
        .unwrap()
        .contains(&json!({"id": "github", "name": "GitHub", "type": "github"})));
    assert!(body
        .as_array()
        .unwrap()
        .contains(&json!({"id": "testidp", "name": "Test IdP", "type": "oidc"})));
    let text = body.to_string();
    for secret in [RS_SECRET, ES_SECRET, ROGUE_SECRET, GITHUB_SECRET] {
        assert!(!text.contains(secret));
    }
    assert_problem(
        app.get("/api/auth/oauth/nope/start", None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn signing_in_with_an_openid_provider_opens_an_account_without_a_password() {
    let app = spawn_app().await;
    let email = app.unique_email("oidc-new");
    let mut browser = Browser::new(&app);
    let authorize = browser.start("testidp", Some("/settings/sign-in")).await;
    // The provider is asked for a code with PKCE S256, a state and a nonce.
    for (param, want) in [
        ("response_type", Some("code")),
        ("code_challenge_method", Some("S256")),
    ] {
        assert_eq!(query_of(&authorize, param).as_deref(), want, "{param}");
    }
    for param in ["state", "nonce", "code_challenge", "redirect_uri"] {
        assert!(
            query_of(&authorize, param).is_some_and(|v| v.len() >= 40 || param == "redirect_uri"),
            "{param}"
        );
    }
    let back = browser
        .idp_sign_in(&authorize, &login_for(&email, true))
        .await;
    let outcome = browser.callback(&back).await;
    let Outcome::SignedIn { to, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(to, "/settings/sign-in", "back where the sign-in started");
    let token = access_token(&app, &outcome).await;
    let account = me(&app, &token).await;
    assert_eq!(account["email"], email.as_str());
    assert_eq!(account["email_verified"], true, "the provider verified it");
    assert_eq!(
        account["orgs"].as_array().unwrap().len(),
        1,
        "a personal organization"
    );
    let linked = identities(&app, &token).await;
    assert_eq!(linked["password"], false);
    assert_eq!(linked["items"][0]["provider"], "testidp");
    assert_eq!(linked["items"][0]["provider_name"], "Test IdP");
    assert_eq!(linked["items"][0]["email"], email.as_str());
    // No password works for it, not even an empty one.
    for password in ["", "any password at all"] {
        assert_problem(
            app.login(&email, password).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let events = audit_types(&app, &token).await;
    assert!(
        events
            .iter()
            .any(|(t, d)| t == "identity.linked" && d["via"] == "sign_up"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|(t, d)| t == "login.succeeded"
            && d["method"] == "oauth"
            && d["provider"] == "testidp"),
        "{events:?}"
    );
    // Signing in again with the same provider account is the same account.
    let again = Browser::new(&app)
        .sign_in("testidp", &login_for(&email, true))
        .await;
    assert_eq!(me_id(&app, &again).await, account["id"].as_str().unwrap());
}

async fn me_id(app: &TestApp, outcome: &Outcome) -> String {
    let token = access_token(app, outcome).await;
    me(app, &token).await["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn es256_id_tokens_and_client_secret_post_sign_in_too() {
    let app = spawn_app().await;
    let email = app.unique_email("oidc-es");
    let es = Browser::new(&app)
        .sign_in("testidp-es", &login_for(&email, true))
        .await;
    assert!(matches!(es, Outcome::SignedIn { .. }), "{es:?}");
    // The rogue issuer signs properly here; it takes client_secret_post only.
    let other = app.unique_email("oidc-post");
    let login = login_for(&other, true);
    let post = Browser::new(&app)
        .sign_in_at_mock("rogue", &[("login", &login)])
        .await;
    assert!(matches!(post, Outcome::SignedIn { .. }), "{post:?}");
}

#[tokio::test]
async fn a_verified_address_links_the_existing_account_and_an_unverified_one_does_not() {
    let app = spawn_app().await;
    let user = app.register("oidc-link").await;
    let refused = Browser::new(&app)
        .sign_in("testidp", &login_for(&user.email, false))
        .await;
    assert_eq!(refused.refused(), "account_exists");
    let linked = Browser::new(&app)
        .sign_in("testidp", &login_for(&user.email, true))
        .await;
    assert_eq!(me_id(&app, &linked).await, user.id);
    let list = identities(&app, &user.token).await;
    assert_eq!(
        (
            list["password"].clone(),
            list["items"].as_array().unwrap().len()
        ),
        (json!(true), 1)
    );
    // The password still works.
    assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
    let events = audit_types(&app, &user.token).await;
    assert!(
        events
            .iter()
            .any(|(t, d)| t == "identity.linked" && d["via"] == "verified_email"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(t, d)| t == "login.failed" && d["reason"] == "account_exists"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_password_set_on_an_address_nobody_proved_goes_when_a_provider_proves_it() {
    // Someone registers an address that is not theirs, waiting for its owner to sign in with a
    // provider; the owner's proof must not hand them the account.
    let app = spawn_app().await;
    let squatter = app.register_unverified("oidc-squat").await;
    let owner = Browser::new(&app)
        .sign_in("testidp", &login_for(&squatter.email, true))
        .await;
    let token = access_token(&app, &owner).await;
    let account = me(&app, &token).await;
    assert_eq!(account["id"], squatter.id.as_str());
    assert_eq!(account["email_verified"], true);
    assert_problem(
        app.login(&squatter.email, &squatter.password).await,
        401,
        "invalid_credentials",
    )
    .await;
    let resp = app
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": squatter.refresh}),
        )
        .await;
    assert_eq!(resp.status(), 401, "the squatter's session ended");
    assert_eq!(identities(&app, &token).await["password"], false);
}

#[tokio::test]
async fn a_callback_with_an_unknown_used_or_foreign_state_signs_no_one_in() {
    let app = spawn_app().await;
    let email = app.unique_email("oidc-state");
    let mut browser = Browser::new(&app);
    let authorize = browser.start("testidp", None).await;
    let back = browser
        .idp_sign_in(&authorize, &login_for(&email, true))
        .await;
    // The code with another state: refused, and the code is not spent.
    let forged = back.replace(
        &query_of(&back, "state").unwrap(),
        "forged-state-0123456789abcdef0123456789abc",
    );
    assert_eq!(browser.callback(&forged).await.refused(), "invalid_state");
    // In another browser (no binding cookie, or another one): refused, and the state is used up.
    let mut stranger = Browser::new(&app);
    assert_eq!(stranger.callback(&back).await.refused(), "invalid_state");
    stranger.binding = browser.binding.clone().map(|b| format!("{}A", &b[..42]));
    assert_eq!(stranger.callback(&back).await.refused(), "invalid_state");
    assert_eq!(
        browser.callback(&back).await.refused(),
        "invalid_state",
        "a state works once"
    );
    // A fresh sign-in works, and its callback cannot be replayed.
    let authorize = browser.start("testidp", None).await;
    let back = browser
        .idp_sign_in(&authorize, &login_for(&email, true))
        .await;
    assert!(matches!(
        browser.callback(&back).await,
        Outcome::SignedIn { .. }
    ));
    assert_eq!(browser.callback(&back).await.refused(), "invalid_state");
    // The provider's refusal comes back as such.
    let authorize = browser.start("testidp", None).await;
    let state = query_of(&authorize, "state").unwrap();
    let denied = format!(
        "{}/api/auth/oauth/testidp/callback?error=access_denied&state={state}",
        app.base
    );
    assert_eq!(browser.callback(&denied).await.refused(), "access_denied");
}

#[tokio::test]
async fn an_id_token_for_another_nonce_is_refused() {
    // A code obtained with this sign-in's state and PKCE challenge but another nonce: the
    // provider signs a good ID token, carrying the wrong nonce.
    let app = spawn_app().await;
    let email = app.unique_email("oidc-nonce");
    let mut browser = Browser::new(&app);
    let authorize = browser.start("testidp", None).await;
    let mut forged = reqwest::Url::parse(&authorize).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "nonce" {
                "forged-nonce".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(&pairs);
    let back = browser
        .idp_sign_in(forged.as_str(), &login_for(&email, true))
        .await;
    assert_eq!(browser.callback(&back).await.refused(), "id_token_nonce");
}

#[tokio::test]
async fn an_id_token_signed_by_another_key_or_expired_is_refused() {
    let app = spawn_app().await;
    for (scenario, reason) in [
        ("other-key", "id_token_signature"),
        ("expired", "id_token_expired"),
    ] {
        let email = app.unique_email("oidc-rogue");
        let login = login_for(&email, true);
        let outcome = Browser::new(&app)
            .sign_in_at_mock("rogue", &[("scenario", scenario), ("login", &login)])
            .await;
        assert_eq!(outcome.refused(), reason, "{scenario}");
        // Nobody was signed up with it.
        assert_problem(app.login(&email, "x").await, 401, "invalid_credentials").await;
    }
}

#[tokio::test]
async fn github_signs_in_with_its_verified_primary_address() {
    let app = spawn_app().await;
    let email = app.unique_email("github");
    let id = format!("{}", 100_000 + app.n);
    let login = format!("{id};{email};true");
    let first = Browser::new(&app)
        .sign_in_at_mock("github", &[("login", &login)])
        .await;
    let token = access_token(&app, &first).await;
    let account = me(&app, &token).await;
    assert_eq!(
        (
            account["email"].as_str(),
            account["email_verified"].as_bool()
        ),
        (Some(email.as_str()), Some(true))
    );
    assert_eq!(account["name"], format!("GitHub {id}").as_str());
    let again = Browser::new(&app)
        .sign_in_at_mock("github", &[("login", &login)])
        .await;
    assert_eq!(me_id(&app, &again).await, account["id"].as_str().unwrap());
    // An unverified primary address opens an unverified account, with a verification mail.
    let other = app.unique_email("github-unverified");
    let login = format!("{};{other};false", 200_000 + app.n);
    let unverified = Browser::new(&app)
        .sign_in_at_mock("github", &[("login", &login)])
        .await;
    let token = access_token(&app, &unverified).await;
    assert_eq!(me(&app, &token).await["email_verified"], false);
    app.verify_address(&other).await;
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let app = spawn_app().await;
    let email = app.unique_email("oidc-unlink");
    let outcome = Browser::new(&app)
        .sign_in("testidp", &login_for(&email, true))
        .await;
    let token = access_token(&app, &outcome).await;
    let first = identities(&app, &token).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = assert_problem(
        app.delete(&format!("/api/me/identities/{first}"), Some(&token))
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("last"), "{body}");
    // A second provider with the same verified address links to the account: now one can go.
    let gh = format!("{};{email};true", 300_000 + app.n);
    Browser::new(&app)
        .sign_in_at_mock("github", &[("login", &gh)])
        .await;
    assert_eq!(
        identities(&app, &token).await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.delete(&format!("/api/me/identities/{first}"), Some(&token))
            .await
            .status(),
        204
    );
    let left = identities(&app, &token).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_problem(
        app.delete(&format!("/api/me/identities/{left}"), Some(&token))
            .await,
        409,
        "conflict",
    )
    .await;
    // Someone else's identity is not found.
    let other = app.register("oidc-unlink-other").await;
    assert_problem(
        app.delete(&format!("/api/me/identities/{left}"), Some(&other.token))
            .await,
        404,
        "not_found",
    )
    .await;
    let events = audit_types(&app, &token).await;
    assert!(
        events
            .iter()
            .any(|(t, d)| t == "identity.unlinked" && d["provider"] == "testidp"),
        "{events:?}"
    );
}

/// An account opened through a provider, with a passkey added and the provider unlinked, signs
/// in with the passkey alone: that passkey cannot be removed, as the provider could not be.
#[tokio::test]
async fn the_last_passkey_of_an_account_without_a_password_cannot_be_removed() {
    let app = spawn_app().await;
    let email = app.unique_email("oidc-last-passkey");
    let outcome = Browser::new(&app)
        .sign_in("testidp", &login_for(&email, true))
        .await;
    let token = access_token(&app, &outcome).await;
    let user = User {
        id: String::new(),
        email: email.clone(),
        password: String::new(),
        token: token.clone(),
        refresh: String::new(),
        personal_org: String::new(),
    };
    let first = add_passkey(&app, &user, &mut SoftAuthenticator::p256(), "laptop").await;
    let second = add_passkey(&app, &user, &mut SoftAuthenticator::p256(), "phone").await;
    let identity = identities(&app, &token).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.delete(&format!("/api/me/identities/{identity}"), Some(&token))
            .await
            .status(),
        204
    );
    // One of two passkeys may go; the last may not.
    assert_eq!(
        app.delete(&format!("/api/me/passkeys/{first}"), Some(&token))
            .await
            .status(),
        204
    );
    let body = assert_problem(
        app.delete(&format!("/api/me/passkeys/{second}"), Some(&token))
            .await,
        409,
        "conflict",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("last"), "{body}");
    let left = app.get("/api/me/passkeys", Some(&token)).await;
    let left: Value = left.json().await.unwrap();
    assert_eq!(left["items"].as_array().unwrap().len(), 1, "{left}");
}

#[tokio::test]
async fn an_account_without_a_password_sets_one_by_mail_and_deletes_itself_after_a_fresh_sign_in() {
    let app = spawn_app().await;
    let email = app.unique_email("oidc-nopw");
    let outcome = Browser::new(&app)
        .sign_in("testidp", &login_for(&email, true))
        .await;
    let token = access_token(&app, &outcome).await;
    let body = assert_problem(
        app.post(
            "/api/me/password",
            Some(&token),
            &json!({"current_password": "", "new_password": "a brand new password"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("forgot-password"),
        "{body}"
    );
    // A reset link sets a password; then the provider and the password both sign in.
    assert_eq!(
        app.post("/api/auth/forgot-password", None, &json!({"email": email}))
            .await
            .status(),
        202
    );
    let mail = app.mail(&email, "Reset your password").await;
    let resp = app
        .post("/api/auth/reset-password", None, &json!({"token": link_token(&mail, "/reset-password"), "new_password": "a brand new password"}))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        app.login(&email, "a brand new password").await.status(),
        200
    );
    let outcome = Browser::new(&app)
        .sign_in("testidp", &login_for(&email, true))
        .await;
    let fresh = access_token(&app, &outcome).await;
    assert_eq!(identities(&app, &fresh).await["password"], true);

    // Deleting an account without a password: a session signed in just now is the proof.
    let other = app.unique_email("oidc-delete");
    let outcome = Browser::new(&app)
        .sign_in("testidp", &login_for(&other, true))
        .await;
    let token = access_token(&app, &outcome).await;
    let resp = app
        .send_json(Method::DELETE, "/api/me", Some(&token), &json!({}))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.get("/api/me", Some(&token)).await.status(), 401);
}

#[tokio::test]
async fn with_2fa_on_a_provider_sign_in_takes_the_second_step_and_the_session_records_the_provider()
{
    let app = spawn_app().await;
    let user = app.register("oidc-2fa").await;
    let (mut authenticator, _) = crate::mfa::enable_2fa(&app, &user).await;
    let outcome = Browser::new(&app)
        .sign_in("testidp", &login_for(&user.email, true))
        .await;
    let Outcome::SecondStep { ticket, methods } = outcome else {
        panic!("expected the second step, got {outcome:?}");
    };
    assert_eq!(methods, "totp,recovery_code");
    let resp = app
        .post(
            "/api/auth/login/mfa",
            None,
            &json!({"mfa_token": ticket, "code": authenticator.code()}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    // Requiring the provider for an org takes a session signed in through it.
    let org: Value = app
        .post("/api/orgs", Some(token), &json!({"name": "Acme"}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/orgs/{}", org["id"].as_str().unwrap());
    let settings = json!({"settings": {"sso": {"provider": "testidp", "required": true}}});
    let resp = app
        .send_json(Method::PATCH, &path, Some(token), &settings)
        .await;
    assert_eq!(resp.status(), 200, "the session records the provider");
    let events = audit_types(&app, token).await;
    assert!(
        events.iter().any(|(t, d)| t == "login.succeeded"
            && d["method"] == "oauth:testidp"
            && d["second_factor"] == "totp"),
        "{events:?}"
    );
}

#[tokio::test]
async fn an_org_that_requires_its_provider_is_reached_only_from_sessions_signed_in_with_it() {
    let app = spawn_app().await;
    let user = app.register("oidc-sso").await;
    let outcome = Browser::new(&app)
        .sign_in("testidp", &login_for(&user.email, true))
        .await;
    let sso_token = access_token(&app, &outcome).await;
    let org: Value = app
        .post("/api/orgs", Some(&sso_token), &json!({"name": "Acme"}))
        .await
        .json()
        .await
        .unwrap();
    let org_id = org["id"].as_str().unwrap();
    let conv: Value = app
        .post(
            "/api/conversations",
            Some(&sso_token),
            &json!({"org_id": org_id}),
        )
        .await
        .json()
        .await
        .unwrap();
    let settings = json!({"settings": {"sso": {"provider": "testidp", "required": true}}});
    // Requiring it from a password session would lock that session out: refused.
    let path = format!("/api/orgs/{org_id}");
    assert_problem(
        app.send_json(Method::PATCH, &path, Some(&user.token), &settings)
            .await,
        409,
        "conflict",
    )
    .await;
    let unknown = json!({"settings": {"sso": {"provider": "nope", "required": true}}});
    assert_problem(
        app.send_json(Method::PATCH, &path, Some(&sso_token), &unknown)
            .await,
        400,
        "validation_failed",
    )
    .await;
    let resp = app
        .send_json(Method::PATCH, &path, Some(&sso_token), &settings)
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["settings"]["sso"],
        json!({"provider": "testidp", "required": true})
    );

    // The password session: 403 sso_required on the org, its conversation, and acting in it.
    let conv_path = format!("/api/conversations/{}", conv["id"].as_str().unwrap());
    for resp in [
        app.get(&path, Some(&user.token)).await,
        app.get(&format!("{path}/members"), Some(&user.token)).await,
        app.get(&conv_path, Some(&user.token)).await,
        app.get(
            &format!("/api/conversations?org_id={org_id}"),
            Some(&user.token),
        )
        .await,
        app.post(
            "/api/conversations",
            Some(&user.token),
            &json!({"org_id": org_id}),
        )
        .await,
    ] {
        let body = assert_problem(resp, 403, "sso_required").await;
        assert_eq!(body["provider"], "testidp");
    }
    // Its listing leaves the org's conversations out; the org itself stays listed.
    let all: Value = app
        .get("/api/conversations", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !all.to_string().contains(conv["id"].as_str().unwrap()),
        "{all}"
    );
    let mine = me(&app, &user.token).await;
    assert!(mine["orgs"].to_string().contains(org_id));
    // The personal organization is not affected.
    assert_eq!(
        app.get(
            &format!("/api/orgs/{}", user.personal_org),
            Some(&user.token)
        )
        .await
        .status(),
        200
    );
    // The provider's session reaches everything.
    for p in [&path, &conv_path] {
        assert_eq!(app.get(p, Some(&sso_token)).await.status(), 200, "{p}");
    }
}

#[tokio::test]
async fn sign_ups_through_a_provider_follow_the_registration_policy() {
    let app = spawn_app().await;
    let dir = own_state_dir("oauth-closed");
    let vars: Vec<(&'static str, &'static str)> = server()
        .idp
        .vars()
        .into_iter()
        .map(|(k, v)| {
            (
                &*Box::leak(k.into_boxed_str()),
                &*Box::leak(v.into_boxed_str()),
            )
        })
        .chain([("ALLOW_REGISTRATION", "closed")])
        .collect();
    let own = OwnServer::spawn(&dir, &vars).await;
    let closed = TestApp {
        base: own.base.clone(),
        ..app
    };
    let email = closed.unique_email("oidc-closed");
    let outcome = Browser::new(&closed)
        .sign_in("testidp", &login_for(&email, true))
        .await;
    assert_eq!(outcome.refused(), "registration_closed");
    own.shut_down().await;
}

#[tokio::test]
async fn an_authorization_response_naming_another_issuer_is_refused() {
    // RFC 9207: oidc-provider names itself in `iss`; a response claiming another issuer (a
    // code from another provider replayed here) signs no one in.
    let app = spawn_app().await;
    let email = app.unique_email("oidc-iss");
    let mut browser = Browser::new(&app);
    let authorize = browser.start("testidp", None).await;
    let back = browser
        .idp_sign_in(&authorize, &login_for(&email, true))
        .await;
    let iss = query_of(&back, "iss").expect("oidc-provider sends iss");
    let mut forged = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                format!("{iss}/rogue")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(&pairs);
    assert_eq!(
        browser.callback(forged.as_str()).await.refused(),
        "issuer_mismatch"
    );
}

#[tokio::test]
async fn a_disabled_account_is_refused_by_its_sign_in_provider_and_let_in_once_enabled() {
    let app = spawn_app().await;
    let admin = crate::admin::operator(&app, 9).await;
    let email = app.unique_email("github-disabled");
    let login = format!("{};{email};true", 400_000 + app.n);
    let first = Browser::new(&app)
        .sign_in_at_mock("github", &[("login", &login)])
        .await;
    let user_id = me_id(&app, &first).await;
    let resp = app
        .post(
            &format!("/api/admin/users/{user_id}/disable"),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);

    let refused = Browser::new(&app)
        .sign_in_at_mock("github", &[("login", &login)])
        .await;
    assert_eq!(refused.refused(), "account_disabled");

    let resp = app
        .post(
            &format!("/api/admin/users/{user_id}/enable"),
            Some(&admin.token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let again = Browser::new(&app)
        .sign_in_at_mock("github", &[("login", &login)])
        .await;
    assert_eq!(me_id(&app, &again).await, user_id);
}
