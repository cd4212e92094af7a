use std::fmt;

/// The runtime's error: every message names what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An array had the wrong shape.
    Shape {
        /// What the array is, e.g. "input sequence x".
        what: String,
        /// The expected shape, with dimension names, e.g. `[T, B, I=3]`.
        expected: String,
        /// The shape that was passed.
        found: String,
    },
    /// A name (parameter, state) that the cell does not have.
    UnknownName {
        /// "parameter" or "state".
        kind: &'static str,
        /// The name that was asked for.
        name: String,
        /// The names the cell has.
        known: Vec<&'static str>,
    },
    /// Any other invalid argument.
    Invalid(String),
    /// Reading or writing a file failed at the operating-system level.
    Io {
        /// The file (or directory) concerned.
        path: String,
        /// What was being done and the system's message, e.g. `reading: No such file`.
        message: String,
    },
    /// A checkpoint file or a tensor dictionary is not what was expected: corrupt or truncated
    /// file, checksum mismatch, wrong dtype, missing tensor, unsupported layout. The message
    /// names the file (when there is one) and says what was expected and what was found.
    Checkpoint(String),
}

/// `Result` with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A shape error for `what`, expected `expected`, found `found`.
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, found: &[usize]) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.into(),
            found: format!("{found:?}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape {
                what,
                expected,
                found,
            } => {
                write!(f, "{what}: expected shape {expected}, found {found}")
            }
            Error::UnknownName { kind, name, known } => {
                write!(
                    f,
                    "unknown {kind} `{name}`; expected one of: {}",
                    known.join(", ")
                )
            }
            Error::Invalid(message) => f.write_str(message),
            Error::Io { path, message } => write!(f, "{path}: {message}"),
            Error::Checkpoint(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}
