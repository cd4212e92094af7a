//! ONNX export: any cell (built-in or written with `rnn_cell!`) and whole
//! [`SequenceModel`](crate::SequenceModel)s as ONNX models (operator set [`OPSET`]) that
//! onnxruntime and other engines run, with the recurrence intact: a `Scan` over time whose body
//! is the cell's step, built from the operations the compiler lists in the cell's spec.
//!
//! # A cell's model
//!
//! Inputs (`T` and `B` are free: any length, any batch):
//! - `x`: float `[T, B, I]`, time-major;
//! - `lengths` (optional): int64 `[B]`, each example's number of steps (all `T` when left out);
//!   past its length an example's states stay frozen and its outputs are zero, as here;
//! - `init.<entry>` (optional, zeros when left out): float `[B, size]` for each entry of the
//!   cell's `States`, by the names of `States::entry_names`: each state (`init.h`), its history
//!   (`init.h[t-2]`) and the input history (`init.x[t-1]`).
//!
//! Outputs: `y`, float `[T, B, O]`, and `final.<entry>`, float `[B, size]`: the cell's
//! `Inference::outputs` and `final_states`. The optional inputs are graph inputs with a default
//! value (an initializer of the same name), so an engine may be given them or not.
//!
//! Random masks are at their expectation (inference). Weights are stored as float32.
//!
//! With the facade crate `recurrent` (feature `onnx`):
//!
//! ```ignore
//! # fn main() -> recurrent::Result<()> {
//! use recurrent::cells::{Lstm, LstmDims};
//! let lstm = Lstm::<f32>::new(LstmDims { I: 3, H: 8 }, &mut recurrent::seeded_rng(0));
//! recurrent::onnx::save_cell(&lstm, "lstm.onnx")?;
//! # Ok(())
//! # }
//! ```

mod graph;
mod model;
#[doc(hidden)]
pub mod proto;
mod scan;

use std::path::Path;

use prost::Message;

use crate::core::dyn_cell::DynCell;
use crate::core::error::{Error, Result};
use crate::kernels::float::Float;
use graph::{value_info, Dim, Graph};
use proto::{ModelProto, OperatorSetIdProto, FLOAT, INT64};

/// The ONNX operator set of exported models: 17 (onnxruntime 1.14 and later, TensorRT 8.6 and
/// later).
pub const OPSET: i64 = 17;

/// The ONNX IR version that goes with [`OPSET`].
const IR_VERSION: i64 = 8;

/// A cell's ONNX model (see the [module](self) documentation), as bytes.
pub fn export_cell<F: Float>(cell: &dyn DynCell<F>) -> Result<Vec<u8>> {
    let spec = cell.cell_spec();
    let mut g = Graph::new("");
    let carried = scan::carried_values(cell)?;
    let names = cell.zero_states(1).entry_names();
    let (x, lengths) = ("x".to_string(), "lengths".to_string());
    let mut inputs = vec![value_info(
        &x,
        FLOAT,
        Some(&[
            Dim::Named("T"),
            Dim::Named("B"),
            Dim::Fixed(cell.input_size()),
        ]),
    )];
    g.initializers.push(proto::TensorProto {
        dims: vec![1],
        data_type: INT64,
        int64_data: vec![i64::MAX],
        name: lengths.clone(),
        ..Default::default()
    });
    inputs.push(value_info(&lengths, INT64, Some(&[Dim::Named("B")])));
    let batch = batch_of(&mut g, &x);
    let mut init = vec![];
    for ((_, _, size), name) in carried.iter().zip(&names) {
        let input = format!("init.{name}");
        g.float_tensor(&input, &[1, *size], vec![0.0; *size]);
        inputs.push(value_info(
            &input,
            FLOAT,
            Some(&[Dim::Named("B"), Dim::Fixed(*size)]),
        ));
        init.push(expand_rows(&mut g, &input, &batch, *size));
    }
    let scanned = scan::scan(&mut g, cell, "", &x, &init, &lengths)?;
    let mut outputs = vec![];
    g.op_into("Identity", &[&scanned.outputs], vec![], &["y"]);
    outputs.push(value_info(
        "y",
        FLOAT,
        Some(&[
            Dim::Named("T"),
            Dim::Named("B"),
            Dim::Fixed(cell.output_size()),
        ]),
    ));
    for ((final_value, name), (_, _, size)) in scanned.finals.iter().zip(&names).zip(&carried) {
        let out = format!("final.{name}");
        g.op_into("Identity", &[final_value], vec![], &[&out]);
        outputs.push(value_info(
            &out,
            FLOAT,
            Some(&[Dim::Named("B"), Dim::Fixed(*size)]),
        ));
    }
    let graph = g.finish(spec.name, inputs, outputs);
    Ok(model(
        graph,
        &format!("cell {} {}", spec.name, cell.dims_text()),
    ))
}

