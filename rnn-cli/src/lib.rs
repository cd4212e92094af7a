//! The `rnn-cli` commands as functions, so that their output is tested like any library's.
//!
//! - `explain FILE`: shapes, parameter table, packing plan and the derived adjoint equations;
//! - `check FILE`: the compiler's diagnostics, `file:line:col` with a caret under the token.
#![warn(missing_docs)]

use std::path::Path;

use rnn_compiler::explain::{explain, render_diagnostic};
use rnn_compiler::{compile, Source};

/// The outcome of a command: what to print and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Text for standard output (success) or standard error (failure).
    pub text: String,
    /// Whether the spec compiled.
    pub ok: bool,
}

fn compile_file(path: &Path) -> Result<(Source, rnn_compiler::Compiled), Outcome> {
    let text = std::fs::read_to_string(path);
    // Shown with invalid UTF-8 replaced; read by its exact name.
    let shown = path.display().to_string();
    let path = shown.as_str();
    let text = text.map_err(|e| Outcome {
        text: format!("error: cannot read `{path}`: {e}\n"),
        ok: false,
    })?;
    let source = Source::from_text(text);
    match compile(&source) {
        Ok(compiled) => Ok((source, compiled)),
        Err(failure) => {
            let mut text: String = failure
                .diagnostics
                .iter()
                .map(|d| render_diagnostic(&source, path, d))
                .collect();
            let n = failure.diagnostics.len();
            text.push_str(&format!(
                "{n} error{} in {path}\n",
                if n == 1 { "" } else { "s" }
            ));
            Err(Outcome { text, ok: false })
        }
    }
}

/// `explain FILE`.
pub fn explain_file(path: impl AsRef<Path>) -> Outcome {
    match compile_file(path.as_ref()) {
        Ok((_, compiled)) => Outcome {
            text: explain(&compiled),
            ok: true,
        },
        Err(outcome) => outcome,
    }
}

/// `check FILE`.
pub fn check_file(path: impl AsRef<Path>) -> Outcome {
    let path = path.as_ref();
    match compile_file(path) {
        Ok((_, compiled)) => Outcome {
            text: format!("{}: cell {} compiles\n", path.display(), compiled.cell.name),
            ok: true,
        },
        Err(outcome) => outcome,
    }
}

/// The usage text.
pub const USAGE: &str = "usage: rnn-cli <explain|check> FILE.rnn...\n\
    \n  explain   print shapes, parameters, the packing plan and the derived adjoint equations\
    \n  check     compile and print diagnostics; exits with 1 if any spec has an error\n\
    \noptions:\
    \n  -h, --help     print this text\
    \n  -V, --version  print the version\n";
