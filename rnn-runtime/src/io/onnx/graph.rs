//! A small builder of ONNX graphs: nodes with fresh output names, initializers, value infos.

use super::proto::{
    attribute_type, AttributeProto, Dimension, GraphProto, NodeProto, TensorProto,
    TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, FLOAT, INT64,
};

/// A graph being built: its nodes in order, its initializers, and a counter for fresh names
/// (every name starts with the builder's prefix, so a subgraph's names never shadow its
/// parent's).
pub(super) struct Graph {
    prefix: String,
    next: usize,
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
}

/// A dimension of a declared shape: a size, or a name for a size known only at run time.
pub(super) enum Dim<'a> {
    Fixed(usize),
    Named(&'a str),
}

impl Graph {
    pub fn new(prefix: &str) -> Self {
        Graph {
            prefix: prefix.to_string(),
            next: 0,
            nodes: vec![],
            initializers: vec![],
        }
    }

    /// A fresh value name, `<prefix><hint>_<k>`.
    pub fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{}{hint}_{}", self.prefix, self.next)
    }

    /// Appends a node with one output (a fresh name, returned).
    pub fn op(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) -> String {
        let out = self.fresh(&op_type.to_lowercase());
        self.op_into(op_type, inputs, attributes, &[&out]);
        out
    }

    /// Appends a node with the given outputs.
    pub fn op_into(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        outputs: &[&str],
    ) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: format!("{}node_{}", self.prefix, self.nodes.len()),
            op_type: op_type.to_string(),
            attribute: attributes,
            ..Default::default()
        });
    }

    /// An f32 initializer called `name` (as given, not made fresh).
    pub fn float_tensor(&mut self, name: &str, dims: &[usize], data: Vec<f32>) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            float_data: data,
            name: name.to_string(),
            ..Default::default()
        });
        name.to_string()
    }

    /// A fresh f32 constant.
    pub fn float_const(&mut self, hint: &str, dims: &[usize], data: Vec<f32>) -> String {
        let name = self.fresh(hint);
        self.float_tensor(&name, dims, data)
    }

    /// A fresh scalar f32 constant.
    pub fn scalar(&mut self, v: f32) -> String {
        self.float_const("c", &[], vec![v])
    }

    /// A fresh int64 constant.
    pub fn int_const(&mut self, hint: &str, dims: &[usize], data: Vec<i64>) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: INT64,
            int64_data: data,
            name: name.clone(),
            ..Default::default()
        });
        name
    }

    /// The graph, with its inputs and outputs.
    pub fn finish(
        self,
        name: &str,
        inputs: Vec<ValueInfoProto>,
        outputs: Vec<ValueInfoProto>,
    ) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.to_string(),
            initializer: self.initializers,
            input: inputs,
            output: outputs,
            ..Default::default()
        }
    }
}

/// A tensor value's declaration: element type and shape (`None`: shape not declared).
pub(super) fn value_info(name: &str, elem_type: i32, shape: Option<&[Dim<'_>]>) -> ValueInfoProto {
    let shape = shape.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Dimension {
                    dim_value: Some(*n as i64),
                    dim_param: None,
                },
                Dim::Named(s) => Dimension {
                    dim_value: None,
                    dim_param: Some(s.to_string()),
                },
            })
            .collect(),
    });
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto { elem_type, shape }),
        }),
        ..Default::default()
    }
}

pub(super) fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: v,
        ..Default::default()
    }
}

pub(super) fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: v,
        ..Default::default()
    }
}

pub(super) fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub(super) fn attr_graph(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::GRAPH,
        g: Some(Box::new(g)),
        ..Default::default()
    }
}
