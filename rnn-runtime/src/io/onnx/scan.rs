//! A cell as an ONNX `Scan` over time whose body is the cell's step, built from the operations
//! the compiler lists in the cell's spec ([`crate::StepSpec`]).
//!
//! The scan carries a step counter and, in the order of `States::entry_names`, every state's
//! value (`h[t-1]`), the state histories (`h[t-2]`, ...) and the input history (`x[t-1]`, ...).
//! Each step computes the cell's nodes; an example whose step is past its length keeps every
//! carried value and emits zeros, as the runtime does.

use super::graph::{attr_float, attr_graph, attr_int, attr_ints, value_info, Dim, Graph};
use super::proto::{FLOAT, INT64};
use crate::core::dyn_cell::DynCell;
use crate::core::error::{Error, Result};
use crate::core::step::{BinaryOp, StepOp};
use crate::kernels::float::Float;

/// What a scan over one cell reads and returns (names of values in the enclosing graph).
pub(super) struct Scanned {
    /// The outputs `[T, B, O]`.
    pub outputs: String,
    /// The final carried values, in the order of `States::entry_names`.
    pub finals: Vec<String>,
}

/// The values a cell carries from one step to the next, in the order of
/// `States::entry_names`: (state, or `None` for the input; `k`, the value being `h[t-k]` before
/// the step; size).
pub(super) fn carried_values<F: Float>(
    cell: &dyn DynCell<F>,
) -> Result<Vec<(Option<usize>, usize, usize)>> {
    let spec = cell.cell_spec();
    let dims = cell.dim_sizes();
    let step = spec.step;
    let mut out = vec![];
    let state_size = |s: usize| -> Result<usize> {
        let node = step
            .nodes
            .get(step.updates[s])
            .ok_or_else(|| bad(spec.name))?;
        node.size.eval(&dims).ok_or_else(|| bad(spec.name))
    };
    for s in 0..spec.states.len() {
        out.push((Some(s), 1, state_size(s)?));
    }
    for (s, st) in spec.states.iter().enumerate() {
        for k in 2..=st.delay {
            out.push((Some(s), k, state_size(s)?));
        }
    }
    for k in 1..=spec.input_delay {
        out.push((None, k, cell.input_size()));
    }
    Ok(out)
}

fn bad(cell: &str) -> Error {
    Error::Invalid(format!(
        "ONNX export: the step of `{cell}` does not match its dimensions"
    ))
}

