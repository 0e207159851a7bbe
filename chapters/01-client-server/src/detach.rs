//! Detach keys: the byte sequence that, typed into an attached terminal,
//! lets go of the container without stopping it (`ctrl-p ctrl-q` unless
//! `--detach-keys` or the attach's `detachKeys` say otherwise). Both sides
//! watch for it, as Docker's do: the CLI so that it can exit, the daemon so
//! that the end of the input is a detach, not "no more stdin".

/// docker's default, `ctrl-p,ctrl-q`.
pub const DEFAULT: &[u8] = &[0x10, 0x11];

/// Parses docker's syntax: comma-separated keys, each a single character
/// or `ctrl-X` for X in `a`–`z`, `@`, `[`, `\`, `]`, `^`, `_`.
pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let invalid = |key: &str| {
        Err(format!(
            "invalid detach keys {text:?} at {key:?}: use a comma-separated list of \
             characters and ctrl-<value> (e.g. ctrl-p,ctrl-q)"
        ))
    };
    let mut keys = Vec::new();
    for key in text.split(',') {
        match key.strip_prefix("ctrl-") {
            // ASCII control codes: ctrl-a is 1 … ctrl-z is 26, ctrl-@ is 0,
            // ctrl-[ ctrl-\ ctrl-] ctrl-^ ctrl-_ are 27 … 31.
            Some(c) if c.len() == 1 => match c.as_bytes()[0].to_ascii_lowercase() {
                b @ b'a'..=b'z' => keys.push(b - b'a' + 1),
                b'@' => keys.push(0),
                b @ (b'[' | b'\\' | b']' | b'^' | b'_') => keys.push(b - b'[' + 27),
                _ => return invalid(key),
            },
            Some(_) => return invalid(key),
            None if key.len() == 1 => keys.push(key.as_bytes()[0]),
            None => return invalid(key),
        }
    }
    Ok(keys)
}

/// Watches a byte stream for the sequence. Bytes that might begin it are
/// held back until the next bytes show whether they do: a lone `ctrl-p`
/// still reaches the container once the next key is not `ctrl-q`.
pub struct Scanner {
    keys: Vec<u8>,
    matched: usize,
}

/// What [`Scanner::feed`] found in a chunk of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned {
    /// Pass these bytes on.
    Forward(Vec<u8>),
    /// The sequence was typed: pass on the bytes before it, then detach.
    Detach(Vec<u8>),
}

impl Scanner {
    pub fn new(keys: Vec<u8>) -> Scanner {
        Scanner { keys, matched: 0 }
    }

    // ANCHOR: feed
    pub fn feed(&mut self, input: &[u8]) -> Scanned {
        let mut out = Vec::with_capacity(input.len());
        for &byte in input {
            if self.keys.is_empty() {
                out.push(byte);
                continue;
            }
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return Scanned::Detach(out);
                }
                continue;
            }
            // Not the sequence after all: the held bytes were input.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if byte == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(byte);
            }
        }
        Scanned::Forward(out)
    }
    // ANCHOR_END: feed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_syntax_parses() {
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse("ctrl-@,ctrl-[,ctrl-_").unwrap(), vec![0, 27, 31]);
        assert!(parse("ctrl-").is_err());
        assert!(parse("ctrl-1").is_err());
        assert!(parse("ab").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn the_sequence_detaches_and_a_lone_prefix_passes_on() {
        let mut s = Scanner::new(DEFAULT.to_vec());
        assert_eq!(s.feed(b"ls\n"), Scanned::Forward(b"ls\n".to_vec()));
        assert_eq!(s.feed(b"a\x10"), Scanned::Forward(b"a".to_vec()));
        assert_eq!(s.feed(b"b"), Scanned::Forward(b"\x10b".to_vec()));
        assert_eq!(s.feed(b"x\x10\x10"), Scanned::Forward(b"x\x10".to_vec()));
        assert_eq!(s.feed(b"\x11rest"), Scanned::Detach(Vec::new()));
        let mut s = Scanner::new(DEFAULT.to_vec());
        assert_eq!(s.feed(b"echo\x10\x11"), Scanned::Detach(b"echo".to_vec()));
    }
}
