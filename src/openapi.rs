//! The OpenAPI 3.1 document served at /openapi.json, kept whole by the tests below.

pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    fn doc() -> serde_json::Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON")
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let d = doc();
        assert!(d["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(d["info"]["title"].is_string());
    }

    #[test]
    fn every_routed_path_is_documented_and_nothing_else() {
        let d = doc();
        let paths = d["paths"].as_object().unwrap();
        for r in ROUTES {
            let op = &paths
                .get(r.pattern)
                .unwrap_or_else(|| panic!("{} is not documented", r.pattern))
                [r.method.to_ascii_lowercase()];
            assert!(
                op.is_object(),
                "{} {} is not documented",
                r.method,
                r.pattern
            );
            assert!(
                op["responses"].is_object(),
                "{} {} lists no responses",
                r.method,
                r.pattern
            );
        }
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                if ["parameters", "summary", "description"].contains(&method.as_str()) {
                    continue;
                }
                assert!(
                    ROUTES
                        .iter()
                        .any(|r| r.pattern == path && r.method.eq_ignore_ascii_case(method)),
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }

    #[test]
    fn the_audit_event_types_documented_are_those_the_log_records() {
        let d = doc();
        let documented: Vec<&str> = d["components"]["schemas"]["AuditEvent"]["properties"]["type"]
            ["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let recorded: Vec<&str> = crate::store::audit::Action::ALL
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(documented, recorded);
    }

    #[test]
    fn every_console_route_is_documented_as_the_console_s() {
        let d = doc();
        for r in ROUTES
            .iter()
            .filter(|r| r.pattern.starts_with("/api/admin"))
        {
            let op = &d["paths"][r.pattern][r.method.to_ascii_lowercase()];
            assert_eq!(op["tags"][0], "admin", "{} {}", r.method, r.pattern);
            assert!(
                op["responses"]["404"].is_object(),
                "{} {}",
                r.method,
                r.pattern
            );
        }
    }

    #[test]
    fn every_reference_resolves() {
        let d = doc();
        let text = DOCUMENT;
        for part in text.split("\"$ref\": \"#/").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let mut node = &d;
            for seg in target.split('/') {
                node = &node[seg];
            }
            assert!(!node.is_null(), "#/{target} does not resolve");
        }
    }
}
