//! Section 4: argon2id inside the Worker against native, and login latency.

use std::time::Instant;

use serde_json::json;

use crate::report::{verdict, Row};
use crate::stats::{ms, ms_signed, ratio, summarize};
use crate::stream::{self};
use crate::{both, Bench, R};
use crate::{ARGON2_M_KIB, ARGON2_P, ARGON2_T, PASSWORD};

impl Bench {
    pub(crate) fn native_argon2(&self) -> R<Vec<f64>> {
        use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
        use argon2::{Algorithm, Argon2, Params, Version};
        let params =
            Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).map_err(|e| e.to_string())?;
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"bench-salt-16byt").map_err(|e| e.to_string())?;
        let phc = hasher
            .hash_password(PASSWORD.as_bytes(), &salt)
            .map_err(|e| e.to_string())?
            .to_string();
        let parsed = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        // The Worker verifies with Argon2::default() and the parameters in the PHC string.
        for i in 0..=self.plan.native_rounds {
            let start = Instant::now();
            let ok = Argon2::default()
                .verify_password(b"a wrong password", &parsed)
                .is_ok();
            let t = start.elapsed().as_secs_f64() * 1000.0;
            if ok {
                return Err("a wrong password verified".into());
            }
            if i > 0 {
                out.push(t);
            }
        }
        Ok(out)
    }

    pub(crate) async fn login(&mut self) -> R<()> {
        self.fresh_token().await?;
        self.log("login: native argon2id, then the Worker's login");
        let native = self.native_argon2()?;
        let long = "x".repeat(300);
        let mut me = Vec::new();
        let mut wrong = Vec::new();
        let mut too_long = Vec::new();
        let mut good = Vec::new();
        for i in 0..=self.plan.login_rounds {
            let login = |password: &str, body_token: bool| {
                let mut body = json!({"email": self.email, "password": password});
                if body_token {
                    body["refresh_token_in"] = json!("body");
                }
                self.api(reqwest::Method::POST, "/api/auth/login")
                    .json(&body)
            };
            let r_me = stream::timed(
                self.api(reqwest::Method::GET, "/api/me")
                    .bearer_auth(&self.session.token),
            )
            .await?;
            let r_long = stream::timed(login(&long, false)).await?;
            let r_wrong = stream::timed(login("a wrong password", false)).await?;
            let r_good = stream::timed(login(PASSWORD, true)).await?;
            for (what, r, want) in [
                ("GET /api/me", &r_me, 200),
                ("login, long password", &r_long, 401),
                ("login, wrong password", &r_wrong, 401),
                ("login", &r_good, 200),
            ] {
                if r.1 != want {
                    return Err(format!("{what}: HTTP {} (wanted {want}): {}", r.1, r.2));
                }
            }
            if i == 0 {
                continue; // warm-up
            }
            me.push(r_me.0);
            too_long.push(r_long.0);
            wrong.push(r_wrong.0);
            good.push(r_good.0);
        }
        let n = self.plan.login_rounds.to_string();
        let nat = summarize(&native);
        let (w, l, g, m) = (
            summarize(&wrong),
            summarize(&too_long),
            summarize(&good),
            summarize(&me),
        );
        let setup = format!("m={ARGON2_M_KIB} KiB, t={ARGON2_T}, p={ARGON2_P}");
        let (nmed, np99) = both(nat);
        self.rows.push(Row {
            section: "4".into(),
            measurement: "argon2id verify, native Rust (`argon2` 0.5, this binary)".into(),
            setup: format!("{setup}; release, opt-level 3"),
            n: native.len().to_string(),
            median: nmed,
            p99: np99,
            ..Row::default()
        });
        // Paired: the two logins of a round were sent one after the other.
        let diffs: Vec<f64> = wrong.iter().zip(&too_long).map(|(w, l)| w - l).collect();
        if let (Some(w), Some(l), Some(nat), Some(d)) = (w, l, nat, summarize(&diffs)) {
            let (med, p99) = (d.median, d.p99);
            let r = med / nat.median;
            self.rows.push(Row {
                section: "4".into(),
                measurement: "argon2id verify inside the Worker".into(),
                setup: format!("{setup}; per round: login with a wrong password − login with a 300-char password (same route, same D1 work, no hash)"),
                n: n.clone(),
                median: ms(med),
                p99: ms(p99),
                baseline: format!("native: {} / {}", ms(nat.median), ms(nat.p99)),
                ratio: format!("{r:.2}×"),
                target: "≤ 1.5× native".into(),
                verdict: verdict(r - 1.5, |x| format!("{x:.2}×"), "over", "under"),
                notes: format!(
                    "wrong password {} / {}; 300-char password {} / {}",
                    ms(w.median), ms(w.p99), ms(l.median), ms(l.p99)
                ),
                ..Row::default()
            });
        }
        for (what, s) in [
            ("login (correct password: argon2id + new session)", g),
            ("login, wrong password (401)", w),
        ] {
            let (median, p99) = both(s);
            self.rows.push(Row {
                section: "4".into(),
                measurement: what.into(),
                setup: "POST /api/auth/login, sequential".into(),
                n: n.clone(),
                median,
                p99,
                baseline: m.map_or(String::new(), |m| {
                    format!("GET /api/me: {} / {}", ms(m.median), ms(m.p99))
                }),
                ratio: s
                    .zip(m)
                    .map_or(String::new(), |(s, m)| ratio(s.median, m.median)),
                added: s.zip(m).map_or(String::new(), |(s, m)| {
                    format!(
                        "{} / {}",
                        ms_signed(s.median - m.median),
                        ms_signed(s.p99 - m.p99)
                    )
                }),
                ..Row::default()
            });
        }
        Ok(())
    }
}
