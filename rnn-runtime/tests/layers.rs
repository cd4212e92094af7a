//! The runtime's sources are laid out by layer, one folder ("room") of `src/` per layer, and
//! imports run one way: a file may use its own room and the rooms below it, never one above.
//! Inside the crate, items are reached through the module that defines them
//! (`crate::core::params::ParamSet`), never through the crate root's re-exports (`crate::ParamSet`),
//! which would hide where an import really points.
//!
//! This test reads every file under `src/` (comments and string literals blanked out) and fails
//! on any `crate::` path that names a higher room, or no room at all, and on `super::super`
//! (which can leave a room unseen), listing the file and line of each. The order of the rooms is
//! [`LAYERS`]; `src/lib.rs` (the public surface, which re-exports from every room) is the only
//! file outside a room. Doc links are comments: they may point anywhere.

use std::fs;
use std::path::{Path, PathBuf};

/// The rooms of `src/`, bottom first. Each room's `mod.rs` says what it holds and why it sits
/// where it does.
const LAYERS: &[&str] = &["kernels", "core", "training", "nn", "io"];

fn rank(room: &str) -> Option<usize> {
    LAYERS.iter().position(|&l| l == room)
}

/// The source with comments, string literals and char literals replaced by spaces (newlines
/// kept, so byte offsets map to the same lines).
fn code_only(source: &str) -> String {
    let b = source.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        let starts_token = i == 0 || !is_ident(b[i - 1]);
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if starts_token && (b[i] == b'r' || b[i..].starts_with(b"br")) && {
            let k = if b[i] == b'r' { i + 1 } else { i + 2 };
            let hashes = b[k..].iter().take_while(|&&c| c == b'#').count();
            b.get(k + hashes) == Some(&b'"')
        } {
            // A raw string: r"...", r#"..."#, br"...".
            let k = if b[i] == b'r' { i + 1 } else { i + 2 };
            let hashes = b[k..].iter().take_while(|&&c| c == b'#').count();
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = k + hashes + 1;
            let end = (body..b.len())
                .find(|&j| b[j..].starts_with(&close))
                .map_or(b.len(), |j| j + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '"'), or else a lifetime or label ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                (i + 3..b.len()).find(|&j| b[j] == b'\'').map(|j| j + 1)
            } else {
                let ch_len = source[i + 1..].chars().next().map_or(0, char::len_utf8);
                (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 2 + ch_len)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("whole comments and literals, delimited by ASCII, were blanked")
}

fn line_of(source: &str, offset: usize) -> usize {
    source[..offset].bytes().filter(|&c| c == b'\n').count() + 1
}

/// The first path segment of each item of a `{...}` group starting at `open` (the brace), with
/// its offset: `crate::{core::x, nn::{a, b}}` gives `core` and `nn`.
fn group_heads(code: &str, open: usize) -> Vec<(usize, String)> {
    let b = code.as_bytes();
    let mut heads = Vec::new();
    let (mut depth, mut item_start) = (0usize, open + 1);
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' | b',' if depth == 1 => {
                let item = &code[item_start..j];
                let lead = item.len() - item.trim_start().len();
                let head: String = item
                    .trim_start()
                    .chars()
                    .take_while(|&c| c.is_alphanumeric() || c == '_' || c == '*')
                    .collect();
                if !head.is_empty() {
                    heads.push((item_start + lead, head));
                }
                item_start = j + 1;
                if c == b'}' {
                    break;
                }
            }
            b'}' => depth -= 1,
            _ => {}
        }
    }
    heads
}

