//! Engine API versions. Every request path may start with `/v1.NN/`; the
//! client learns the server's maximum from the `Api-Version` header of
//! `/_ping` and uses `min(its own, the server's)` — the negotiation.

use std::fmt;
use std::str::FromStr;

/// An Engine API version such as 1.50.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

/// The newest API version we speak: the one docker CLI 28.2 uses.
pub const API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 50,
};
/// The oldest we accept, as dockerd 25+ does.
pub const MIN_API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 24,
};

impl FromStr for ApiVersion {
    type Err = String;
    fn from_str(text: &str) -> Result<ApiVersion, String> {
        let (major, minor) = text
            .split_once('.')
            .ok_or_else(|| format!("invalid API version {text:?}"))?;
        let number = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("invalid API version {text:?}"))
        };
        Ok(ApiVersion {
            major: number(major)?,
            minor: number(minor)?,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

// ANCHOR: negotiate
/// What a client uses after reading the server's `Api-Version` header: its
/// own version, lowered to the server's when the server is older. A missing
/// header means a very old daemon: the docker CLI then falls back to 1.24.
pub fn negotiate(client: ApiVersion, server_header: Option<&str>) -> ApiVersion {
    match server_header.and_then(|v| v.trim().parse::<ApiVersion>().ok()) {
        Some(server) => client.min(server),
        None => MIN_API_VERSION.min(client),
    }
}
// ANCHOR_END: negotiate

/// Checks a version taken from a request path against what we serve.
/// The messages are dockerd's.
pub fn check_supported(requested: ApiVersion) -> Result<(), String> {
    if requested > API_VERSION {
        return Err(format!(
            "client version {requested} is too new. Maximum supported API version is {API_VERSION}"
        ));
    }
    if requested < MIN_API_VERSION {
        return Err(format!(
            "client version {requested} is too old. Minimum supported API version is {MIN_API_VERSION}, \
             please upgrade your client to a newer version"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let v = |s: &str| s.parse::<ApiVersion>().unwrap();
        assert!(v("1.9") < v("1.10"));
        assert!(v("1.50") > v("1.41"));
        assert!("garbage".parse::<ApiVersion>().is_err());
        assert!("1.x".parse::<ApiVersion>().is_err());
    }

    #[test]
    fn negotiation_takes_the_lower_version() {
        assert_eq!(negotiate(API_VERSION, Some("1.41")).to_string(), "1.41");
        assert_eq!(negotiate(API_VERSION, Some("1.60")).to_string(), "1.50");
        assert_eq!(negotiate(API_VERSION, None).to_string(), "1.24");
        assert_eq!(negotiate(API_VERSION, Some("junk")).to_string(), "1.24");
    }

    #[test]
    fn range_check_uses_dockerds_messages() {
        assert!(check_supported("1.50".parse().unwrap()).is_ok());
        assert!(check_supported("1.24".parse().unwrap()).is_ok());
        assert!(
            check_supported("1.51".parse().unwrap())
                .unwrap_err()
                .contains("too new")
        );
        assert!(
            check_supported("1.12".parse().unwrap())
                .unwrap_err()
                .contains("too old")
        );
    }
}
