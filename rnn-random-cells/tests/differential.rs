//! Differential test: for every built-in cell (one per file in `specs/`) and the extra corners
//! of the language in `tests/specs/`, the generated Rust code and the compiler's reference
//! evaluator (`rnn_compiler::eval`, run on the same spec text) agree on outputs, final states
//! and every gradient to 1e-12 in f64, with random parameters, inputs, initial states, state and
//! input history, and variable lengths (including 0), and for the cells with random masks
//! (`LstmVariational`, `LstmZoneout`) with the masks at their expectation, given (random 0/1)
//! and drawn by `forward_train`, by [`rnn_random_cells::check`], the comparison the random specs
//! go through. Any disagreement is a codegen bug (or an evaluator
//! bug: the evaluator is itself checked against finite differences by
//! `rnn-compiler/tests/differentiator.rs`).

use facade::cells::*;
use facade::rnn_cell;
use facade::Cell;

/// The workspace's root, where `specs/` and `tests/specs/` live.
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check<C: Cell<f64>>(dims: C::Dims, spec_file: &str, eval_dims: &[(&str, usize)], seed: u64) {
    let text = std::fs::read_to_string(root().join(spec_file)).expect("the spec file is readable");
    match rnn_random_cells::check::<C>(dims, &text, eval_dims, seed) {
        Ok(checked) => assert!(
            !checked.near_kink,
            "{spec_file}: the data put a pre-activation next to a kink (gradients not compared); \
             change the seed"
        ),
        Err(e) => panic!(
            "{}: generated code and reference evaluator disagree:\n{e}",
            C::spec().name
        ),
    }
}

macro_rules! differential {
    ($($test:ident: $cell:ident, $dims:ident { $($d:ident: $n:expr),* }, $file:literal;)*) => {
        $(
            #[test]
            fn $test() {
                check::<$cell<f64>>(
                    $dims { $($d: $n),* },
                    $file,
                    &[$((stringify!($d), $n)),*],
                    0xd1ff ^ line!() as u64,
                );
            }
        )*

        /// Every spec file has a test above (`tests/specs/*.rnn` are extra corners of the
        /// language, `specs/*.rnn` the built-in cells, which must all be covered).
        #[test]
        fn every_spec_is_covered() {
            let covered = [$($file),*];
            assert!(covered.contains(&"tests/specs/edge.rnn"));
            let mut files: Vec<String> = std::fs::read_dir(root().join("specs"))
                .expect("specs/ is readable")
                .map(|e| format!("specs/{}", e.expect("entry").file_name().to_string_lossy()))
                .filter(|f| f.ends_with(".rnn"))
                .collect();
            files.sort();
            for f in &files {
                assert!(covered.contains(&f.as_str()), "{f} has no differential test");
            }
        }
    };
}

rnn_cell!("../tests/specs/edge.rnn");
rnn_cell!("../tests/specs/chained.rnn");

differential! {
    edge: Edge, EdgeDims { I: 3, H: 4 }, "tests/specs/edge.rnn";
    chained_products: Chained, ChainedDims { I: 3, H: 4 }, "tests/specs/chained.rnn";
    rnn_tanh: RnnTanh, RnnTanhDims { I: 3, H: 4 }, "specs/rnn_tanh.rnn";
    rnn_relu: RnnRelu, RnnReluDims { I: 3, H: 4 }, "specs/rnn_relu.rnn";
    lstm: Lstm, LstmDims { I: 3, H: 4 }, "specs/lstm.rnn";
    gru: Gru, GruDims { I: 3, H: 4 }, "specs/gru.rnn";
    gru_torch: GruTorch, GruTorchDims { I: 3, H: 4 }, "specs/gru_torch.rnn";
    lstm_no_forget: LstmNoForget, LstmNoForgetDims { I: 3, H: 4 }, "specs/lstm_no_forget.rnn";
    lstm_cifg: LstmCifg, LstmCifgDims { I: 3, H: 4 }, "specs/lstm_cifg.rnn";
    lstm_peephole: LstmPeephole, LstmPeepholeDims { I: 3, H: 4 }, "specs/lstm_peephole.rnn";
    residual: Residual, ResidualDims { I: 3, H: 4 }, "specs/residual.rnn";
    narx: Narx, NarxDims { I: 3, H: 4 }, "specs/narx.rnn";
    lstm_nig: LstmNig, LstmNigDims { I: 3, H: 4 }, "specs/lstm_nig.rnn";
    lstm_nog: LstmNog, LstmNogDims { I: 3, H: 4 }, "specs/lstm_nog.rnn";
    lstm_niaf: LstmNiaf, LstmNiafDims { I: 3, H: 4 }, "specs/lstm_niaf.rnn";
    lstm_noaf: LstmNoaf, LstmNoafDims { I: 3, H: 4 }, "specs/lstm_noaf.rnn";
    lstm_np: LstmNp, LstmNpDims { I: 3, H: 4 }, "specs/lstm_np.rnn";
    lstm_fgr: LstmFgr, LstmFgrDims { I: 3, H: 4 }, "specs/lstm_fgr.rnn";
    mgu: Mgu, MguDims { I: 3, H: 4 }, "specs/mgu.rnn";
    mut1: Mut1, Mut1Dims { H: 4 }, "specs/mut1.rnn";
    mut2: Mut2, Mut2Dims { H: 4 }, "specs/mut2.rnn";
    mut3: Mut3, Mut3Dims { I: 3, H: 4 }, "specs/mut3.rnn";
    ind_rnn: IndRnn, IndRnnDims { I: 3, H: 4 }, "specs/ind_rnn.rnn";
    layer_norm_lstm: LayerNormLstm, LayerNormLstmDims { I: 3, H: 4 }, "specs/layer_norm_lstm.rnn";
    layer_norm_lstm_haste: LayerNormLstmHaste, LayerNormLstmHasteDims { I: 3, H: 4 }, "specs/layer_norm_lstm_haste.rnn";
    ugrnn: Ugrnn, UgrnnDims { I: 3, H: 4 }, "specs/ugrnn.rnn";
    lstm_variational: LstmVariational, LstmVariationalDims { I: 3, H: 4 }, "specs/lstm_variational.rnn";
    lstm_zoneout: LstmZoneout, LstmZoneoutDims { I: 3, H: 4 }, "specs/lstm_zoneout.rnn";
}
