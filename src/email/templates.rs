//! The messages chatgate sends, one template per message (a `.txt` whose first line is the
//! subject, and an `.html`), with `{{name}}` placeholders. Values are inserted as they are in
//! the text and HTML-escaped in the HTML; a template naming a value it is not given, or given
//! one it does not use, is an error (the unit tests render every template).

use super::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// To a new account's address: the link that verifies it.
    VerifyEmail,
    /// To the address a user asked to change to: the link that makes it theirs.
    ChangeEmail,
    /// To the current address when a change away from it is asked for.
    EmailChangeNotice,
    /// To an account's address: the link that sets a new password.
    ResetPassword,
}

impl Template {
    pub const ALL: [Template; 4] = [
        Template::VerifyEmail,
        Template::ChangeEmail,
        Template::EmailChangeNotice,
        Template::ResetPassword,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Template::VerifyEmail => "verify_email",
            Template::ChangeEmail => "change_email",
            Template::EmailChangeNotice => "email_change_notice",
            Template::ResetPassword => "reset_password",
        }
    }

    fn sources(self) -> (&'static str, &'static str) {
        match self {
            Template::VerifyEmail => (
                include_str!("templates/verify_email.txt"),
                include_str!("templates/verify_email.html"),
            ),
            Template::ChangeEmail => (
                include_str!("templates/change_email.txt"),
                include_str!("templates/change_email.html"),
            ),
            Template::EmailChangeNotice => (
                include_str!("templates/email_change_notice.txt"),
                include_str!("templates/email_change_notice.html"),
            ),
            Template::ResetPassword => (
                include_str!("templates/reset_password.txt"),
                include_str!("templates/reset_password.html"),
            ),
        }
    }

    /// The message to `to`, with `values` (`name`, `email`, `link`…) filled in.
    pub fn render(self, to: &str, values: &[(&str, &str)]) -> Result<Message, String> {
        let (text_source, html_source) = self.sources();
        let (first, body) = text_source
            .split_once('\n')
            .ok_or_else(|| format!("{}: no body", self.name()))?;
        let subject = first
            .strip_prefix("Subject: ")
            .ok_or_else(|| format!("{}: the first line must be `Subject: …`", self.name()))?;
        let mut used = Vec::new();
        let text = fill(body, values, &mut used, |v| v.to_string())
            .map_err(|e| format!("{}.txt: {e}", self.name()))?;
        let html = fill(html_source, values, &mut used, escape_html)
            .map_err(|e| format!("{}.html: {e}", self.name()))?;
        if let Some((unused, _)) = values.iter().find(|(k, _)| !used.contains(k)) {
            return Err(format!("{}: `{unused}` is given but not used", self.name()));
        }
        Ok(Message {
            id: crate::util::new_id("msg"),
            template: self,
            to: to.to_string(),
            subject: subject.trim().to_string(),
            text,
            html,
        })
    }
}

/// `source` with each `{{key}}` replaced by `encode(value)`; the keys met go in `used`.
fn fill<'v>(
    source: &str,
    values: &[(&'v str, &str)],
    used: &mut Vec<&'v str>,
    encode: impl Fn(&str) -> String,
) -> Result<String, String> {
    let mut out = String::with_capacity(source.len() + 256);
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("an unclosed `{{`")?;
        let key = &after[..end];
        let (k, value) = values
            .iter()
            .find(|(k, _)| *k == key)
            .ok_or_else(|| format!("no value for `{{{{{key}}}}}`"))?;
        if !used.contains(k) {
            used.push(k);
        }
        out.push_str(&encode(value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Text made safe for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Template) -> Vec<(&'static str, &'static str)> {
        let mut v = vec![("name", "Ada <script>"), ("email", "ada@example.com")];
        match t {
            Template::EmailChangeNotice => v.push(("new_email", "a&b@example.com")),
            _ => v.push(("link", "https://chat.example.com/x?token=abc")),
        }
        v
    }

    #[test]
    fn every_template_renders_with_its_values_and_a_subject() {
        for t in Template::ALL {
            let m = t.render("ada@example.com", &values(t)).unwrap();
            assert!(!m.subject.is_empty() && !m.subject.contains('\n'), "{t:?}");
            assert!(!m.text.contains("{{") && !m.html.contains("{{"), "{t:?}");
            assert!(
                m.text.contains("Ada <script>"),
                "{t:?}: the text keeps values as they are"
            );
            assert!(
                m.html.contains("Ada &lt;script&gt;") && !m.html.contains("<script>"),
                "{t:?}: the HTML escapes them"
            );
            if t != Template::EmailChangeNotice {
                assert!(
                    m.text.contains("https://chat.example.com/x?token=abc"),
                    "{t:?}"
                );
                assert!(
                    m.html
                        .contains("href=\"https://chat.example.com/x?token=abc\""),
                    "{t:?}"
                );
            }
        }
    }

    #[test]
    fn a_missing_or_an_unused_value_is_an_error() {
        let missing = Template::VerifyEmail.render("a@example.com", &[("name", "A")]);
        assert!(missing.unwrap_err().contains("no value"));
        let mut extra = values(Template::ResetPassword);
        extra.push(("surprise", "x"));
        let unused = Template::ResetPassword.render("a@example.com", &extra);
        assert!(unused.unwrap_err().contains("surprise"));
    }

    #[test]
    fn html_escaping_covers_attributes_too() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