/// A [`SequenceModel`](crate::SequenceModel)'s ONNX model, as bytes.
///
/// Inputs: `tokens` (int64 `[T, B]`, with an embedding) or `x` (float `[T, B, I]`);
/// `lengths` (optional, int64 `[B]`); `init.<layer>.<entry>` and, for the reverse cell of a
/// bidirectional layer, `init.<layer>.reverse.<entry>` (optional, float `[B, size]`, zeros by
/// default), with the entries of `States::entry_names`. Outputs: `y`, the head's output at
/// every step (`[T, B, C]`; the top layer's outputs `[T, B, H]` without a head), and
/// `final.<layer>.<entry>` (`final.<layer>.reverse.<entry>`): the outputs and final states of
/// `SequenceModel::infer` (with the head applied at every step). Dropout is off and random
/// masks are at their expectation, as when inferring.
pub fn export_model<F: Float>(model: &crate::nn::model::SequenceModel<F>) -> Result<Vec<u8>> {
    let graph = model::model_graph(model)?;
    let layers: Vec<String> = model
        .layers
        .iter()
        .map(|l| format!("{:?}", l.forward))
        .collect();
    Ok(self::model(
        graph,
        &format!("SequenceModel [{}]", layers.join(", ")),
    ))
}

/// Writes [`export_model`]'s model to `path`.
pub fn save_model<F: Float>(
    model: &crate::nn::model::SequenceModel<F>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, export_model(model)?)
        .map_err(|e| Error::io(path.display().to_string(), "writing an ONNX model", e))
}

/// Decodes an ONNX model's bytes (for the importer of the facade crate).
#[doc(hidden)]
pub fn decode(bytes: &[u8]) -> Result<proto::ModelProto> {
    ModelProto::decode(bytes)
        .map_err(|e| Error::Invalid(format!("ONNX import: not an ONNX model: {e}")))
}

/// Encodes an ONNX model (for tests that edit a decoded model).
#[doc(hidden)]
pub fn encode(model: &proto::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Writes [`export_cell`]'s model to `path`.
pub fn save_cell<F: Float>(cell: &dyn DynCell<F>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, export_cell(cell)?)
        .map_err(|e| Error::io(path.display().to_string(), "writing an ONNX model", e))
}

/// The batch size of `x: [T, B, ...]` as an int64 `[1]` tensor.
fn batch_of(g: &mut Graph, x: &str) -> String {
    let shape = g.op("Shape", &[x], vec![]);
    let (start, end) = (
        g.int_const("start", &[1], vec![1]),
        g.int_const("end", &[1], vec![2]),
    );
    g.op("Slice", &[&shape, &start, &end], vec![])
}

/// `v: [1, size]` (or `[B, size]`) broadcast to `[B, size]`.
fn expand_rows(g: &mut Graph, v: &str, batch: &str, size: usize) -> String {
    let cols = g.int_const("cols", &[1], vec![size as i64]);
    let shape = g.op("Concat", &[batch, &cols], vec![graph::attr_int("axis", 0)]);
    g.op("Expand", &[v, &shape], vec![])
}

fn model(graph: proto::GraphProto, doc: &str) -> Vec<u8> {
    ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "recurrent".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc.into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}
