//! Scheduled upkeep: the Cron Trigger's handler, run through wrangler's scheduled-test route
//! (`/__scheduled`, which scripts/serve.sh turns on), deletes what is past its life and
//! nothing else.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::helpers::{d1, server, spawn_app, TestApp, User};

const DAY: i64 = 24 * 3600 * 1000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Runs the scheduled handler as the Cron Trigger would.
pub async fn run_upkeep(app: &TestApp) {
    let resp = app
        .client
        .get(app.url("/__scheduled"))
        .query(&[("cron", "*/15 * * * *")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// The ids of `user`'s sessions, oldest first.
fn sessions_of(user: &User) -> Vec<String> {
    d1(
        "",
        &format!(
            "SELECT id FROM sessions WHERE user_id = '{}' ORDER BY created_at, id",
            user.id
        ),
    )
}

/// Which of `ids` are still in `table` (by its `column`).
fn left(table: &str, column: &str, ids: &[&str]) -> Vec<String> {
    let list = ids
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut found = d1(
        "",
        &format!("SELECT {column} FROM {table} WHERE {column} IN ({list})"),
    );
    found.sort();
    found
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The last log line of an upkeep run in the server's log.
fn last_upkeep_log_line() -> Value {
    let log = std::fs::read_to_string(server().state_dir.join("wrangler.log")).unwrap();
    log.lines()
        .filter(|l| l.contains(r#""route":"scheduled upkeep""#))
        .filter_map(|l| serde_json::from_str(&l[l.find('{')?..]).ok())
        .next_back()
        .expect("an upkeep log line")
}

#[tokio::test]
async fn the_scheduled_upkeep_deletes_what_is_past_its_life_and_nothing_else() {
    let app = spawn_app().await;
    let user = app.register("upkeep").await;
    // Sessions: the one from sign-up, and three more.
    for _ in 0..3 {
        assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
    }
    let s = sessions_of(&user);
    assert_eq!(s.len(), 4, "{s:?}");
    let (live, revoked_recently, revoked_long_ago, expired_long_ago) = (&s[0], &s[1], &s[2], &s[3]);
    let now = now_ms();
    let tag = format!("upkeep{}", app.n);
    let org = &user.personal_org;
    let uid = &user.id;
    d1(
        &format!(
            "
            UPDATE sessions SET revoked_at = {recent} WHERE id = '{revoked_recently}';
            UPDATE sessions SET revoked_at = {long_ago} WHERE id = '{revoked_long_ago}';
            UPDATE sessions SET expires_at = {long_ago} WHERE id = '{expired_long_ago}';
            -- a session whose token was rotated has two refresh-token records
            INSERT INTO refresh_tokens (token_hash, session_id, created_at, used_at)
              VALUES ('{tag}-rotated', '{expired_long_ago}', {created}, {created});
            INSERT INTO embed_tickets (ticket_hash, user_id, org_id, origin, created_at, expires_at) VALUES
              ('{tag}-ticket-due', '{uid}', '{org}', 'https://a.example', {ticket_old}, {ticket_old_end}),
              ('{tag}-ticket-kept', '{uid}', '{org}', 'https://a.example', {ticket_recent}, {ticket_recent_end});
            INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at) VALUES
              ('{tag}-inv-due', '{org}', 'a@example.com', 'member', '{tag}-inv-due', '{uid}', {inv_old} - {week}, {inv_old}, NULL),
              ('{tag}-inv-accepted-due', '{org}', 'b@example.com', 'member', '{tag}-inv-acc', '{uid}', {inv_old} - {week}, {inv_old}, {inv_old} - {week}),
              ('{tag}-inv-kept', '{org}', 'c@example.com', 'member', '{tag}-inv-kept', '{uid}', {inv_recent} - {week}, {inv_recent}, NULL);
            INSERT INTO email_tokens (token_hash, user_id, purpose, email, email_key, created_at, expires_at) VALUES
              ('{tag}-link-due', '{uid}', 'reset_password', 'x@example.com', 'x@example.com', {now} - 3600000, {now} - 1000),
              ('{tag}-link-kept', '{uid}', 'reset_password', 'x@example.com', 'x@example.com', {now}, {now} + 1800000);
            INSERT INTO oauth_flows (state_hash, provider, browser_hash, next, created_at, expires_at) VALUES
              ('{tag}-flow-due', 'google', 'b', '/chat', {now} - 601000, {now} - 1000),
              ('{tag}-flow-kept', 'google', 'b', '/chat', {now}, {now} + 600000);
            INSERT INTO mfa_tickets (token_hash, user_id, first_factor, created_at, expires_at) VALUES
              ('{tag}-mfa-due', '{uid}', 'password', {now} - 301000, {now} - 1000),
              ('{tag}-mfa-kept', '{uid}', 'password', {now}, {now} + 300000);
            INSERT INTO webauthn_challenges (challenge_hash, purpose, user_id, created_at, expires_at) VALUES
              ('{tag}-challenge-due', 'sign_in', NULL, {now} - 301000, {now} - 1000),
              ('{tag}-challenge-kept', 'sign_in', NULL, {now}, {now} + 300000);
            INSERT INTO throttle (key, window_start, count, expires_at) VALUES
              ('{tag}-window-due', {now} - 901000, 3, {now} - 1000),
              ('{tag}-window-kept', {now} - 1000, 3, {now} + 899000);
            INSERT INTO audit_events (id, created_at, type, actor_id, org_id) VALUES
              ('{tag}-audit-due', {now} - 91 * {day}, 'login.succeeded', '{uid}', '{org}'),
              ('{tag}-audit-kept', {now} - 89 * {day}, 'login.succeeded', '{uid}', '{org}');
            ",
            recent = now - DAY,
            long_ago = now - 8 * DAY,
            created = now - 30 * DAY,
            ticket_old = now - 3 * 3600 * 1000,
            ticket_old_end = now - 2 * 3600 * 1000,
            ticket_recent = now - 31 * 60 * 1000,
            ticket_recent_end = now - 30 * 60 * 1000,
            inv_old = now - 31 * DAY,
            inv_recent = now - 29 * DAY,
            week = 7 * DAY,
            day = DAY,
        ),
        "",
    );
    let tokens_of = |sessions: &[&String]| {
        let list = sessions
            .iter()
            .map(|id| format!("'{id}'"))
            .collect::<Vec<_>>()
            .join(", ");
        d1(
            "",
            &format!("SELECT session_id FROM refresh_tokens WHERE session_id IN ({list})"),
        )
    };
    assert_eq!(tokens_of(&[expired_long_ago]).len(), 2);

    run_upkeep(&app).await;

    assert_eq!(
        left(
            "sessions",
            "id",
            &[live, revoked_recently, revoked_long_ago, expired_long_ago]
        ),
        sorted(&[live, revoked_recently]),
        "sessions that ended over 7 days ago go; a live one and one revoked yesterday stay"
    );
    let mut kept_tokens = tokens_of(&[live, revoked_recently, revoked_long_ago, expired_long_ago]);
    kept_tokens.sort();
    assert_eq!(
        kept_tokens,
        sorted(&[live, revoked_recently]),
        "the refresh tokens of the sessions that went go with them"
    );
    let t = |what: &str| format!("{tag}-{what}");
    assert_eq!(
        left(
            "embed_tickets",
            "ticket_hash",
            &[&t("ticket-due"), &t("ticket-kept")]
        ),
        [t("ticket-kept")],
        "embed tickets go an hour after they expire"
    );
    assert_eq!(
        left(
            "invitations",
            "id",
            &[&t("inv-due"), &t("inv-accepted-due"), &t("inv-kept")]
        ),
        [t("inv-kept")],
        "invitations go 30 days after they expire, accepted or not"
    );
    assert_eq!(
        left(
            "email_tokens",
            "token_hash",
            &[&t("link-due"), &t("link-kept")]
        ),
        [t("link-kept")],
        "mail links go when they expire"
    );
    for (table, key, what) in [
        ("oauth_flows", "state_hash", "flow"),
        ("mfa_tickets", "token_hash", "mfa"),
        ("webauthn_challenges", "challenge_hash", "challenge"),
    ] {
        assert_eq!(
            left(
                table,
                key,
                &[&t(&format!("{what}-due")), &t(&format!("{what}-kept"))]
            ),
            [t(&format!("{what}-kept"))],
            "{table}: sign-ins in progress go when they expire"
        );
    }
    assert_eq!(
        left("throttle", "key", &[&t("window-due"), &t("window-kept")]),
        [t("window-kept")],
        "throttle windows go when they are over"
    );
    assert_eq!(
        left("audit_events", "id", &[&t("audit-due"), &t("audit-kept")]),
        [t("audit-kept")],
        "audit events go after 90 days"
    );

    // The user who kept a session is still signed in with it.
    let me = app.get("/api/me", Some(&user.token)).await;
    assert_eq!(me.status(), 200);
    let refreshed = app
        .post(
            "/api/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh}),
        )
        .await;
    assert_eq!(refreshed.status(), 200, "the live session still refreshes");

    // One log line per run, with what each rule deleted and no failure.
    let line = last_upkeep_log_line();
    assert_eq!(line["status"], "ok", "{line}");
    assert_eq!(line["cron"], "*/15 * * * *");
    for (what, at_least) in [
        ("sessions", 2),
        ("refresh_tokens", 3),
        ("embed_tickets", 1),
        ("invitations", 2),
        ("email_tokens", 1),
        ("oauth_flows", 1),
        ("audit_events", 1),
    ] {
        assert!(
            line["deleted"][what].as_u64().unwrap() >= at_least,
            "{what} in {line}"
        );
    }
    // Other tests' requests on this server also delete expired throttle windows, tickets and
    // challenges as they make new ones, so these rows may have gone before the run.
    for what in ["throttle", "mfa_tickets", "webauthn_challenges"] {
        assert!(line["deleted"][what].is_u64(), "{what} in {line}");
    }
    assert!(line["request_id"].as_str().unwrap().starts_with("upk"));
    assert!(line["duration_ms"].is_number());
}
