//! Snapshots of the generated code of every spec in `specs/`, formatted with prettyplease, so
//! that every change to the emitted Rust is reviewed line by line (`cargo insta review`).

use std::path::Path;

fn generated(spec: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../specs")
        .join(spec);
    let text = std::fs::read_to_string(&path).expect("spec file");
    let compiled = match rnn_compiler::compile_text(&text) {
        Ok(c) => c,
        Err(errors) => panic!("{spec} does not compile: {errors:?}"),
    };
    let file: syn::File = syn::parse2(compiled.tokens).expect("generated code parses as a file");
    prettyplease::unparse(&file)
}

macro_rules! snapshot {
    ($test:ident, $file:literal) => {
        #[test]
        fn $test() {
            insta::assert_snapshot!(stringify!($test), generated($file));
        }
    };
}

snapshot!(rnn_tanh, "rnn_tanh.rnn");
snapshot!(rnn_relu, "rnn_relu.rnn");
snapshot!(lstm, "lstm.rnn");
snapshot!(gru, "gru.rnn");
snapshot!(gru_torch, "gru_torch.rnn");
snapshot!(lstm_no_forget, "lstm_no_forget.rnn");
snapshot!(lstm_cifg, "lstm_cifg.rnn");
snapshot!(lstm_peephole, "lstm_peephole.rnn");
snapshot!(residual, "residual.rnn");
snapshot!(narx, "narx.rnn");
snapshot!(lstm_nig, "lstm_nig.rnn");
snapshot!(lstm_nog, "lstm_nog.rnn");
snapshot!(lstm_niaf, "lstm_niaf.rnn");
snapshot!(lstm_noaf, "lstm_noaf.rnn");
snapshot!(lstm_np, "lstm_np.rnn");
snapshot!(lstm_fgr, "lstm_fgr.rnn");
snapshot!(mgu, "mgu.rnn");
snapshot!(mut1, "mut1.rnn");
snapshot!(mut2, "mut2.rnn");
snapshot!(mut3, "mut3.rnn");
snapshot!(ind_rnn, "ind_rnn.rnn");

snapshot!(layer_norm_lstm, "layer_norm_lstm.rnn");
snapshot!(layer_norm_lstm_haste, "layer_norm_lstm_haste.rnn");
snapshot!(ugrnn, "ugrnn.rnn");
snapshot!(lstm_variational, "lstm_variational.rnn");
snapshot!(lstm_zoneout, "lstm_zoneout.rnn");

/// Every spec in `specs/` has a snapshot test above.
#[test]
fn every_spec_is_snapshotted() {
    let this = include_str!("snapshots.rs");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    for entry in std::fs::read_dir(dir).expect("specs/") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8 name");
        if name.ends_with(".rnn") {
            assert!(
                this.contains(&format!("\"{name}\"")),
                "specs/{name} has no snapshot test"
            );
        }
    }
}

/// The parser's output for a small spec.
#[test]
fn parsed_ast() {
    let ast = rnn_compiler::parse::parse(
        "/// doc\npub cell Tiny { input x: [I]; state h: [H]; param W: [I, H] = xavier; h[t] = tanh(x[t] @ W) - -h[t-1]; }",
    )
    .expect("parses");
    insta::assert_debug_snapshot!(ast);
}
