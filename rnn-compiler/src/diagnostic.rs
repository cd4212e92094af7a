//! Diagnostics: every error the compiler reports carries the byte range of the user's text it
//! is about, so that the macro can point at the offending tokens.

/// A byte range in the spec's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pos {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Pos {
    /// The range `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Pos {
            start,
            end: end.max(start),
        }
    }

    /// The smallest range covering both.
    pub fn to(self, other: Pos) -> Pos {
        Pos::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// One compile error: a message and where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The text the error underlines.
    pub pos: Pos,
    /// What was expected and what was found.
    pub message: String,
}

/// `message (bytes start..end of the spec)`; [`Source::to_error`](crate::Source::to_error) and
/// the command-line tool show the line and column instead.
impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (bytes {}..{} of the spec)",
            self.message, self.pos.start, self.pos.end
        )
    }
}

impl std::error::Error for Diagnostic {}

/// Collects the errors of a spec so that all of them are reported together.
#[derive(Debug, Default)]
pub struct Diagnostics {
    errors: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records an error at `pos`.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            pos,
            message: message.into(),
        });
    }

    /// Number of errors recorded so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The errors, in source order (then in the order they were found).
    pub fn into_vec(mut self) -> Vec<Diagnostic> {
        self.errors.sort_by_key(|d| d.pos.start);
        self.errors.dedup();
        self.errors
    }

    /// `Err` with every error if any was recorded.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<Diagnostic>> {
        if self.has_errors() {
            Err(self.into_vec())
        } else {
            Ok(value)
        }
    }
}
