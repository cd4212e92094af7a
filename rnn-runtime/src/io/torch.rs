//! PyTorch interoperability: the parameters of one layer and direction of a `torch.nn.RNN`,
//! `torch.nn.LSTM` or `torch.nn.GRU` `state_dict` in and out of the built-in cells.
//!
//! PyTorch stores, for layer `l` (and `_reverse` for the backward direction of a bidirectional
//! module), with `G` gates, hidden size `H` and layer input size `I` (the module's `input_size`
//! for layer 0, `H` or `2H` (bidirectional) above):
//!
//! | key | shape | holds |
//! | --- | --- | --- |
//! | `weight_ih_l{l}[_reverse]` | `[G*H, I]` | the gates' input weights, stacked, `[out, in]` |
//! | `weight_hh_l{l}[_reverse]` | `[G*H, H]` | the gates' recurrent weights, stacked |
//! | `bias_ih_l{l}[_reverse]` | `[G*H]` | input biases (absent when `bias=False`) |
//! | `bias_hh_l{l}[_reverse]` | `[G*H]` | recurrent biases (absent when `bias=False`) |
//!
//! Our cells keep one `[in, out]` matrix per gate (`W: [I, H]`, the transpose of a block). Block
//! `k` (rows `k*H..(k+1)*H`) of each PyTorch tensor maps to:
//!
//! | cell (`CellSpec::name`) | PyTorch module | `weight_ih` blocks | `weight_hh` blocks | biases |
//! | --- | --- | --- | --- | --- |
//! | `RnnTanh` | `nn.RNN(nonlinearity="tanh")` | `W_xh` | `W_hh` | `b_h = bias_ih + bias_hh` |
//! | `RnnRelu` | `nn.RNN(nonlinearity="relu")` | `W_xh` | `W_hh` | `b_h = bias_ih + bias_hh` |
//! | `Lstm` | `nn.LSTM` (no `proj_size`) | `W_xi, W_xf, W_xc, W_xo` | `W_hi, W_hf, W_hc, W_ho` | `b_* = bias_ih + bias_hh`, blocks `i, f, c, o` |
//! | `GruTorch` | `nn.GRU` | `W_ir, W_iz, W_in` | `W_hr, W_hz, W_hn` | `bias_ih` → `b_ir, b_iz, b_in`; `bias_hh` → `b_hr, b_hz, b_hn` |
//!
//! (PyTorch's LSTM gate order is input, forget, cell candidate `g`, output: our `c` is its `g`.)
//!
//! Where a cell has one bias per gate, importing sums PyTorch's two and exporting puts the bias
//! in `bias_ih` and zeros in `bias_hh`: the module computes the same function. A bidirectional
//! layer is two cells: the `_reverse` one runs on the time-reversed sequence (reverse its
//! outputs back and concatenate them with the forward cell's along the feature axis to get
//! PyTorch's layer output; that is the next layer's input).
//!
//! ```no_run
//! # use rnn_runtime::{load_foreign_tensors, torch::import_torch, Cell, Result};
//! # fn demo<C: Cell<f64>>(mut forward: C, mut backward: C) -> Result<()> {
//! // A file written by `safetensors.torch.save_file(lstm.state_dict(), "lstm.safetensors")`.
//! let state = load_foreign_tensors::<f64>("lstm.safetensors")?;
//! import_torch(&mut forward, &state, "", 0, false)?; // weight_ih_l0, ...
//! import_torch(&mut backward, &state, "", 0, true)?; // weight_ih_l0_reverse, ...
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use ndarray::{concatenate, ArrayD, ArrayViewD, Axis, IxDyn};

use crate::core::cell::Cell;
use crate::core::error::{Error, Result};
use crate::core::params::ParamSet;
use crate::core::tensors::check_finite_array;
use crate::io::checkpoint::TensorFile;
use crate::kernels::float::Float;

/// The cells (by [`crate::CellSpec::name`]) whose parameters map to a PyTorch module.
pub const SUPPORTED_CELLS: &[&str] = &["RnnTanh", "RnnRelu", "Lstm", "GruTorch"];

/// How one cell's parameters map to a PyTorch module's.
struct Layout {
    cell: &'static str,
    weight_ih: &'static [&'static str],
    weight_hh: &'static [&'static str],
    bias_ih: &'static [&'static str],
    bias_hh: &'static [&'static str],
}

impl Layout {
    /// One bias per gate in the cell: PyTorch's two biases are summed into it.
    fn summed(&self) -> bool {
        self.bias_ih == self.bias_hh
    }
}

