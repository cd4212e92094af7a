//! The examples' command line: `--name value` (or `--name=value`) options and bare switches,
//! parsed with lexopt. An example declares its flags once, in its usage line: `[--name VALUE]`
//! is an option taking a value, `[--name]` a switch, anything else (`[TEXT_FILE]`) is prose. An
//! unknown flag, a missing value, a value that does not parse or is out of range is an error
//! that names it (never a silent default); `--help` prints the usage.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Display;
use std::str::FromStr;

/// The parsed command line of an example.
#[derive(Debug, Clone)]
pub struct Flags {
    usage: &'static str,
    values: BTreeMap<&'static str, String>,
    switches: Vec<&'static str>,
    positional: Vec<OsString>,
}

/// Settings an example reads from its command line: its defaults, overridden by the flags given.
pub trait Settings: Default {
    /// Overrides the settings that `flags` give.
    fn read_flags(&mut self, flags: &Flags) -> recurrent::Result<()>;
}

/// An example's `main`: parses the process's arguments against `usage` (printing it and exiting
/// on `--help`), reads the settings `S` from them and runs `cli` with both; the result becomes
/// the exit status ([`report`]).
pub fn main<S: Settings>(
    usage: &'static str,
    cli: impl FnOnce(S, &Flags) -> recurrent::Result<()>,
) -> std::process::ExitCode {
    report(Flags::from_env(usage).and_then(|flags| {
        let mut settings = S::default();
        settings.read_flags(&flags)?;
        cli(settings, &flags)
    }))
}

/// What a usage line declares: its options (`[--name VALUE]`), switches (`[--name]`) and
/// positional arguments (`[NAME]`), each in the order the usage line names them.
#[derive(Debug, Default, PartialEq)]
pub struct Declared {
    /// Flags that take a value.
    pub options: Vec<&'static str>,
    /// Flags without a value.
    pub switches: Vec<&'static str>,
    /// Arguments that are not flags, at most one each.
    pub positional: Vec<&'static str>,
}

/// The flags and arguments `usage` declares.
pub fn declared(usage: &'static str) -> Declared {
    let mut declared = Declared::default();
    for item in usage.split('[').skip(1) {
        let item = &item[..item.find(']').unwrap_or(item.len())];
        match item.strip_prefix("--") {
            Some(flag) => match flag.split_once(' ') {
                Some((name, _)) => declared.options.push(name),
                None => declared.switches.push(flag),
            },
            None => declared.positional.push(item),
        }
    }
    declared
}

impl Flags {
    /// Parses the process's arguments against the flags `usage` declares. Prints `usage` and
    /// exits on `--help`.
    pub fn from_env(usage: &'static str) -> recurrent::Result<Self> {
        let flags = Self::parse(std::env::args_os().skip(1), usage)?;
        if flags.switch("help") {
            print!("{usage}");
            std::process::exit(0);
        }
        Ok(flags)
    }

    /// Parses `args` (without the program name) against the flags `usage` declares ([`declared`]);
    /// `--help` is recorded as the switch `help`.
    pub fn parse(
        args: impl IntoIterator<Item = OsString>,
        usage: &'static str,
    ) -> recurrent::Result<Self> {
        use lexopt::prelude::*;
        let Declared {
            options,
            switches,
            positional,
        } = declared(usage);
        let fail = |msg: String| recurrent::Error::Invalid(format!("{msg}\n\n{usage}"));
        let mut parser = lexopt::Parser::from_args(args);
        let mut flags = Flags {
            usage,
            values: BTreeMap::new(),
            switches: vec![],
            positional: vec![],
        };
        while let Some(arg) = parser.next().map_err(|e| fail(e.to_string()))? {
            match arg {
                Long("help") | Short('h') => flags.switches.push("help"),
                Long(name) => {
                    if let Some(&option) = options.iter().find(|&&o| o == name) {
                        let value = parser.value().map_err(|e| fail(e.to_string()))?;
                        let value = value.into_string().map_err(|v| {
                            fail(format!("--{option}: expected UTF-8 text, found {v:?}"))
                        })?;
                        flags.values.insert(option, value);
                    } else if let Some(&switch) = switches.iter().find(|&&s| s == name) {
                        flags.switches.push(switch);
                    } else {
                        return Err(fail(format!("unknown flag `--{name}`")));
                    }
                }
                Short(c) => return Err(fail(format!("unknown flag `-{c}`"))),
                Value(v) if flags.positional.len() < positional.len() => flags.positional.push(v),
                Value(v) => {
                    return Err(fail(match positional.as_slice() {
                        [] => format!("unexpected argument {v:?}: this example takes only flags"),
                        names => format!(
                            "unexpected argument {v:?}: expected at most {} argument(s) ({}) \
                             besides the flags",
                            names.len(),
                            names.join(", ")
                        ),
                    }))
                }
            }
        }
        Ok(flags)
    }

