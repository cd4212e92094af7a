//! ONNX export of any cell and model (see the runtime's documentation below), and import of the
//! recurrent models other frameworks export: ONNX `LSTM`, `GRU` and `RNN` operators become
//! built-in cells in a [`SequenceModel`].
//!
//! # Import
//!
//! [`import_model`] reads every `LSTM`, `GRU` and `RNN` node of the graph, in order, as one layer
//! (stacked as the nodes are chained, as `torch.onnx.export` writes `nn.LSTM`, `nn.GRU` and
//! `nn.RNN`): direction `forward`, `reverse` or `bidirectional`; `layout` 0 or 1 (or a
//! `Transpose` of a batch-first input, as PyTorch writes `batch_first=True`); the default
//! activations only. The weights are mapped from ONNX's gate orders (`i, o, f, c` for LSTM, `z,
//! r, h` for GRU), its `W: [dirs, gates·H, I]`, `R: [dirs, gates·H, H]` layouts and its two
//! biases:
//!
//! | ONNX | cell |
//! |---|---|
//! | `LSTM` | [`Lstm`] (biases summed) |
//! | `LSTM` with peepholes `P` | [`LstmPeephole`] |
//! | `LSTM` with `input_forget = 1` | [`LstmCifg`] (`f = 1 - i`) |
//! | `GRU`, `linear_before_reset = 0` | [`Gru`] |
//! | `GRU`, `linear_before_reset = 1` (PyTorch's) | [`GruTorch`] |
//! | `RNN`, `Tanh` / `Relu` | [`RnnTanh`] / [`RnnRelu`] |
//!
//! Anything else is refused with the operator and attribute named: another activation, `clip`,
//! an operator that is not glue around the recurrent nodes, a graph without any. The model's
//! `sequence_lens` and initial states are arguments of its calls here (`lengths` and `init` of
//! [`SequenceModel::infer`]); [`Imported::initial_states`] converts states laid out as ONNX's
//! and PyTorch's `[layers · directions, B, H]` into the model's.

use crate::ndarray::{s, Array1, Array2, ArrayD, ArrayView3};

pub use rnn_runtime::onnx::*;

use crate::cells::*;
use crate::{CellDims, DynCell, Error, Float, LayerStates, RecurrentLayer, Result, SequenceModel};
use rnn_runtime::onnx::proto::{attribute_type, GraphProto, NodeProto, TensorProto, DOUBLE, FLOAT};

/// An imported model: the [`SequenceModel`] and how the original laid its input out.
#[derive(Debug, Clone)]
pub struct Imported<F: Float> {
    /// The layers, one per ONNX recurrent node (no embedding, no head).
    pub model: SequenceModel<F>,
    /// The original graph took its input batch-first, `[B, T, I]` (then so do its outputs);
    /// [`SequenceModel::infer`] takes time-major `[T, B, I]`
    /// ([`SequenceModel::forward_batch_first`] takes it as is).
    pub batch_first: bool,
    /// The ONNX operator of each layer (`LSTM`, `GRU`, `RNN`) and the cell it became.
    pub layers: Vec<(String, &'static str)>,
}

impl<F: Float> Imported<F> {
    /// The model's initial states from the original's: `h0` (and `c0` for LSTM layers), each
    /// `[layers · directions, B, H]` with entry `l · directions + d` for layer `l`, direction
    /// `d` (0 forward, 1 reverse), as ONNX's `initial_h`/`initial_c` of stacked nodes and
    /// PyTorch's `h_0`/`c_0`.
    pub fn initial_states(
        &self,
        h0: ArrayView3<'_, F>,
        c0: Option<ArrayView3<'_, F>>,
    ) -> Result<Vec<LayerStates<F>>> {
        let batch = h0.dim().1;
        let mut out = vec![];
        let mut k = 0;
        for layer in &self.model.layers {
            let mut cells: Vec<&dyn DynCell<F>> = vec![layer.forward.as_ref()];
            if let Some(r) = layer.reverse.as_ref() {
                cells.push(r.as_ref());
            }
            let mut states = vec![];
            for cell in cells {
                let mut st = cell.zero_states(batch);
                let pick = |a: ArrayView3<'_, F>, what: &str| -> Result<Array2<F>> {
                    if k >= a.dim().0 {
                        return Err(Error::shape(
                            what,
                            format!("[{} or more, B, H] (layers · directions first)", k + 1),
                            a.shape(),
                        ));
                    }
                    Ok(a.slice(s![k, .., ..]).to_owned())
                };
                st.set("h", pick(h0, "h0")?.view())?;
                if cell.cell_spec().states.iter().any(|s| s.name == "c") {
                    let c0 = c0.ok_or_else(|| {
                        Error::Invalid("initial states: an LSTM layer needs c0".into())
                    })?;
                    st.set("c", pick(c0, "c0")?.view())?;
                }
                states.push(st);
                k += 1;
            }
            let mut states = states.into_iter();
            let forward = states.next().expect("one cell per layer");
            out.push(LayerStates {
                forward,
                reverse: states.next(),
            });
        }
        Ok(out)
    }
}

