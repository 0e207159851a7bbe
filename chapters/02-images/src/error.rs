//! The store's failures that a daemon answers with a status code of their
//! own, as values rather than sentences: the engine matches on the kind
//! (404, 400, 409), the CLI prints the text. Other failures (a corrupt
//! blob, a full disk) stay plain `anyhow` errors: a 500 either way.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No image answers to `name` (404). `hint` says what is there.
    NotFound { name: String, hint: String },
    /// An ID prefix that more than one image has (400).
    Ambiguous { prefix: String },
    /// The image cannot go: `user` still needs it (409).
    InUse { image: String, user: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound { name, hint } => write!(f, "no such image '{name}'; {hint}"),
            StoreError::Ambiguous { prefix } => {
                write!(
                    f,
                    "image ID prefix {prefix:?} is ambiguous: give more characters"
                )
            }
            StoreError::InUse { image, user } => write!(f, "image {image} is in use by {user}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// What `rmi` did, one item per name or image: Docker's
/// `ImageDeleteResponseItem` (`{"Untagged": …}` or `{"Deleted": …}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A name was taken off (its familiar form: `busybox:latest`).
    Untagged(String),
    /// The image itself, by ID, with every blob and layer no one else uses.
    Deleted(String),
}

impl fmt::Display for Removed {
    /// The line `docker rmi` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Removed::Untagged(name) => write!(f, "Untagged: {name}"),
            Removed::Deleted(id) => write!(f, "Deleted: {id}"),
        }
    }
}
