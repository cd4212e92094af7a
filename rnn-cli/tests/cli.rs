//! Snapshots of `rnn-cli explain` and `rnn-cli check` output.

fn spec(name: &str) -> String {
    format!("{}/../specs/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn explain_lstm() {
    let out = rnn_cli::explain_file(spec("lstm.rnn"));
    assert!(out.ok);
    insta::assert_snapshot!(out.text);
}

#[test]
fn explain_textbook_gru() {
    let out = rnn_cli::explain_file(spec("gru.rnn"));
    assert!(out.ok);
    insta::assert_snapshot!(out.text);
}

#[test]
fn explain_layer_norm_lstm() {
    let out = rnn_cli::explain_file(spec("layer_norm_lstm.rnn"));
    assert!(out.ok);
    insta::assert_snapshot!(out.text);
}

#[test]
fn explain_narx() {
    let out = rnn_cli::explain_file(spec("narx.rnn"));
    assert!(out.ok);
    insta::assert_snapshot!(out.text);
}

#[test]
fn every_spec_explains_and_checks() {
    let dir = format!("{}/../specs", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path().display().to_string();
        if path.ends_with(".rnn") {
            assert!(rnn_cli::explain_file(&path).ok, "{path}");
            assert!(rnn_cli::check_file(&path).ok, "{path}");
            n += 1;
        }
    }
    assert!(n >= 20);
}

#[test]
fn check_reports_every_error_with_a_caret() {
    let dir = std::env::temp_dir().join(format!("rnn-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.rnn");
    std::fs::write(
        &path,
        "cell Broken {\n    input x: [I];\n    state h: [H];\n    param W: [I, H];\n    param U: [H, H];\n    h[t] = tanh(x[t] @ W + h[t+1] @ U + q);\n}\n",
    )
    .unwrap();
    let out = rnn_cli::check_file(path.display().to_string());
    assert!(!out.ok);
    let text = out.text.replace(&path.display().to_string(), "broken.rnn");
    insta::assert_snapshot!(text);
}

fn cli(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rnn-cli"))
        .args(args)
        .output()
        .expect("rnn-cli runs")
}

#[test]
fn help_version_and_bad_usage() {
    let out = cli(&["--help".as_ref()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage: rnn-cli"));
    let out = cli(&["-V".as_ref()]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("rnn-cli {}", env!("CARGO_PKG_VERSION"))
    );
    for bad in [
        &["explain"][..],
        &["compile", "x.rnn"],
        &["check", "--fast", "x.rnn"],
        &[],
    ] {
        let args: Vec<&std::ffi::OsStr> = bad.iter().map(|s| s.as_ref()).collect();
        let out = cli(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: rnn-cli"));
    }
}

#[cfg(unix)]
#[test]
fn spec_files_with_non_utf8_names_are_read() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("rnn-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(std::ffi::OsStr::from_bytes(b"lstm-\xff.rnn"));
    std::fs::copy(spec("lstm.rnn"), &path).unwrap();
    let out = cli(&["check".as_ref(), path.as_os_str()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cell Lstm compiles"));
}