/// Reads an ONNX model's bytes (see the [module](self) documentation).
pub fn import_model<F: Float>(bytes: &[u8]) -> Result<Imported<F>> {
    let model = decode(bytes)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| refuse("the model has no graph"))?;
    Importer::new(graph).run()
}

/// Reads the ONNX model at `path` (see [`import_model`]).
pub fn load_model<F: Float>(path: impl AsRef<std::path::Path>) -> Result<Imported<F>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(path.display().to_string(), "reading an ONNX model", e))?;
    import_model(&bytes)
}

fn refuse(why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("ONNX import: {why}"))
}

/// Operators that may surround the recurrent nodes (shape glue as exporters write it).
const GLUE: [&str; 16] = [
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Reshape",
    "Concat",
    "Slice",
    "Gather",
    "Shape",
    "Constant",
    "ConstantOfShape",
    "Identity",
    "Cast",
    "Expand",
    "Split",
    "Flatten",
    "Range",
];

struct Importer<'g> {
    graph: &'g GraphProto,
}

impl<'g> Importer<'g> {
    fn new(graph: &'g GraphProto) -> Self {
        Importer { graph }
    }

    /// The constant tensor called `name`: an initializer or a `Constant` node's value.
    fn constant(&self, name: &str) -> Option<&'g TensorProto> {
        if name.is_empty() {
            return None;
        }
        self.graph
            .initializer
            .iter()
            .find(|t| t.name == name)
            .or_else(|| {
                self.graph
                    .node
                    .iter()
                    .filter(|n| {
                        n.op_type == "Constant" && n.output.first().is_some_and(|o| o == name)
                    })
                    .flat_map(|n| n.attribute.iter())
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref())
            })
    }

    fn run<F: Float>(self) -> Result<Imported<F>> {
        let mut layers = vec![];
        let mut names = vec![];
        let mut batch_first = None;
        let mut previous: Option<&NodeProto> = None;
        for node in &self.graph.node {
            match node.op_type.as_str() {
                "LSTM" | "GRU" | "RNN" => {
                    self.check_stacked(node, previous)?;
                    previous = Some(node);
                    let (layer, cell, layout) = self.layer::<F>(node)?;
                    if batch_first.is_none() {
                        batch_first = Some(layout == 1 || self.transposed_input(node));
                    }
                    names.push((node.op_type.clone(), cell));
                    layers.push(layer);
                }
                op if GLUE.contains(&op) && node.domain.is_empty() => {}
                op => {
                    return Err(refuse(format!(
                        "unsupported operator `{op}`{} (node `{}`): only LSTM, GRU and RNN \
                         nodes and the shape operators around them ({}) are imported",
                        if node.domain.is_empty() {
                            String::new()
                        } else {
                            format!(" of domain `{}`", node.domain)
                        },
                        node.name,
                        GLUE.join(", ")
                    )))
                }
            }
        }
        if layers.is_empty() {
            return Err(refuse("the graph has no LSTM, GRU or RNN node"));
        }
        Ok(Imported {
            model: SequenceModel::new(layers)?,
            batch_first: batch_first.unwrap_or(false),
            layers: names,
        })
    }

    /// The value `value` comes from: a graph input, or an output of the first operator that is
    /// not shape glue, following the first input of the shape operators in between.
    fn source(&self, value: &str) -> String {
        let mut value = value.to_string();
        for _ in 0..self.graph.node.len() {
            let Some(producer) = self.graph.node.iter().find(|n| n.output.contains(&value)) else {
                break;
            };
            if !GLUE.contains(&producer.op_type.as_str()) {
                break;
            }
            match producer.input.first() {
                Some(input) => value = input.clone(),
                None => break,
            }
        }
        value
    }

    /// Refuses a recurrent node whose input `X` is not the graph's input (for the first) or the
    /// previous recurrent node's output (for the others): the layers must form one stack.
    fn check_stacked(&self, node: &NodeProto, previous: Option<&NodeProto>) -> Result<()> {
        let x = node.input.first().map(String::as_str).unwrap_or("");
        let from = self.source(x);
        let expected = match previous {
            None if self.graph.input.iter().any(|i| i.name == from) => return Ok(()),
            None => "a graph input".to_string(),
            Some(p) if p.output.contains(&from) => return Ok(()),
            Some(p) => format!("an output of the previous recurrent node `{}`", p.name),
        };
        Err(refuse(format!(
            "{} node `{}`: its input `X` comes from `{from}`, expected {expected}: only a stack \
             of recurrent layers is imported",
            node.op_type, node.name
        )))
    }

    /// Whether the node's input `X` is the graph's input through a `Transpose` with
    /// `perm = [1, 0, 2]` (PyTorch's `batch_first=True`).
    fn transposed_input(&self, node: &NodeProto) -> bool {
        let Some(x) = node.input.first() else {
            return false;
        };
        self.graph.node.iter().any(|n| {
            n.op_type == "Transpose"
                && n.output.first() == Some(x)
                && n.input
                    .first()
                    .is_some_and(|i| self.graph.input.iter().any(|g| &g.name == i))
                && n.attribute
                    .iter()
                    .any(|a| a.name == "perm" && a.ints == [1, 0, 2])
        })
    }

    /// One recurrent node as a layer: (layer, cell type name, layout).
    fn layer<F: Float>(&self, node: &NodeProto) -> Result<(RecurrentLayer<F>, &'static str, i64)> {
        let op = node.op_type.as_str();
        let what = format!("{op} node `{}`", node.name);
        let mut hidden = None;
        let mut direction = "forward".to_string();
        let (mut layout, mut input_forget, mut linear_before_reset) = (0, 0, 0);
        let mut activations: Vec<String> = vec![];
        for a in &node.attribute {
            match a.name.as_str() {
                "hidden_size" => hidden = Some(a.i),
                "direction" => direction = String::from_utf8_lossy(&a.s).into_owned(),
                "layout" => layout = a.i,
                "input_forget" => input_forget = a.i,
                "linear_before_reset" => linear_before_reset = a.i,
                "activations" => {
                    activations = a
                        .strings
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect()
                }
                "activation_alpha" | "activation_beta" if a.floats.is_empty() => {}
                other => {
                    return Err(refuse(format!(
                        "{what}: unsupported attribute `{other}` (supported: hidden_size, \
                         direction, layout, input_forget, linear_before_reset, and the default \
                         activations)"
                    )))
                }
            }
            if a.r#type == attribute_type::STRING && a.name != "direction" {
                return Err(refuse(format!(
                    "{what}: unexpected string attribute `{}`",
                    a.name
                )));
            }
        }
        let dirs = match direction.as_str() {
            "forward" | "reverse" => 1,
            "bidirectional" => 2,
            other => {
                return Err(refuse(format!(
                    "{what}: attribute `direction` is `{other}`: expected forward, reverse or \
                     bidirectional"
                )))
            }
        };
        // Default activations, per direction.
        let default: &[&str] = match op {
            "LSTM" => &["Sigmoid", "Tanh", "Tanh"],
            "GRU" => &["Sigmoid", "Tanh"],
            _ => &["Tanh"],
        };
        let relu =
            op == "RNN" && !activations.is_empty() && activations.iter().all(|a| a == "Relu");
        if !activations.is_empty() && !relu {
            let expected: Vec<String> = (0..dirs)
                .flat_map(|_| default.iter().map(|s| s.to_string()))
                .collect();
            if activations != expected {
                return Err(refuse(format!(
                    "{what}: attribute `activations` is {activations:?}: only the defaults \
                     ({expected:?}) are imported{}",
                    if op == "RNN" { ", or Relu" } else { "" }
                )));
            }
        }
        if !matches!(layout, 0 | 1) {
            return Err(refuse(format!(
                "{what}: attribute `layout` is {layout}: expected 0 or 1"
            )));
        }

        let tensor = |k: usize, name: &str| -> Result<Option<(Vec<usize>, Vec<f64>)>> {
            let Some(input) = node.input.get(k).filter(|s| !s.is_empty()) else {
                return Ok(None);
            };
            let t = self.constant(input).ok_or_else(|| {
                refuse(format!(
                    "{what}: input `{name}` (`{input}`) is not a constant (an initializer or a \
                     Constant node)"
                ))
            })?;
            Ok(Some((
                t.dims.iter().map(|&d| d as usize).collect(),
                floats(t, &what, name)?,
            )))
        };
        let (w_dims, w) = tensor(1, "W")?.ok_or_else(|| refuse(format!("{what}: no `W`")))?;
        let (_, r) = tensor(2, "R")?.ok_or_else(|| refuse(format!("{what}: no `R`")))?;
        let gates = match op {
            "LSTM" => 4,
            "GRU" => 3,
            _ => 1,
        };
        let [_, rows, input] = w_dims[..] else {
            return Err(refuse(format!(
                "{what}: `W` has shape {w_dims:?}: expected [directions, gates·H, I]"
            )));
        };
        let h = rows / gates;
        if hidden.is_some_and(|hs| hs as usize != h)
            || w.len() != dirs * gates * h * input
            || r.len() != dirs * gates * h * h
        {
            return Err(refuse(format!(
                "{what}: `W` {w_dims:?} and `R` do not match hidden_size {hidden:?} and {dirs} direction(s)"
            )));
        }
        let b = tensor(3, "B")?
            .map(|(_, b)| b)
            .unwrap_or_else(|| vec![0.0; dirs * 2 * gates * h]);
        if node.input.get(4).is_some_and(|s| !s.is_empty())
            && self.constant(&node.input[4]).is_some()
        {
            return Err(refuse(format!(
                "{what}: a constant `sequence_lens`: pass the lengths to the model's calls instead"
            )));
        }
        let p = if op == "LSTM" {
            tensor(7, "P")?.map(|(_, p)| p)
        } else {
            None
        };

        // Our `[in, out]` matrix of gate `g` of direction `d` from ONNX's `[gates·H, in]` rows.
        let block = |m: &[f64], d: usize, g: usize, inner: usize| -> Array2<F> {
            Array2::from_shape_fn((inner, h), |(i, j)| {
                F::from_f64(m[(d * gates * h + g * h + j) * inner + i])
            })
        };
        let bias = |d: usize, g: usize, recurrent: bool| -> Array1<F> {
            let off = d * 2 * gates * h + usize::from(recurrent) * gates * h + g * h;
            Array1::from_shape_fn(h, |j| F::from_f64(b[off + j]))
        };
        let sum = |d: usize, g: usize| -> Array1<F> { &bias(d, g, false) + &bias(d, g, true) };
        let dims = [("I", input), ("H", h)];
        let mut cells: Vec<Box<dyn DynCell<F>>> = vec![];
        let mut name = "";
        for d in 0..dirs {
            let mut set: Vec<(&str, ArrayD<F>)> = vec![];
            let (wx, wh) = (|g| block(&w, d, g, input), |g| block(&r, d, g, h));
            let cell: Box<dyn DynCell<F>> = match op {
                "LSTM" => {
                    // ONNX gates: i, o, f, c.
                    let (i, o, f, c) = (0, 1, 2, 3);
                    set.extend([
                        ("W_xi", wx(i).into_dyn()),
                        ("W_xo", wx(o).into_dyn()),
                        ("W_xc", wx(c).into_dyn()),
                        ("W_hi", wh(i).into_dyn()),
                        ("W_ho", wh(o).into_dyn()),
                        ("W_hc", wh(c).into_dyn()),
                        ("b_i", sum(d, i).into_dyn()),
                        ("b_o", sum(d, o).into_dyn()),
                        ("b_c", sum(d, c).into_dyn()),
                    ]);
                    if input_forget == 0 {
                        set.extend([
                            ("W_xf", wx(f).into_dyn()),
                            ("W_hf", wh(f).into_dyn()),
                            ("b_f", sum(d, f).into_dyn()),
                        ]);
                    }
                    match (&p, input_forget) {
                        (Some(_), 1) => {
                            return Err(refuse(format!(
                                "{what}: peepholes `P` together with `input_forget = 1`: no \
                                 built-in cell has both"
                            )))
                        }
                        (Some(p), _) => {
                            // ONNX peepholes: i, o, f.
                            let peep = |k: usize| {
                                Array1::from_shape_fn(h, |j| F::from_f64(p[d * 3 * h + k * h + j]))
                            };
                            set.extend([
                                ("V_i", peep(0).into_dyn()),
                                ("V_o", peep(1).into_dyn()),
                                ("V_f", peep(2).into_dyn()),
                            ]);
                            name = "LstmPeephole";
                            Box::new(LstmPeephole::<F>::zeros(LstmPeepholeDims::from_names(
                                &dims,
                            )?))
                        }
                        (None, 1) => {
                            name = "LstmCifg";
                            Box::new(LstmCifg::<F>::zeros(LstmCifgDims::from_names(&dims)?))
                        }
                        (None, _) => {
                            name = "Lstm";
                            Box::new(Lstm::<F>::zeros(LstmDims::from_names(&dims)?))
                        }
                    }
                }
                "GRU" => {
                    // ONNX gates: z, r, h.
                    let (z, rr, hh) = (0, 1, 2);
                    if linear_before_reset == 0 {
                        set.extend([
                            ("W_xz", wx(z).into_dyn()),
                            ("W_xr", wx(rr).into_dyn()),
                            ("W_xh", wx(hh).into_dyn()),
                            ("W_hz", wh(z).into_dyn()),
                            ("W_hr", wh(rr).into_dyn()),
                            ("W_hh", wh(hh).into_dyn()),
                            ("b_z", sum(d, z).into_dyn()),
                            ("b_r", sum(d, rr).into_dyn()),
                            ("b_h", sum(d, hh).into_dyn()),
                        ]);
                        name = "Gru";
                        Box::new(Gru::<F>::zeros(GruDims::from_names(&dims)?))
                    } else {
                        set.extend([
                            ("W_iz", wx(z).into_dyn()),
                            ("W_ir", wx(rr).into_dyn()),
                            ("W_in", wx(hh).into_dyn()),
                            ("W_hz", wh(z).into_dyn()),
                            ("W_hr", wh(rr).into_dyn()),
                            ("W_hn", wh(hh).into_dyn()),
                            ("b_iz", bias(d, z, false).into_dyn()),
                            ("b_ir", bias(d, rr, false).into_dyn()),
                            ("b_in", bias(d, hh, false).into_dyn()),
                            ("b_hz", bias(d, z, true).into_dyn()),
                            ("b_hr", bias(d, rr, true).into_dyn()),
                            ("b_hn", bias(d, hh, true).into_dyn()),
                        ]);
                        name = "GruTorch";
                        Box::new(GruTorch::<F>::zeros(GruTorchDims::from_names(&dims)?))
                    }
                }
                _ => {
                    set.extend([
                        ("W_xh", wx(0).into_dyn()),
                        ("W_hh", wh(0).into_dyn()),
                        ("b_h", sum(d, 0).into_dyn()),
                    ]);
                    if relu {
                        name = "RnnRelu";
                        Box::new(RnnRelu::<F>::zeros(RnnReluDims::from_names(&dims)?))
                    } else {
                        name = "RnnTanh";
                        Box::new(RnnTanh::<F>::zeros(RnnTanhDims::from_names(&dims)?))
                    }
                }
            };
            let mut cell = cell;
            for (param, value) in set {
                cell.params_mut().set(param, value.view())?;
            }
            cells.push(cell);
        }
        let mut cells = cells.into_iter();
        let first = cells.next().expect("one direction at least");
        let layer = match direction.as_str() {
            "bidirectional" => RecurrentLayer::bidirectional(first, cells.next().expect("two"))?,
            "reverse" => RecurrentLayer::reverse(first),
            _ => RecurrentLayer::unidirectional(first),
        };
        Ok((layer, name, layout))
    }
}

/// The values of a float tensor (float, double, or raw little-endian bytes).
fn floats(t: &TensorProto, what: &str, name: &str) -> Result<Vec<f64>> {
    let n: usize = t.dims.iter().map(|&d| d as usize).product();
    let values: Vec<f64> = match t.data_type {
        FLOAT if !t.float_data.is_empty() => t.float_data.iter().map(|&v| f64::from(v)).collect(),
        FLOAT => t
            .raw_data
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        DOUBLE if !t.double_data.is_empty() => t.double_data.clone(),
        DOUBLE => t
            .raw_data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect(),
        other => {
            return Err(refuse(format!(
                "{what}: `{name}` has element type {other}: expected float (1) or double (11)"
            )))
        }
    };
    if values.len() != n {
        return Err(refuse(format!(
            "{what}: `{name}` holds {} values for shape {:?}",
            values.len(),
            t.dims
        )));
    }
    Ok(values)
}