/// Emits into `g` a `Scan` running `cell` over `x: [T, B, I]` from the carried values `init`
/// (`[B, size]` each, in the order of [`carried_values`]), example `b` for `lengths[b]` steps
/// (`lengths`: int64 `[B]`, or `[1]` for every example). `scope` prefixes every name the cell
/// adds (its weights: `<scope><param>`).
pub(super) fn scan<F: Float>(
    g: &mut Graph,
    cell: &dyn DynCell<F>,
    scope: &str,
    x: &str,
    init: &[String],
    lengths: &str,
) -> Result<Scanned> {
    let spec = cell.cell_spec();
    let dims = cell.dim_sizes();
    let step = spec.step;
    let size = |n: usize| -> Result<usize> {
        step.nodes
            .get(n)
            .and_then(|node| node.size.eval(&dims))
            .ok_or_else(|| bad(spec.name))
    };
    let carried = carried_values(cell)?;
    if carried.len() != init.len() {
        return Err(bad(spec.name));
    }

    // Live nodes: those the state updates and the output depend on.
    let mut live = vec![false; step.nodes.len()];
    let mut stack: Vec<usize> = step.updates.iter().copied().chain([step.output]).collect();
    while let Some(n) = stack.pop() {
        if n < live.len() && !live[n] {
            live[n] = true;
            stack.extend(step.nodes[n].op.operands());
        }
    }

    let mut body = Graph::new(&format!("{scope}step."));
    let t_in = format!("{scope}step.t");
    let x_t = format!("{scope}step.x");
    let carried_in: Vec<String> = (0..carried.len())
        .map(|i| format!("{scope}step.carried_{i}"))
        .collect();
    let find = |state: Option<usize>, k: usize| -> Result<&String> {
        carried
            .iter()
            .position(|&(s, d, _)| s == state && d == k)
            .map(|i| &carried_in[i])
            .ok_or_else(|| bad(spec.name))
    };

    let params = cell.params();
    let mut values: Vec<String> = vec![String::new(); step.nodes.len()];
    for (n, node) in step.nodes.iter().enumerate() {
        if !live[n] {
            continue;
        }
        let v = |a: usize| values[a].clone();
        values[n] = match node.op {
            StepOp::Input { delay: 0 } => x_t.clone(),
            StepOp::Input { delay } => find(None, delay)?.clone(),
            StepOp::State { state, delay } => find(Some(state), delay)?.clone(),
            StepOp::Param(p) => {
                let name = spec.params.get(p).ok_or_else(|| bad(spec.name))?.name;
                let value = params.get(name)?;
                if value.ndim() != 1 {
                    continue; // A matrix: products name it directly.
                }
                let data = value.iter().map(|&v| Float::to_f64(v) as f32).collect();
                g.float_tensor(&format!("{scope}{name}"), &[value.len()], data)
            }
            StepOp::Mask(m) => {
                // Not training: the mask's expectation, `[1, size]`.
                let p = spec.masks.get(m).ok_or_else(|| bad(spec.name))?.p as f32;
                let d = size(n)?;
                body.float_const("mask", &[1, d], vec![p; d])
            }
            StepOp::Const(c) => body.scalar(c as f32),
            StepOp::MatMul {
                lhs,
                param,
                row_start,
                transposed,
            } => {
                let name = spec.params.get(param).ok_or_else(|| bad(spec.name))?.name;
                let w = params.get(name)?;
                let (rows, cols) = match w.shape() {
                    [r, c] => (*r, *c),
                    _ => return Err(bad(spec.name)),
                };
                let (inner, out) = (size(lhs)?, size(n)?);
                let start = row_start.eval(&dims).ok_or_else(|| bad(spec.name))?;
                // The block of M = W (or W^T) that multiplies `lhs`: rows `start..start+inner`.
                let at = |i: usize, j: usize| -> f32 {
                    let (r, c) = if transposed { (j, i) } else { (i, j) };
                    Float::to_f64(w[[r, c]]) as f32
                };
                let (m_rows, m_cols) = if transposed {
                    (cols, rows)
                } else {
                    (rows, cols)
                };
                if start + inner > m_rows || out != m_cols {
                    return Err(bad(spec.name));
                }
                let mut data = Vec::with_capacity(inner * out);
                for i in 0..inner {
                    for j in 0..out {
                        data.push(at(start + i, j));
                    }
                }
                let block =
                    g.float_tensor(&format!("{scope}{name}.block_{n}"), &[inner, out], data);
                body.op("MatMul", &[&v(lhs), &block], vec![])
            }
            StepOp::Mean(a) => body.op(
                "ReduceMean",
                &[&v(a)],
                vec![attr_ints("axes", &[-1]), attr_int("keepdims", 1)],
            ),
            StepOp::Sum(a) => {
                let axes = body.int_const("axes", &[1], vec![-1]);
                body.op("ReduceSum", &[&v(a), &axes], vec![attr_int("keepdims", 1)])
            }
            StepOp::Neg(a) => body.op("Neg", &[&v(a)], vec![]),
            StepOp::Copy(a) => body.op("Identity", &[&v(a)], vec![]),
            StepOp::Binary(op, a, b) => {
                let op_type = match op {
                    BinaryOp::Add => "Add",
                    BinaryOp::Sub => "Sub",
                    BinaryOp::Mul => "Mul",
                    BinaryOp::Div => "Div",
                    BinaryOp::Max => "Max",
                    BinaryOp::Min => "Min",
                };
                body.op(op_type, &[&v(a), &v(b)], vec![])
            }
            StepOp::Func(f, literals, a) => function(&mut body, f, literals, &v(a), spec.name)?,
        };
    }

    // Each example past its length keeps its carried values and emits zeros.
    let active = body.op("Less", &[&t_in, lengths], vec![]);
    let one_axis = body.int_const("axis", &[1], vec![1]);
    let active = body.op("Unsqueeze", &[&active, &one_axis], vec![]);
    // `[B, 1]` even when `lengths` is `[1]`: an output that depends on no example (a function of
    // parameters or masks only, `[1, O]`) is still one row per example.
    let n_batch = body.op(
        "Shape",
        &[&x_t],
        vec![attr_int("start", 0), attr_int("end", 1)],
    );
    let one_col = body.int_const("one_col", &[1], vec![1]);
    let active_shape = body.op("Concat", &[&n_batch, &one_col], vec![attr_int("axis", 0)]);
    let active = body.op("Expand", &[&active, &active_shape], vec![]);
    let mut carried_out = vec![];
    for (i, &(state, k, _)) in carried.iter().enumerate() {
        let new = match (state, k) {
            (Some(s), 1) => values[step.updates[s]].clone(),
            (None, 1) => x_t.clone(),
            (state, k) => find(state, k - 1)?.clone(),
        };
        let out = format!("{scope}step.carried_out_{i}");
        body.op_into("Where", &[&active, &new, &carried_in[i]], vec![], &[&out]);
        carried_out.push(out);
    }
    let zero = body.scalar(0.0);
    let y_t = format!("{scope}step.y");
    body.op_into(
        "Where",
        &[&active, &values[step.output], &zero],
        vec![],
        &[&y_t],
    );
    let one = body.int_const("one", &[], vec![1]);
    let t_out = format!("{scope}step.t_out");
    body.op_into("Add", &[&t_in, &one], vec![], &[&t_out]);

    let b = Dim::Named("B");
    let mut body_inputs = vec![value_info(&t_in, INT64, Some(&[]))];
    let mut body_outputs = vec![value_info(&t_out, INT64, Some(&[]))];
    for (i, &(_, _, d)) in carried.iter().enumerate() {
        body_inputs.push(value_info(
            &carried_in[i],
            FLOAT,
            Some(&[Dim::Named("B"), Dim::Fixed(d)]),
        ));
        body_outputs.push(value_info(
            &carried_out[i],
            FLOAT,
            Some(&[Dim::Named("B"), Dim::Fixed(d)]),
        ));
    }
    body_inputs.push(value_info(
        &x_t,
        FLOAT,
        Some(&[b, Dim::Fixed(cell.input_size())]),
    ));
    body_outputs.push(value_info(
        &y_t,
        FLOAT,
        Some(&[Dim::Named("B"), Dim::Fixed(cell.output_size())]),
    ));
    let body = body.finish(&format!("{scope}step"), body_inputs, body_outputs);

    let t0 = g.int_const(&format!("{scope}t0"), &[], vec![0]);
    let mut inputs: Vec<&str> = vec![&t0];
    inputs.extend(init.iter().map(String::as_str));
    inputs.push(x);
    let t_final = g.fresh(&format!("{scope}t_final"));
    let finals: Vec<String> = (0..carried.len())
        .map(|_| g.fresh(&format!("{scope}final")))
        .collect();
    let outputs = g.fresh(&format!("{scope}y"));
    let mut outs: Vec<&str> = vec![&t_final];
    outs.extend(finals.iter().map(String::as_str));
    outs.push(&outputs);
    g.op_into(
        "Scan",
        &inputs,
        vec![attr_graph("body", body), attr_int("num_scan_inputs", 1)],
        &outs,
    );
    Ok(Scanned { outputs, finals })
}

