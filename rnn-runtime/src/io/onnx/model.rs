//! A whole [`SequenceModel`] as one ONNX graph: the embedding (`Gather`), each layer's cells as
//! `Scan`s (a reverse cell between two `ReverseSequence`s, which reverse each example within
//! its length, as the runtime does), the two directions of a bidirectional layer concatenated,
//! and the head (`MatMul`, `Add`) at every step.

use super::graph::{attr_int, value_info, Dim, Graph};
use super::proto::{TensorProto, FLOAT, INT64};
use super::scan::{carried_values, scan};
use crate::core::dyn_cell::DynCell;
use crate::core::error::Result;
use crate::kernels::float::Float;
use crate::nn::model::SequenceModel;

fn f32s<'a, F: Float>(values: impl IntoIterator<Item = &'a F>) -> Vec<f32> {
    values
        .into_iter()
        .map(|&v| Float::to_f64(v) as f32)
        .collect()
}

/// The graph of `model` (see the module documentation of `recurrent::onnx`).
pub(super) fn model_graph<F: Float>(model: &SequenceModel<F>) -> Result<super::proto::GraphProto> {
    let mut g = Graph::new("");
    let mut inputs = vec![];
    let mut outputs = vec![];
    let (t, b) = (Dim::Named("T"), Dim::Named("B"));

    // The input: token ids through the embedding, or feature vectors.
    let x = match &model.embedding {
        Some(e) => {
            inputs.push(value_info(
                "tokens",
                INT64,
                Some(&[Dim::Named("T"), Dim::Named("B")]),
            ));
            let (vocab, dim) = e.weight.dim();
            let table = g.float_tensor("embedding.weight", &[vocab, dim], f32s(e.weight.iter()));
            g.op("Gather", &[&table, "tokens"], vec![attr_int("axis", 0)])
        }
        None => {
            let i = model.layers.first().map_or(0, |l| l.input_size());
            inputs.push(value_info("x", FLOAT, Some(&[t, b, Dim::Fixed(i)])));
            "x".to_string()
        }
    };
    // Lengths: optional, every example `T` steps by default; clipped to `T` and one per example
    // (`ReverseSequence` needs them so).
    g.initializers.push(TensorProto {
        dims: vec![1],
        data_type: INT64,
        int64_data: vec![i64::MAX],
        name: "lengths".into(),
        ..Default::default()
    });
    inputs.push(value_info("lengths", INT64, Some(&[Dim::Named("B")])));
    let shape = g.op("Shape", &[&x], vec![]);
    let (zero, one, two) = (
        g.int_const("i", &[1], vec![0]),
        g.int_const("i", &[1], vec![1]),
        g.int_const("i", &[1], vec![2]),
    );
    let steps = g.op("Slice", &[&shape, &zero, &one], vec![]);
    let batch = g.op("Slice", &[&shape, &one, &two], vec![]);
    let clipped = g.op("Min", &["lengths", &steps], vec![]);
    let lengths = g.op("Expand", &[&clipped, &batch], vec![]);

    let mut h = x;
    for (l, layer) in model.layers.iter().enumerate() {
        let mut run = |g: &mut Graph,
                       cell: &dyn DynCell<F>,
                       scope: &str,
                       input: &str,
                       reverse: bool|
         -> Result<String> {
            let names = cell.zero_states(1).entry_names();
            let mut init = vec![];
            for ((_, _, size), name) in carried_values(cell)?.iter().zip(&names) {
                let input_name = format!("init.{scope}{name}");
                g.float_tensor(&input_name, &[1, *size], vec![0.0; *size]);
                inputs.push(value_info(
                    &input_name,
                    FLOAT,
                    Some(&[Dim::Named("B"), Dim::Fixed(*size)]),
                ));
                init.push(super::expand_rows(g, &input_name, &batch, *size));
            }
            let seq = if reverse {
                reverse_within(g, input, &lengths)
            } else {
                input.to_string()
            };
            let scanned = scan(g, cell, scope, &seq, &init, &lengths)?;
            for ((value, name), (_, _, size)) in
                scanned.finals.iter().zip(&names).zip(carried_values(cell)?)
            {
                let out = format!("final.{scope}{name}");
                g.op_into("Identity", &[value], vec![], &[&out]);
                outputs.push(value_info(
                    &out,
                    FLOAT,
                    Some(&[Dim::Named("B"), Dim::Fixed(size)]),
                ));
            }
            Ok(if reverse {
                reverse_within(g, &scanned.outputs, &lengths)
            } else {
                scanned.outputs
            })
        };
        let first = run(
            &mut g,
            layer.forward.as_ref(),
            &format!("{l}."),
            &h,
            layer.reversed,
        )?;
        h = match &layer.reverse {
            Some(reverse) => {
                let second = run(&mut g, reverse.as_ref(), &format!("{l}.reverse."), &h, true)?;
                g.op("Concat", &[&first, &second], vec![attr_int("axis", 2)])
            }
            None => first,
        };
    }
    let width = match &model.head {
        Some(head) => {
            let (i, o) = head.weight.dim();
            let w = g.float_tensor("head.weight", &[i, o], f32s(head.weight.iter()));
            let bias = g.float_tensor("head.bias", &[o], f32s(head.bias.iter()));
            let y = g.op("MatMul", &[&h, &w], vec![]);
            h = g.op("Add", &[&y, &bias], vec![]);
            o
        }
        None => model.layers.last().map_or(0, |l| l.output_size()),
    };
    g.op_into("Identity", &[&h], vec![], &["y"]);
    outputs.insert(
        0,
        value_info(
            "y",
            FLOAT,
            Some(&[Dim::Named("T"), Dim::Named("B"), Dim::Fixed(width)]),
        ),
    );
    Ok(g.finish("SequenceModel", inputs, outputs))
}

/// `x: [T, B, ...]` with each example's first `lengths[b]` steps in reverse order.
fn reverse_within(g: &mut Graph, x: &str, lengths: &str) -> String {
    g.op(
        "ReverseSequence",
        &[x, lengths],
        vec![attr_int("batch_axis", 1), attr_int("time_axis", 0)],
    )
}
