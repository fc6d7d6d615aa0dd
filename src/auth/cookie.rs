//! Refresh-token delivery: an HttpOnly, Secure, SameSite=Strict cookie scoped to /api/auth.

pub const REFRESH_COOKIE: &str = "chatgate_refresh";
pub const REFRESH_COOKIE_PATH: &str = "/api/auth";

pub fn set_refresh_cookie(token: &str, max_age_secs: i64) -> String {
    format!(
        "{REFRESH_COOKIE}={token}; Path={REFRESH_COOKIE_PATH}; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict"
    )
}

pub fn clear_refresh_cookie() -> String {
    format!("{REFRESH_COOKIE}=; Path={REFRESH_COOKIE_PATH}; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// Whether a browser request comes from a foreign origin. Requests without an `Origin`
/// header (curl, servers) are not browser cross-site requests and pass.
pub fn is_foreign_origin(origin: Option<&str>, request_url: &worker::Url) -> bool {
    match origin {
        None => false,
        Some(o) => o != request_url.origin().ascii_serialization(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_has_its_flags() {
        let c = set_refresh_cookie("abc", 60);
        for flag in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api/auth",
            "Max-Age=60",
        ] {
            assert!(c.contains(flag), "{flag} missing: {c}");
        }
    }

    #[test]
    fn origins_are_compared_exactly() {
        let url = worker::Url::parse("http://127.0.0.1:8787/api/auth/refresh").unwrap();
        assert!(!is_foreign_origin(None, &url));
        assert!(!is_foreign_origin(Some("http://127.0.0.1:8787"), &url));
        assert!(is_foreign_origin(Some("https://evil.example"), &url));
        assert!(is_foreign_origin(Some("http://127.0.0.1:8788"), &url));
        assert!(is_foreign_origin(Some("null"), &url));
    }
}
