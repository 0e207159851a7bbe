//! Image references as Docker reads them. `busybox` is short for
//! `docker.io/library/busybox:latest`: the registry defaults to Docker Hub,
//! official images live under `library/`, and the tag defaults to `latest`.
//! A reference may name a tag, a digest (`@sha256:…`), or both.
//! (distribution/reference: `normalize.go`, `regexp.go`.)

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const OFFICIAL_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host, with port if any: `docker.io`, `localhost:5000`.
    pub domain: String,
    /// Repository path in that registry: `library/busybox`, `team/app`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises, adding the default registry, `library/` and
    /// the `latest` tag where Docker would.
    pub fn parse(text: &str) -> Result<Reference, String> {
        let invalid = |why: &str| format!("invalid reference format {text:?}: {why}");
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(digest.parse::<Digest>().map_err(|e| invalid(&e))?),
            ),
            None => (text, None),
        };
        // A ':' after the last '/' starts the tag; before it, it is a port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                return Err(invalid(
                    "a tag is up to 128 of [A-Za-z0-9_.-], not starting with . or -",
                ));
            }
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid("repository name longer than 255 characters"));
        }
        // ANCHOR: normalize
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        if domain == "index.docker.io" {
            return Reference::parse(&text.replacen("index.docker.io", DEFAULT_DOMAIN, 1));
        }
        validate_domain(&domain).map_err(|e| invalid(&e))?;
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "invalid reference format {text:?}: repository name must be lowercase"
            ));
        }
        for component in path.split('/') {
            validate_component(component).map_err(|e| invalid(&e))?;
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        // ANCHOR_END: normalize
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `docker.io/library/busybox`: the repository, without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form Docker prints: `busybox:latest`, `team/app:v1`,
    /// `localhost:5000/app:v1`.
    pub fn familiar(&self) -> String {
        let mut text = self.familiar_repository();
        if let Some(tag) = &self.tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
        text
    }

    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_PREFIX)
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        }
    }

    /// The same repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }
}

/// `[a-z0-9]+` separated by `.`, `_`, `__` or runs of `-`.
fn validate_component(component: &str) -> Result<(), String> {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(format!(
            "path component {component:?} must start and end with [a-z0-9]"
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!("invalid separator {separator:?} in {component:?}"));
        }
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return Err(format!("invalid port {port:?} in registry {domain:?}"));
        }
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || !host.split('.').all(label_ok) {
        return Err(format!("invalid registry host {host:?}"));
    }
    Ok(())
}

impl FromStr for Reference {
    type Err = String;
    fn from_str(text: &str) -> Result<Reference, String> {
        Reference::parse(text)
    }
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(text: &str) -> String {
        Reference::parse(text).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("team/app"), "docker.io/team/app:latest");
        assert_eq!(
            full("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("localhost:5000/bb:v1"), "localhost:5000/bb:v1");
        assert_eq!(full("localhost/bb"), "localhost/bb:latest");
        assert_eq!(
            full("registry.example.com/a/b/c"),
            "registry.example.com/a/b/c:latest"
        );
        let digest = format!("sha256:{}", "e".repeat(64));
        assert_eq!(
            full(&format!("busybox@{digest}")),
            format!("docker.io/library/busybox@{digest}")
        );
        assert_eq!(
            full(&format!("busybox:1@{digest}")),
            format!("docker.io/library/busybox:1@{digest}")
        );
        assert_eq!(
            full("my_app.v2__x--y"),
            "docker.io/library/my_app.v2__x--y:latest"
        );
    }

    #[test]
    fn familiar_forms() {
        let r = |t: &str| Reference::parse(t).unwrap();
        assert_eq!(r("docker.io/library/busybox").familiar(), "busybox:latest");
        assert_eq!(r("team/app:v1").familiar(), "team/app:v1");
        assert_eq!(
            r("localhost:5000/app:v1").familiar(),
            "localhost:5000/app:v1"
        );
        assert_eq!(r("busybox").with_tag("x").familiar(), "busybox:x");
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "Busybox",
            "busy box",
            "busybox:",
            "busybox:-x",
            ":tag",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "localhost:99999/x",
            "busybox@sha256:zz",
            "a/B",
            "../etc",
            "a/./b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be invalid");
        }
        assert!(
            Reference::parse("Busybox")
                .unwrap_err()
                .contains("must be lowercase")
        );
        assert!(Reference::parse(&"a".repeat(256)).is_err());
    }
}
