//! Query strings as the Engine API uses them: URL-encoded pairs, moby's
//! boolean rule, and `filters=<JSON>` in its two shapes.

use std::collections::BTreeMap;

use crate::error::ApiError;

pub fn parse(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// moby's rule for boolean parameters: "", 0, no, false and none (any case)
/// are false; every other value is true.
pub fn is_true(value: &str) -> bool {
    !matches!(
        value.to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}

/// `filters={"status":{"exited":true}}` (the CLI's map form) or
/// `filters={"status":["exited"]}` (the list form other clients send), as
/// key → accepted values.
pub type Filters = BTreeMap<String, Vec<String>>;

pub fn parse_filters(json: Option<&str>) -> Result<Filters, ApiError> {
    let Some(json) = json.filter(|j| !j.trim().is_empty()) else {
        return Ok(Filters::new());
    };
    let invalid = |why: String| ApiError::bad_request(format!("invalid filter {json:?}: {why}"));
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("expected a JSON object".into()))?;
    let mut filters = Filters::new();
    for (key, accepted) in object {
        let values: Vec<String> = match accepted {
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect(),
            serde_json::Value::Array(list) => list
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid(format!("{key}: values must be strings")))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(invalid(format!("{key}: expected an object or a list"))),
        };
        filters.insert(key.clone(), values);
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_moby() {
        for t in ["1", "true", "True", "yes", "x"] {
            assert!(is_true(t), "{t}");
        }
        for f in ["", "0", "no", "false", "False", "NONE"] {
            assert!(!is_true(f), "{f}");
        }
    }

    #[test]
    fn both_filter_shapes() {
        let f = parse_filters(Some(r#"{"status":{"exited":true,"running":false}}"#)).unwrap();
        assert_eq!(f["status"], vec!["exited"]);
        let f = parse_filters(Some(r#"{"name":["web","db"]}"#)).unwrap();
        assert_eq!(f["name"], vec!["web", "db"]);
        assert!(parse_filters(Some("{}")).unwrap().is_empty());
        assert!(parse_filters(None).unwrap().is_empty());
        assert_eq!(parse_filters(Some("[1]")).unwrap_err().status, 400);
        assert_eq!(parse_filters(Some("{nope")).unwrap_err().status, 400);
        assert!(parse_filters(Some(r#"{"a":[1]}"#)).is_err());
    }

    #[test]
    fn query_pairs_are_decoded() {
        let q = parse("fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest&x");
        assert_eq!(
            q[0],
            ("fromImage".into(), "docker.io/library/busybox".into())
        );
        assert_eq!(q[2], ("x".into(), "".into()));
    }
}
