//! Container ids and names. An id is 32 random bytes in hex (64 characters);
//! a name is chosen by the user or made up, and is unique per daemon.

use std::io::Read;

pub fn random_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fervent", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nifty", "quirky", "serene", "tender", "vibrant", "zealous",
];
const SCIENTISTS: &[&str] = &[
    "babbage",
    "curie",
    "dijkstra",
    "einstein",
    "hopper",
    "kernighan",
    "lamport",
    "lovelace",
    "noether",
    "pike",
    "ritchie",
    "shannon",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
];

/// "adjective_scientist", as dockerd's generator makes them, picked from the id.
pub fn generated_name(id: &str, attempt: usize) -> String {
    let byte = |i: usize| usize::from_str_radix(id.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    let base = format!(
        "{}_{}",
        ADJECTIVES[byte(0) % ADJECTIVES.len()],
        SCIENTISTS[byte(2) % SCIENTISTS.len()]
    );
    if attempt == 0 {
        base
    } else {
        format!("{base}{attempt}")
    }
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an optional
/// leading slash.
pub fn validate_name(name: &str) -> Result<String, String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = bare.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok {
        Ok(bare.to_string())
    } else {
        Err(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let id = random_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn names() {
        assert_eq!(validate_name("/web").unwrap(), "web");
        assert!(validate_name("my_app.v1-2").is_ok());
        for bad in ["", "a", "-x", "has space", "x/y", "émoji"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let id = "ab".repeat(32);
        assert!(generated_name(&id, 0).contains('_'));
        assert_ne!(generated_name(&id, 0), generated_name(&id, 1));
    }
}