    /// The value of `--name` as a `T`, or `default` when the flag is absent.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> recurrent::Result<T>
    where
        T::Err: Display,
    {
        Ok(self.get_opt(name)?.unwrap_or(default))
    }

    /// The value of `--name` as a `T`, if given.
    pub fn get_opt<T: FromStr>(&self, name: &str) -> recurrent::Result<Option<T>>
    where
        T::Err: Display,
    {
        match self.values.get(name) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|e: T::Err| {
                recurrent::Error::Invalid(format!(
                    "--{name}: expected a value of type {}, found `{text}` ({e})\n\n{}",
                    std::any::type_name::<T>(),
                    self.usage
                ))
            }),
        }
    }

    /// The value of `--name` (or `default`), refused unless `valid` holds; `expected` says what
    /// is valid.
    pub fn get_checked<T: FromStr + Display>(
        &self,
        name: &str,
        default: T,
        expected: &str,
        valid: impl Fn(&T) -> bool,
    ) -> recurrent::Result<T>
    where
        T::Err: Display,
    {
        let v = self.get(name, default)?;
        if valid(&v) {
            Ok(v)
        } else {
            Err(recurrent::Error::Invalid(format!(
                "--{name}: expected {expected}, found {v}\n\n{}",
                self.usage
            )))
        }
    }

    /// Whether the switch `--name` was given.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.contains(&name)
    }

    /// The arguments that are neither flags nor their values.
    pub fn positional(&self) -> &[OsString] {
        &self.positional
    }
}

/// The exit status of an example: success, or the error printed (its message, not its debug
/// form) and status 1.
pub fn report(result: recurrent::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> recurrent::Result<Flags> {
        Flags::parse(
            args.iter().map(OsString::from),
            "usage: example [FILE] [--epochs N] [--lr X] [--fast]\n",
        )
    }

    #[test]
    fn the_usage_line_declares_the_flags() {
        let usage =
            "usage: char_lm [TEXT_FILE] [--epochs N] [--layers N (>= 1)] [--cells rnn,gru] \
[--no-reverse] [--prompt TEXT]\n";
        let d = declared(usage);
        assert_eq!(d.options, ["epochs", "layers", "cells", "prompt"]);
        assert_eq!(d.switches, ["no-reverse"]);
        assert_eq!(d.positional, ["TEXT_FILE"]);
    }

    #[test]
    fn values_switches_and_positionals() {
        let f = parse(&["--epochs", "7", "--lr=0.5", "--fast", "file.txt"]).unwrap();
        assert_eq!(f.get("epochs", 1usize).unwrap(), 7);
        assert_eq!(f.get("lr", 1.0f64).unwrap(), 0.5);
        assert!(f.switch("fast"));
        assert_eq!(f.positional(), &[OsString::from("file.txt")]);
        assert_eq!(parse(&[]).unwrap().get("epochs", 3usize).unwrap(), 3);
    }

    #[test]
    fn arguments_beyond_the_declared_ones_are_errors() {
        let e = parse(&["a.txt", "b.txt"]).unwrap_err().to_string();
        assert!(
            e.contains("unexpected argument \"b.txt\"") && e.contains("(FILE)"),
            "{e}"
        );
        let none = Flags::parse([OsString::from("x")], "usage: example [--fast]\n");
        let e = none.unwrap_err().to_string();
        assert!(e.contains("takes only flags"), "{e}");
    }

    #[test]
    fn bad_flags_and_values_are_errors_naming_them() {
        let e = parse(&["--epoch", "7"]).unwrap_err().to_string();
        assert!(
            e.contains("unknown flag `--epoch`") && e.contains("usage"),
            "{e}"
        );
        let e = parse(&["--epochs", "seven"])
            .unwrap()
            .get("epochs", 1usize)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--epochs") && e.contains("`seven`"), "{e}");
        let e = parse(&["--epochs"]).unwrap_err().to_string();
        assert!(e.contains("--epochs"), "{e}");
        let e = parse(&["--epochs", "0"])
            .unwrap()
            .get_checked("epochs", 1usize, "at least 1", |&n| n >= 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--epochs: expected at least 1, found 0"), "{e}");
    }
}
