//! The step as data: every node of the IR as a `StepNode` of the runtime, so that tools (the
//! ONNX exporter) walk the cell's operations from its `CellSpec` without parsing text.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::access::float;
use super::Emitter;
use crate::ast::BinOp;
use crate::ir::{Op, Reduction};
use crate::shape::{Dim, Shape};

impl Emitter<'_> {
    /// `StepSpec { nodes, updates, output }`, and the items it uses (to declare in the function
    /// that defines the static spec): short names for the runtime's step types, and each
    /// distinct size once as a constant `D<k>`, so that a node reads as one line,
    /// `N::new(O::Param(0usize), D1)`.
    pub(super) fn step_spec(&self) -> (TokenStream, TokenStream) {
        let rt = &self.rt;
        let mut dims: BTreeMap<String, (usize, TokenStream)> = BTreeMap::new();
        let mut dim = |d: &Dim| -> TokenStream {
            let next = dims.len();
            let (k, _) = dims
                .entry(format!("{d:?}"))
                .or_insert_with(|| (next, self.dim_spec(d)));
            let id = format_ident!("D{}", *k);
            quote!(#id)
        };
        let nodes: Vec<TokenStream> = self
            .cell
            .graph
            .nodes
            .iter()
            .map(|node| {
                let op = match &node.op {
                    Op::Input { delay } => quote!(O::input(#delay)),
                    Op::StatePrev { state, delay } => quote!(O::state(#state, #delay)),
                    Op::Param(p) => quote!(O::Param(#p)),
                    Op::Mask(m) => quote!(O::Mask(#m)),
                    Op::Const(v) => {
                        let v = float(*v);
                        quote!(O::Const(#v))
                    }
                    Op::MatMul {
                        lhs,
                        param,
                        row_start,
                        transposed,
                    } => {
                        let row_start = dim(row_start);
                        quote!(O::product(#lhs, #param, #row_start, #transposed))
                    }
                    Op::Reduce(Reduction::Mean, a) => quote!(O::Mean(#a)),
                    Op::Reduce(Reduction::Sum, a) => quote!(O::Sum(#a)),
                    Op::Neg(a) => quote!(O::Neg(#a)),
                    Op::Copy(a) => quote!(O::Copy(#a)),
                    Op::Binary(op, a, b) => {
                        let op = match op {
                            BinOp::Add => quote!(Add),
                            BinOp::Sub => quote!(Sub),
                            BinOp::Mul => quote!(Mul),
                            BinOp::Div => quote!(Div),
                            BinOp::Max => quote!(Max),
                            BinOp::Min => quote!(Min),
                            BinOp::MatMul => unreachable!("`@` is lowered to MatMul"),
                        };
                        quote!(O::Binary(B::#op, #a, #b))
                    }
                    Op::Func(f, a) => {
                        let name = f.name();
                        let literals = f.literals().into_iter().map(float);
                        quote!(O::Func(#name, &[#(#literals),*], #a))
                    }
                };
                let size = match &node.shape {
                    Shape::Vector(d) => dim(d),
                    Shape::Scalar => dim(&Dim::constant(1)),
                    _ => dim(&Dim::constant(0)),
                };
                quote!(N::new(#op, #size))
            })
            .collect();
        let updates = self.cell.states.iter().map(|s| s.update);
        let output = self.cell.output;
        let consts = dims.values().map(|(k, spec)| {
            let id = format_ident!("D{}", *k);
            quote!(const #id: #rt::DimSpec = #spec;)
        });
        let items = quote! {
            #[allow(unused_imports)]
            use #rt::{BinaryOp as B, StepNode as N, StepOp as O};
            #(#consts)*
        };
        let spec = quote!(&#rt::StepSpec { nodes: &[#(#nodes),*], updates: &[#(#updates),*], output: #output });
        (items, spec)
    }

    /// A dimension as a `DimSpec`.
    fn dim_spec(&self, d: &Dim) -> TokenStream {
        let rt = &self.rt;
        let terms = d.terms.iter().map(|(name, c)| quote!((#c, #name)));
        let constant = d.constant;
        quote!(#rt::DimSpec::new(&[#(#terms),*], #constant))
    }
}