/// A function of the language as ONNX operators.
fn function(g: &mut Graph, f: &str, literals: &[f64], x: &str, cell: &str) -> Result<String> {
    let lit = |k: usize| literals.get(k).copied().unwrap_or(0.0) as f32;
    Ok(match f {
        "sigmoid" => g.op("Sigmoid", &[x], vec![]),
        "tanh" => g.op("Tanh", &[x], vec![]),
        "relu" => g.op("Relu", &[x], vec![]),
        "exp" => g.op("Exp", &[x], vec![]),
        "log" => g.op("Log", &[x], vec![]),
        "sqrt" => g.op("Sqrt", &[x], vec![]),
        "softsign" => g.op("Softsign", &[x], vec![]),
        // PyTorch's hard sigmoid: clamp(x / 6 + 1/2, 0, 1), not ONNX's default slope 0.2.
        "hard_sigmoid" => g.op(
            "HardSigmoid",
            &[x],
            vec![attr_float("alpha", 1.0 / 6.0), attr_float("beta", 0.5)],
        ),
        "softplus" => g.op("Softplus", &[x], vec![]),
        "silu" => {
            let s = g.op("Sigmoid", &[x], vec![]);
            g.op("Mul", &[x, &s], vec![])
        }
        "gelu" => {
            // x/2 (1 + erf(x / sqrt 2))
            let r = g.scalar(std::f32::consts::FRAC_1_SQRT_2);
            let u = g.op("Mul", &[x, &r], vec![]);
            let e = g.op("Erf", &[&u], vec![]);
            let one = g.scalar(1.0);
            let s = g.op("Add", &[&e, &one], vec![]);
            let half = g.scalar(0.5);
            let hx = g.op("Mul", &[x, &half], vec![]);
            g.op("Mul", &[&hx, &s], vec![])
        }
        "gelu_tanh" => {
            // x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            let x2 = g.op("Mul", &[x, x], vec![]);
            let x3 = g.op("Mul", &[&x2, x], vec![]);
            let k = g.scalar(0.044715);
            let kx3 = g.op("Mul", &[&x3, &k], vec![]);
            let inner = g.op("Add", &[x, &kx3], vec![]);
            let c = g.scalar((2.0 / std::f64::consts::PI).sqrt() as f32);
            let u = g.op("Mul", &[&inner, &c], vec![]);
            let t = g.op("Tanh", &[&u], vec![]);
            let one = g.scalar(1.0);
            let s = g.op("Add", &[&t, &one], vec![]);
            let half = g.scalar(0.5);
            let hx = g.op("Mul", &[x, &half], vec![]);
            g.op("Mul", &[&hx, &s], vec![])
        }
        "abs" => g.op("Abs", &[x], vec![]),
        "square" => g.op("Mul", &[x, x], vec![]),
        "elu" => g.op("Elu", &[x], vec![attr_float("alpha", lit(0))]),
        "leaky_relu" => g.op("LeakyRelu", &[x], vec![attr_float("alpha", lit(0))]),
        "pow" => {
            let k = g.scalar(lit(0));
            g.op("Pow", &[x, &k], vec![])
        }
        "clamp" => {
            let (lo, hi) = (g.scalar(lit(0)), g.scalar(lit(1)));
            g.op("Clip", &[x, &lo, &hi], vec![])
        }
        other => {
            return Err(Error::Invalid(format!(
                "ONNX export of `{cell}`: no ONNX form for the function `{other}`"
            )))
        }
    })
}
