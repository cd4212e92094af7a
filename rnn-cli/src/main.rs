//! `cargo run -p rnn-cli -- explain specs/lstm.rnn` and `-- check specs/*.rnn`; installed with
//! `cargo install --path rnn-cli`.

use std::ffi::OsString;
use std::process::ExitCode;

/// What the command line asks for.
enum Request {
    Help,
    Version,
    Run { explain: bool, files: Vec<OsString> },
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Request, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut command: Option<bool> = None;
    let mut files = vec![];
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Request::Help),
            Short('V') | Long("version") => return Ok(Request::Version),
            Value(v) if command.is_none() => {
                command = Some(match v.to_str() {
                    Some("explain") => true,
                    Some("check") => false,
                    _ => return Err(format!("unknown command {v:?}: expected explain or check")),
                });
            }
            Value(v) => files.push(v),
            other => return Err(other.unexpected().to_string()),
        }
    }
    match command {
        None => Err("expected a command, explain or check".into()),
        Some(_) if files.is_empty() => Err("expected at least one spec file".into()),
        Some(explain) => Ok(Request::Run { explain, files }),
    }
}

fn main() -> ExitCode {
    let (explain, files) = match parse(std::env::args_os().skip(1)) {
        Ok(Request::Help) => {
            print!("{}", rnn_cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Request::Version) => {
            println!("rnn-cli {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Request::Run { explain, files }) => (explain, files),
        Err(e) => {
            eprint!("error: {e}\n\n{}", rnn_cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let mut ok = true;
    for file in &files {
        let outcome = if explain {
            rnn_cli::explain_file(file)
        } else {
            rnn_cli::check_file(file)
        };
        if outcome.ok {
            print!("{}", outcome.text);
        } else {
            eprint!("{}", outcome.text);
            ok = false;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
