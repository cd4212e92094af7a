use std::fmt;
use std::io;
use std::sync::Arc;

/// The runtime's error: every message names what was expected and what was found.
///
/// New variants may be added in later versions (the enum is `#[non_exhaustive]`): match the
/// ones you handle and keep a wildcard arm. An I/O failure keeps the operating system's
/// [`io::Error`] as its [`source`](std::error::Error::source), so callers can ask for its
/// [`kind`](io::Error::kind) (e.g. [`io::ErrorKind::NotFound`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
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
        /// The operating system's error, also returned by
        /// [`source`](std::error::Error::source) (shared, so that `Error` stays `Clone`).
        source: Arc<io::Error>,
    },
    /// A checkpoint file or a tensor dictionary is not what was expected: corrupt or truncated
    /// file, checksum mismatch, wrong dtype, missing tensor, unsupported layout. The message
    /// names the file (when there is one) and says what was expected and what was found.
    Checkpoint(String),
    /// The processes of a data-parallel run are out of step: another model on one rank,
    /// parameters that drifted apart, a step or a checkpoint that failed on one rank. Every rank
    /// gets this error; the message names the ranks (and, on the rank concerned, what differs).
    Distributed(String),
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

    /// An I/O error on `path` while `doing` (e.g. `"reading"`), keeping `source` as the
    /// error's [`source`](std::error::Error::source).
    pub fn io(path: impl Into<String>, doing: &str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            message: format!("{doing}: {source}"),
            source: Arc::new(source),
        }
    }

    /// The I/O error's kind, for an [`Error::Io`].
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

impl PartialEq for Error {
    /// Equal variants and fields; two I/O errors are equal when their path, message and the
    /// source's [`kind`](io::Error::kind) are (an [`io::Error`] has no equality of its own).
    fn eq(&self, other: &Self) -> bool {
        use Error::*;
        match (self, other) {
            (
                Shape {
                    what,
                    expected,
                    found,
                },
                Shape {
                    what: w,
                    expected: e,
                    found: f,
                },
            ) => (what, expected, found) == (w, e, f),
            (
                UnknownName { kind, name, known },
                UnknownName {
                    kind: k,
                    name: n,
                    known: w,
                },
            ) => (kind, name, known) == (k, n, w),
            (Invalid(a), Invalid(b))
            | (Checkpoint(a), Checkpoint(b))
            | (Distributed(a), Distributed(b)) => a == b,
            (
                Io {
                    path,
                    message,
                    source,
                },
                Io {
                    path: p,
                    message: m,
                    source: s,
                },
            ) => (path, message, source.kind()) == (p, m, s.kind()),
            _ => false,
        }
    }
}

impl Eq for Error {}

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
            // The message includes the system's, so that printing the error alone says why.
            Error::Io { path, message, .. } => write!(f, "{path}: {message}"),
            Error::Checkpoint(message) | Error::Distributed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_errors_keep_the_system_error_as_source() {
        let e = Error::io(
            "/x",
            "reading",
            io::Error::new(io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(e.to_string(), "/x: reading: gone");
        assert_eq!(e.io_kind(), Some(io::ErrorKind::NotFound));
        let source = e.source().expect("a source");
        let io = source.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        assert_eq!(e.clone(), e);
        assert!(Error::Invalid("x".into()).source().is_none());
        assert_eq!(Error::Invalid("x".into()).io_kind(), None);
    }
}
