//! Errors the core reports; the extension maps each kind to a SQLSTATE.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A parameter out of range (SQLSTATE 22023).
    InvalidParameter,
    /// Stored or received bytes that are not a valid sketch (SQLSTATE XX001).
    Corrupt,
    /// Two sketches that cannot be combined (SQLSTATE 42804).
    Mismatch,
    /// An input beyond what a sketch accepts (SQLSTATE 54000).
    TooLarge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::InvalidParameter,
            message: message.into(),
        }
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Corrupt,
            message: message.into(),
        }
    }
    pub fn mismatch(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Mismatch,
            message: message.into(),
        }
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::TooLarge,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
