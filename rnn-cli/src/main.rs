//! `cargo run -p rnn-cli -- explain specs/lstm.rnn` and `-- check specs/*.rnn`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, files) = match args.split_first() {
        Some((c, files)) if !files.is_empty() && (c == "explain" || c == "check") => {
            (c.as_str(), files)
        }
        _ => {
            eprint!("{}", rnn_cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let mut ok = true;
    for file in files {
        let outcome = if command == "explain" {
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