/// Every violation of the layering rule in `source`, a file of `room` (`None`: outside every
/// room), as `file:line: message`.
fn check_source(file: &str, room: Option<&str>, source: &str) -> Vec<String> {
    let code = code_only(source);
    let own = room.and_then(rank);
    let mut found = Vec::new();
    let mut report = |offset: usize, message: String| {
        found.push(format!("{file}:{}: {message}", line_of(source, offset)));
    };
    let b = code.as_bytes();
    for (at, _) in code.match_indices("crate::") {
        let before = at.checked_sub(1).map(|p| b[p]);
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$') {
            continue; // `$crate::` in a macro, or the tail of another identifier
        }
        let rest = at + "crate::".len();
        let skipped = code[rest..].len() - code[rest..].trim_start().len();
        let next = rest + skipped;
        let heads = if b.get(next) == Some(&b'{') {
            group_heads(&code, next)
        } else {
            let head: String = code[next..]
                .chars()
                .take_while(|&c| c.is_alphanumeric() || c == '_' || c == '*')
                .collect();
            vec![(next, head)]
        };
        for (offset, head) in heads {
            match (rank(&head), own) {
                (None, _) => report(
                    offset,
                    format!(
                        "`crate::{head}` does not name a room: import from the defining module \
                         (`crate::<room>::<module>`), not through lib.rs re-exports"
                    ),
                ),
                (Some(target), Some(own)) if target > own => report(
                    offset,
                    format!(
                        "`crate::{head}` reaches up from `{}` to `{head}`, a higher layer",
                        LAYERS[own]
                    ),
                ),
                _ => {}
            }
        }
    }
    if own.is_some() {
        for (at, _) in code.match_indices("super::super") {
            report(
                at,
                "`super::super` can leave the room: reach other rooms by `crate::<room>::` paths"
                    .to_string(),
            );
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_run_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > LAYERS.len(), "no sources found under {src:?}");

    let mut violations = Vec::new();
    for room in LAYERS {
        let mod_rs = src.join(room).join("mod.rs");
        match fs::read_to_string(&mod_rs) {
            Ok(text) if text.starts_with("//!") => {}
            _ => violations.push(format!(
                "src/{room}/mod.rs: every room has a mod.rs whose module doc says what it holds \
                 and what it may import"
            )),
        }
    }
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        let name = format!("src/{}", relative.display());
        let mut parts = relative.components();
        let first = parts.next().unwrap().as_os_str().to_str().unwrap();
        let room = if parts.next().is_none() {
            if first != "lib.rs" {
                violations.push(format!(
                    "{name}: every module lives in a room (a folder of src/: {})",
                    LAYERS.join(", ")
                ));
            }
            None
        } else {
            if rank(first).is_none() {
                violations.push(format!(
                    "{name}: `{first}` is not a known room: add it to LAYERS in tests/layers.rs \
                     at its place in the order, and give it a mod.rs saying what it may import"
                ));
            }
            Some(first)
        };
        let source = fs::read_to_string(path).unwrap();
        violations.extend(check_source(&name, room, &source));
    }
    assert!(
        violations.is_empty(),
        "imports must run down the layers ({}):\n{}",
        LAYERS.join(" < "),
        violations.join("\n")
    );
}

/// The check itself finds what it must and nothing else.
#[test]
fn the_check_catches_upward_and_root_imports() {
    let source = r##"//! Docs may link anywhere: [`crate::nn::model`], [`crate::Seq2Seq`].
use crate::core::cell::Cell;
use crate::kernels::float::Float;
use crate::training::loss::mse;
use crate::{
    core::error::Error,
    io::checkpoint::save_tensors,
};
use crate::ParamSet;
pub(crate) fn f<'a>(x: &'a str) -> char {
    let _ = "crate::io::torch in a string";
    let _ = r#"crate::nn in a raw string"#;
    /* crate::io in a block comment */
    let _ = crate::nn::model::SequenceModel::<f64>::new;
    macro_rules! m { () => { $crate::io::x } }
    let _ = (b'\'', '\u{2013}', 'x');
    '"'
}
fn g() { super::super::nn::x(); }
"##;
    let found = check_source("src/training/x.rs", Some("training"), source);
    let lines: Vec<&str> = found
        .iter()
        .map(|v| v.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "src/training/x.rs:7",
            "src/training/x.rs:9",
            "src/training/x.rs:14",
            "src/training/x.rs:19"
        ],
        "{found:#?}"
    );
    assert!(found[0].contains("`crate::io` reaches up from `training` to `io`"));
    assert!(found[1].contains("`crate::ParamSet` does not name a room"));
    assert!(found[2].contains("`crate::nn` reaches up"));
    assert!(found[3].contains("super::super"));

    // The same imports are fine from the top room, except the one through the crate root.
    let found = check_source("src/io/x.rs", Some("io"), source);
    assert_eq!(found.len(), 2, "{found:#?}");
    // lib.rs may not import through itself either, but may name every room.
    let found = check_source(
        "src/lib.rs",
        None,
        "pub use crate::io::torch;\nuse crate::Float;",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("src/lib.rs:2: `crate::Float` does not name a room"));
}
