//! The random specs of `build.rs`, each compiled by `rnn_cell!` (this file includes them) and
//! compared with the reference evaluator by [`rnn_random_cells::check`]. See the crate's docs
//! for what is compared and how to run more specs.

include!(concat!(env!("OUT_DIR"), "/cells.rs"));

#[test]
fn random_specs_compiled_by_the_macro_match_the_reference_evaluator() {
    let start = std::time::Instant::now();
    let mut failures = vec![];
    let (mut values, mut near_kink, mut masked) = (0, 0, 0);
    for (name, spec, run) in CASES {
        // Counted from the text, so that a failing spec with masks counts too.
        masked += usize::from(spec.contains("\n    mask "));
        match run() {
            Ok(checked) => {
                values += checked.values;
                near_kink += usize::from(checked.near_kink);
            }
            Err(e) => failures.push(format!("{name} (seed {SEED:#x}): {e}\nspec:\n{spec}")),
        }
    }
    eprintln!(
        "{} random specs compiled by the macro ({masked} with random masks), {} passed \
         ({near_kink} with some gradients skipped next to a kink), {values} numbers compared \
         with the reference evaluator in {:.1?}",
        CASES.len(),
        CASES.len() - failures.len(),
        start.elapsed()
    );
    assert!(CASES.len() >= 200 || std::env::var_os("RNN_RANDOM_CELLS").is_some());
    assert!(
        failures.is_empty(),
        "{} of {} random specs disagree:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

/// The emitter hands at most `MAX_ROW_PASS_BLOCKS` rows to the runtime's vectorized pass; the
/// runtime implements that many.
#[test]
fn the_vectorized_pass_limit_agrees() {
    assert_eq!(
        rnn_compiler::emit::MAX_ROW_PASS_BLOCKS,
        facade::__private::MAX_ROW_PASS_BLOCKS
    );
}
