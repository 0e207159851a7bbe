//! Maps `METHOD /path` to a handler. Patterns are written without the
//! version prefix: `/containers/{id}/start` also matches
//! `/v1.50/containers/abc/start`. A `{name*}` segment takes one or more
//! segments, because image names contain slashes
//! (`/images/localhost:5000/bb/push`).

use std::collections::HashMap;

use super::server::{Request, Response};
use crate::error::ApiError;
use crate::version::{self, ApiVersion};

pub type Handler = Box<dyn Fn(&mut Request) -> Result<Response, ApiError> + Send + Sync>;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
    /// One or more segments, joined by '/'.
    Rest(String),
}

struct Route {
    method: String,
    pattern: Vec<Segment>,
    handler: Handler,
}

#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// What the router found for a request path.
pub enum Match<'r> {
    Found {
        handler: &'r Handler,
        params: HashMap<String, String>,
        version: Option<ApiVersion>,
    },
    /// The path exists, but not for this method.
    WrongMethod {
        allowed: Vec<String>,
    },
    NotFound,
    BadVersion(String),
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route. A `GET` route also answers `HEAD` (without a body).
    pub fn add<F>(&mut self, method: &str, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request) -> Result<Response, ApiError> + Send + Sync + 'static,
    {
        let pattern = pattern
            .trim_matches('/')
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => match name.strip_suffix('*') {
                        Some(rest) => Segment::Rest(rest.to_string()),
                        None => Segment::Param(name.to_string()),
                    },
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        self.routes.push(Route {
            method: method.to_string(),
            pattern,
            handler: Box::new(handler),
        });
        self
    }

    // ANCHOR: route
    /// Finds the handler for a request. The optional `/vX.Y` prefix is taken
    /// off first and checked against the versions we serve.
    pub fn find(&self, method: &str, path: &str) -> Match<'_> {
        let mut segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut version = None;
        if let Some(v) = segments.first().and_then(|s| s.strip_prefix('v')) {
            if v.starts_with(|c: char| c.is_ascii_digit()) {
                match v.parse::<ApiVersion>() {
                    Ok(v) => {
                        if let Err(message) = version::check_supported(v) {
                            return Match::BadVersion(message);
                        }
                        version = Some(v);
                        segments.remove(0);
                    }
                    Err(message) => return Match::BadVersion(message),
                }
            }
        }
        let mut allowed = Vec::new();
        for route in &self.routes {
            if let Some(params) = match_segments(&route.pattern, &segments) {
                if route.method == method || (method == "HEAD" && route.method == "GET") {
                    return Match::Found {
                        handler: &route.handler,
                        params,
                        version,
                    };
                }
                allowed.push(route.method.clone());
            }
        }
        if allowed.is_empty() {
            Match::NotFound
        } else {
            Match::WrongMethod { allowed }
        }
    }
    // ANCHOR_END: route
}

fn match_segments(pattern: &[Segment], path: &[&str]) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let rest_at = pattern.iter().position(|s| matches!(s, Segment::Rest(_)));
    let (before, after) = match rest_at {
        Some(i) => (&pattern[..i], &pattern[i + 1..]),
        None => (pattern, &pattern[..0]),
    };
    let fixed = before.len() + after.len();
    if rest_at.is_none() && path.len() != fixed || rest_at.is_some() && path.len() <= fixed {
        return None;
    }
    let pairs = before
        .iter()
        .zip(&path[..before.len()])
        .chain(after.iter().zip(&path[path.len() - after.len()..]));
    for (segment, text) in pairs {
        match segment {
            Segment::Literal(lit) if lit == text => {}
            Segment::Param(name) if !text.is_empty() => {
                params.insert(name.clone(), percent_decode(text)?);
            }
            _ => return None,
        }
    }
    if let Some(Segment::Rest(name)) = rest_at.map(|i| &pattern[i]) {
        let joined = path[before.len()..path.len() - after.len()].join("/");
        params.insert(name.clone(), percent_decode(&joined)?);
    }
    Some(params)
}

/// Decodes `%2F`-style escapes in a path segment (the CLI escapes names).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let mut r = Router::new();
        r.add("GET", "/_ping", |_| Ok(Response::empty(200)));
        r.add("POST", "/containers/{id}/start", |_| {
            Ok(Response::empty(204))
        });
        r.add("POST", "/images/{name*}/push", |_| Ok(Response::empty(200)));
        r
    }

    fn params(m: Match<'_>) -> HashMap<String, String> {
        match m {
            Match::Found { params, .. } => params,
            _ => panic!("no match"),
        }
    }

    #[test]
    fn path_parameters_and_version_prefix() {
        let r = router();
        assert_eq!(
            params(r.find("POST", "/v1.50/containers/abc/start"))["id"],
            "abc"
        );
        assert_eq!(
            params(r.find("POST", "/containers/a%20b/start"))["id"],
            "a b"
        );
        match r.find("GET", "/v1.41/_ping") {
            Match::Found { version, .. } => assert_eq!(version.unwrap().to_string(), "1.41"),
            _ => panic!(),
        }
        assert!(matches!(r.find("HEAD", "/_ping"), Match::Found { .. }));
    }

    #[test]
    fn greedy_segments_take_slashes() {
        let r = router();
        assert_eq!(
            params(r.find("POST", "/images/localhost:5000/bb/push"))["name"],
            "localhost:5000/bb"
        );
        assert!(matches!(r.find("POST", "/images/push"), Match::NotFound));
    }

    #[test]
    fn misses_are_told_apart() {
        let r = router();
        assert!(matches!(r.find("GET", "/nothing"), Match::NotFound));
        assert!(matches!(
            r.find("GET", "/containers/x/start"),
            Match::WrongMethod { .. }
        ));
        assert!(matches!(
            r.find("GET", "/v1.99/_ping"),
            Match::BadVersion(_)
        ));
        assert!(matches!(
            r.find("GET", "/v1.2.3/_ping"),
            Match::BadVersion(_)
        ));
        assert!(matches!(
            r.find("POST", "/containers//start"),
            Match::NotFound
        ));
        // Not a version: a path segment that merely starts with 'v'.
        assert!(matches!(r.find("GET", "/volumes"), Match::NotFound));
    }
}
