//! The runtime's failures that an engine answers with a status code of
//! their own (404, 409), as values: matched on the kind, not the text. The
//! text is runc's, word for word, because engines that drive runc (dockerd,
//! containerd) read these very words from its log.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    /// No container by that ID in the state root (404).
    NotFound { id: String },
    /// The ID is taken (409).
    Exists { id: String },
    /// The container is not in the state the command needs (409): runc's
    /// sentence for it, e.g. "container not running".
    WrongState { id: String, why: &'static str },
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::NotFound { .. } => f.write_str("container does not exist"),
            RuntimeError::Exists { id } => write!(f, "container with id exists: {id}"),
            RuntimeError::WrongState { why, .. } => f.write_str(why),
        }
    }
}

impl std::error::Error for RuntimeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateDir;

    #[test]
    fn the_state_root_says_what_kind_of_failure() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir {
            root: dir.path().to_path_buf(),
        };
        let missing = states.load("nope").unwrap_err();
        assert_eq!(
            missing.downcast_ref::<RuntimeError>(),
            Some(&RuntimeError::NotFound { id: "nope".into() })
        );
        assert_eq!(missing.to_string(), "container does not exist");
        states.claim("taken").unwrap();
        let taken = states.claim("taken").unwrap_err();
        assert!(matches!(
            taken.downcast_ref::<RuntimeError>(),
            Some(RuntimeError::Exists { id }) if id == "taken"
        ));
    }
}