const LAYOUTS: &[Layout] = &[
    Layout {
        cell: "RnnTanh",
        weight_ih: &["W_xh"],
        weight_hh: &["W_hh"],
        bias_ih: &["b_h"],
        bias_hh: &["b_h"],
    },
    Layout {
        cell: "RnnRelu",
        weight_ih: &["W_xh"],
        weight_hh: &["W_hh"],
        bias_ih: &["b_h"],
        bias_hh: &["b_h"],
    },
    Layout {
        cell: "Lstm",
        weight_ih: &["W_xi", "W_xf", "W_xc", "W_xo"],
        weight_hh: &["W_hi", "W_hf", "W_hc", "W_ho"],
        bias_ih: &["b_i", "b_f", "b_c", "b_o"],
        bias_hh: &["b_i", "b_f", "b_c", "b_o"],
    },
    Layout {
        cell: "GruTorch",
        weight_ih: &["W_ir", "W_iz", "W_in"],
        weight_hh: &["W_hr", "W_hz", "W_hn"],
        bias_ih: &["b_ir", "b_iz", "b_in"],
        bias_hh: &["b_hr", "b_hz", "b_hn"],
    },
];

fn layout_of<F: Float, C: Cell<F>>() -> Result<&'static Layout> {
    let name = C::spec().name;
    LAYOUTS.iter().find(|l| l.cell == name).ok_or_else(|| {
        Error::Checkpoint(format!(
            "cell {name} has no PyTorch layout; expected one of: {}",
            SUPPORTED_CELLS.join(", ")
        ))
    })
}

/// The `state_dict` key of `kind` (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`) for `layer`
/// and direction: `{prefix}{kind}_l{layer}` plus `_reverse` when `reverse`, e.g.
/// `torch_key("rnn.", "weight_ih", 1, true) == "rnn.weight_ih_l1_reverse"`.
pub fn torch_key(prefix: &str, kind: &str, layer: usize, reverse: bool) -> String {
    let suffix = if reverse { "_reverse" } else { "" };
    format!("{prefix}{kind}_l{layer}{suffix}")
}

/// Loads layer `layer` (direction `reverse`) of a PyTorch `state_dict` into `cell`.
///
/// Reads `{prefix}weight_ih_l{layer}[_reverse]` (`[G*H, I]`), `weight_hh` (`[G*H, H]`) and, if
/// present, `bias_ih` and `bias_hh` (`[G*H]`; both or neither: a module built with `bias=False`
/// has none and loads with zero biases); splits the `G` gate blocks, transposes them to our
/// `[in, out]` layout and maps the biases as the [module table](self) says. `prefix` is what
/// precedes the keys in the dictionary (`""` for the module's own `state_dict`, `"rnn."` for a
/// submodule called `rnn`).
///
/// Errors, all before anything is written (on error the cell is unchanged): a cell without a
/// PyTorch layout (naming [`SUPPORTED_CELLS`]); a missing key (naming it and the keys present);
/// a tensor whose shape does not fit the cell's dimensions ([`Error::Shape`] naming the key, the
/// expected and the found shape); an LSTM with `proj_size` (a `weight_hr` key); a `NaN` or
/// infinite value (naming the key and the entry).
pub fn import_torch<F: Float, C: Cell<F>>(
    cell: &mut C,
    tensors: &TensorFile<F>,
    prefix: &str,
    layer: usize,
    reverse: bool,
) -> Result<()> {
    let layout = layout_of::<F, C>()?;
    let key = |kind: &str| torch_key(prefix, kind, layer, reverse);
    let context = |e: Error| match e {
        Error::Checkpoint(m) => Error::Checkpoint(format!(
            "importing layer {layer}{} of a PyTorch state_dict into {}: {m}",
            if reverse { " (reverse)" } else { "" },
            layout.cell
        )),
        other => other,
    };
    let hr = key("weight_hr");
    if tensors.contains(&hr) {
        return Err(Error::Checkpoint(format!(
            "importing into {}: found `{hr}` (an LSTM with proj_size); expected a module \
             without projection",
            layout.cell
        )));
    }

    let mut new: BTreeMap<&'static str, ArrayD<F>> = BTreeMap::new();
    let params = cell.params();
    let mut add = |names: &'static [&'static str], kind: &str, transpose: bool| -> Result<()> {
        let k = key(kind);
        let full = tensors.get(&k).map_err(context)?;
        check_finite_array("PyTorch tensor", &k, full.view())
            .map_err(|e| context(Error::Checkpoint(e.to_string())))?;
        let blocks = split(params, names, &k, full, transpose)?;
        for (name, block) in names.iter().zip(blocks) {
            match new.get_mut(name) {
                Some(v) => *v += &block,
                None => {
                    new.insert(name, block);
                }
            }
        }
        Ok(())
    };
    add(layout.weight_ih, "weight_ih", true)?;
    add(layout.weight_hh, "weight_hh", true)?;
    let (bih, bhh) = (key("bias_ih"), key("bias_hh"));
    match (tensors.contains(&bih), tensors.contains(&bhh)) {
        (true, true) => {
            add(layout.bias_ih, "bias_ih", false)?;
            add(layout.bias_hh, "bias_hh", false)?;
        }
        (false, false) => {
            // bias=False: zero biases.
            for name in layout.bias_ih.iter().chain(layout.bias_hh) {
                let shape = params.get(name)?.raw_dim();
                new.insert(name, ArrayD::zeros(shape));
            }
        }
        (true, false) | (false, true) => {
            let missing = if tensors.contains(&bih) { &bhh } else { &bih };
            // Names the missing key and lists those present.
            return Err(context(tensors.get(missing).err().unwrap_or_else(|| {
                Error::Checkpoint(format!("missing `{missing}`"))
            })));
        }
    }

    // Write into a copy, then swap it in: all or nothing.
    let mut updated = params.clone();
    for (name, value) in &new {
        updated.set(name, value.view())?;
    }
    *cell.params_mut() = updated;
    Ok(())
}

