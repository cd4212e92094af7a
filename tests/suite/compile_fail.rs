//! Compile-fail tests of the `rnn_cell!` macro: one mistake per file under
//! `tests/ui/<category>/`, each with the exact error expected in the `.stderr` beside it.
//! Regenerate the expectations with `TRYBUILD=overwrite cargo test --test suite compile_fail`.

use std::path::PathBuf;

/// trybuild builds the cases as a crate in `<target>/tests/trybuild/recurrent/`, the crate root that
/// `rnn_cell!("tests/ui/file/...")` resolves against: the spec files the cases read are copied
/// there, so the cases pass with any `CARGO_TARGET_DIR`.
fn copy_spec_files() {
    let exe = std::env::current_exe().expect("the test's path");
    // <target>/<profile>/deps/suite-<hash>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test runs from <target>/<profile>/deps");
    let dir = target.join("tests/trybuild/recurrent/tests/ui/file");
    std::fs::create_dir_all(&dir).expect("the trybuild crate's directory can be created");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui/file/bad.rnn");
    std::fs::copy(source, dir.join("bad.rnn")).expect("the spec file can be copied");
}

#[test]
fn ui() {
    copy_spec_files();
    trybuild::TestCases::new().compile_fail("tests/ui/*/*.rs");
}
