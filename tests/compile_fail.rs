//! Compile-fail tests of the `rnn_cell!` macro (DESIGN.md §6): one mistake per file under
//! `tests/ui/<category>/`, each with the exact error expected in the `.stderr` beside it.
//! Regenerate the expectations with `TRYBUILD=overwrite cargo test --test compile_fail`.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*/*.rs");
}
