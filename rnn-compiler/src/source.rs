//! The spec's text and where it came from. Inline macro input is written out as text with a
//! table from byte ranges to token spans, so pest parses text and errors still point at tokens;
//! a `.rnn` file is read relative to the crate root and its errors name the file, line and column.

use std::ops::Range;
use std::path::PathBuf;

use proc_macro2::{Delimiter, Punct, Spacing, Span, TokenStream, TokenTree};

use crate::diagnostic::{Diagnostic, Pos};

/// The text of a spec and the map back to its origin.
pub struct Source {
    /// The spec as text.
    pub text: String,
    origin: Origin,
}

enum Origin {
    /// Inline tokens: (byte range in `text`, span of the token).
    Tokens(Vec<(Range<usize>, Span)>),
    /// A file: its path (for messages and rebuild tracking) and the span of the path literal.
    File {
        path: PathBuf,
        display: String,
        span: Span,
    },
    /// Plain text (tests).
    Text,
}

impl Source {
    /// A spec given as plain text (used by tests and tools).
    pub fn from_text(text: impl Into<String>) -> Self {
        Source {
            text: text.into(),
            origin: Origin::Text,
        }
    }

    /// The macro's input: either the spec's tokens, or a string literal naming a `.rnn` file
    /// relative to `CARGO_MANIFEST_DIR`.
    pub fn from_macro_input(input: TokenStream) -> Result<Self, syn::Error> {
        if let Ok(lit) = syn::parse2::<syn::LitStr>(input.clone()) {
            let root = std::env::var_os("CARGO_MANIFEST_DIR")
                .map(PathBuf::from)
                .unwrap_or_default();
            let path = root.join(lit.value());
            let text = std::fs::read_to_string(&path).map_err(|e| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "cannot read spec file `{}` (a path relative to the crate's root, the \
                         directory of its Cargo.toml): {e}",
                        lit.value()
                    ),
                )
            })?;
            return Ok(Source {
                text,
                origin: Origin::File {
                    path,
                    display: lit.value(),
                    span: lit.span(),
                },
            });
        }
        let mut text = String::new();
        let mut table = Vec::new();
        write_tokens(input, &mut text, &mut table);
        Ok(Source {
            text,
            origin: Origin::Tokens(table),
        })
    }

    /// The file the spec was read from, if any (the expansion tracks it for rebuilds).
    pub fn file(&self) -> Option<&std::path::Path> {
        match &self.origin {
            Origin::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// 1-based line and 1-based column of a byte offset in the text.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// The line of the text where `pos` starts, with a gutter holding its number and a caret
    /// under the text `pos` covers on that line, as compilers print it (ends with a newline).
    pub fn excerpt(&self, pos: Pos) -> String {
        let (line, col) = self.line_col(pos.start);
        let text = self.text.lines().nth(line - 1).unwrap_or("");
        let width = self.text[pos.start.min(self.text.len())..pos.end.min(self.text.len())]
            .lines()
            .next()
            .map_or(1, |s| s.chars().count().max(1));
        let gutter = line.to_string().len();
        format!(
            "{:gutter$} |\n{line} | {text}\n{:gutter$} | {}{}\n",
            "",
            "",
            " ".repeat(col - 1),
            "^".repeat(width),
        )
    }

    /// The span of the token covering `offset` (or the next token after it).
    fn token_span(table: &[(Range<usize>, Span)], offset: usize, from_end: bool) -> Span {
        let found = if from_end {
            table
                .iter()
                .rev()
                .find(|(r, _)| r.start < offset.max(1))
                .or(table.first())
        } else {
            table.iter().find(|(r, _)| r.end > offset).or(table.last())
        };
        found.map_or_else(Span::call_site, |(_, s)| *s)
    }

    /// The span(s) a diagnostic points at.
    pub fn spans(&self, pos: Pos) -> (Span, Span) {
        match &self.origin {
            Origin::Tokens(table) => {
                let start = Self::token_span(table, pos.start, false);
                let end = if pos.end > pos.start {
                    Self::token_span(table, pos.end, true)
                } else {
                    start
                };
                (start, end)
            }
            Origin::File { span, .. } => (*span, *span),
            Origin::Text => (Span::call_site(), Span::call_site()),
        }
    }

    /// The compile error for a diagnostic, underlining its tokens (or, for a file, naming the
    /// file, line and column).
    pub fn to_error(&self, d: &Diagnostic) -> syn::Error {
        let message = match &self.origin {
            Origin::File { display, .. } => {
                // The error points at the path literal: the message shows the spec's line.
                let (line, col) = self.line_col(d.pos.start);
                format!(
                    "{display}:{line}:{col}: {}\n{}",
                    d.message,
                    self.excerpt(d.pos).trim_end()
                )
            }
            _ => d.message.clone(),
        };
        let (start, end) = self.spans(d.pos);
        let mut a = Punct::new('<', Spacing::Alone);
        a.set_span(start);
        let mut b = Punct::new('>', Spacing::Alone);
        b.set_span(end);
        let tokens: TokenStream = [TokenTree::Punct(a), TokenTree::Punct(b)]
            .into_iter()
            .collect();
        syn::Error::new_spanned(tokens, message)
    }
}

/// Writes tokens as text, one space between tokens, recording each token's byte range.
fn write_tokens(input: TokenStream, text: &mut String, table: &mut Vec<(Range<usize>, Span)>) {
    fn push(s: &str, span: Span, text: &mut String, table: &mut Vec<(Range<usize>, Span)>) {
        let start = text.len();
        text.push_str(s);
        table.push((start..text.len(), span));
        text.push(' ');
    }
    for tree in input {
        match tree {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                if !open.is_empty() {
                    push(open, g.span_open(), text, table);
                }
                write_tokens(g.stream(), text, table);
                if !close.is_empty() {
                    push(close, g.span_close(), text, table);
                }
            }
            TokenTree::Ident(i) => push(&i.to_string(), i.span(), text, table),
            TokenTree::Punct(p) => push(&p.as_char().to_string(), p.span(), text, table),
            TokenTree::Literal(l) => push(&l.to_string(), l.span(), text, table),
        }
    }
}