/// Splits the PyTorch tensor `full` (key `key`) into one block per name in `names`, transposed
/// to `[in, out]` when `transpose`, checking its shape against the cell's parameters.
fn split<F: Float>(
    params: &ParamSet<F>,
    names: &[&str],
    key: &str,
    full: ArrayViewD<'_, F>,
    transpose: bool,
) -> Result<Vec<ArrayD<F>>> {
    // Our shape of each block: `[in, out]` for weights, `[out]` for biases.
    let ours: Vec<Vec<usize>> = names
        .iter()
        .map(|n| params.get(n).map(|v| v.shape().to_vec()))
        .collect::<Result<_>>()?;
    let block = &ours[0];
    let what = || format!("PyTorch tensor `{key}` ({})", names.join(", "));
    if ours.iter().any(|s| s != block) {
        return Err(Error::Shape {
            what: what(),
            expected: format!("gates of one shape {block:?}"),
            found: format!("{ours:?}"),
        });
    }
    let g = names.len();
    let expected: Vec<usize> = if transpose {
        vec![g * block[1], block[0]]
    } else {
        vec![g * block[0]]
    };
    if full.shape() != expected.as_slice() {
        let expected_text = if transpose {
            format!("[{g}*{}, {}] = {expected:?}", block[1], block[0])
        } else {
            format!("[{g}*{}] = {expected:?}", block[0])
        };
        return Err(Error::Shape {
            what: what(),
            expected: expected_text,
            found: format!("{:?}", full.shape()),
        });
    }
    let rows = expected[0] / g;
    Ok((0..g)
        .map(|k| {
            let b = full.slice_axis(Axis(0), (k * rows..(k + 1) * rows).into());
            let b = if transpose { b.reversed_axes() } else { b };
            b.as_standard_layout().into_owned()
        })
        .collect())
}

/// The parameters of `cell` as layer `layer` (direction `reverse`) of a PyTorch `state_dict`:
/// `{prefix}weight_ih_l{layer}[_reverse]` (`[G*H, I]`), `weight_hh` (`[G*H, H]`), `bias_ih` and
/// `bias_hh` (`[G*H]`), in that order, each in standard layout (see the [module table](self)).
///
/// The inverse of [`import_torch`]: where the cell has one bias per gate, `bias_ih` holds it and
/// `bias_hh` is zero. Saved with [`crate::save_tensors`] (all layers and directions of a module
/// in one file), the result is accepted by
/// `module.load_state_dict(safetensors.torch.load_file(path))` for the matching `nn.RNN`,
/// `nn.LSTM` or `nn.GRU` (`bias=True`).
///
/// Errors: a cell without a PyTorch layout (naming [`SUPPORTED_CELLS`]).
pub fn export_torch<F: Float, C: Cell<F>>(
    cell: &C,
    prefix: &str,
    layer: usize,
    reverse: bool,
) -> Result<Vec<(String, ArrayD<F>)>> {
    let layout = layout_of::<F, C>()?;
    let params = cell.params();
    let stack = |names: &[&str], transpose: bool| -> Result<ArrayD<F>> {
        let blocks: Vec<ArrayViewD<'_, F>> = names
            .iter()
            .map(|n| {
                params
                    .get(n)
                    .map(|v| if transpose { v.reversed_axes() } else { v })
            })
            .collect::<Result<_>>()?;
        let joined = concatenate(Axis(0), &blocks).map_err(|e| {
            Error::Invalid(format!(
                "stacking {} of {}: {e}",
                names.join(", "),
                layout.cell
            ))
        })?;
        Ok(joined.as_standard_layout().into_owned())
    };
    let weight_ih = stack(layout.weight_ih, true)?;
    let weight_hh = stack(layout.weight_hh, true)?;
    let bias_ih = stack(layout.bias_ih, false)?;
    let bias_hh = if layout.summed() {
        ArrayD::zeros(IxDyn(bias_ih.shape()))
    } else {
        stack(layout.bias_hh, false)?
    };
    let key = |kind: &str| torch_key(prefix, kind, layer, reverse);
    Ok(vec![
        (key("weight_ih"), weight_ih),
        (key("weight_hh"), weight_hh),
        (key("bias_ih"), bias_ih),
        (key("bias_hh"), bias_hh),
    ])
}
