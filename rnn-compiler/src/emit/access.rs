//! Where each value lives in the generated code, and the expressions that read it or
//! accumulate into its adjoint, inside the per-example (`b`, `row = t * n_batch + b`) and
//! per-feature (`j`) loops.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use super::Emitter;
use crate::ir::{NodeId, Op};
use crate::plan::Lhs;
use crate::shape::{Dim, Shape};

/// `dim_I + dim_H`, as a `usize` expression.
pub fn dim_tokens(d: &Dim) -> TokenStream {
    let mut parts: Vec<TokenStream> = d
        .terms
        .iter()
        .map(|(name, &c)| {
            let id = dim_ident(name);
            if c == 1 {
                quote!(#id)
            } else {
                let c = c as usize;
                // Parenthesized: `[2 * H, ..]` in a `vec![..]` of shapes must not read as a
                // missing comma (clippy's `possible_missing_comma` at the user's span).
                quote!((#c * #id))
            }
        })
        .collect();
    if d.constant != 0 || parts.is_empty() {
        let c = d.constant.max(0) as usize;
        parts.push(quote!(#c));
    }
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        quote!((#(#parts)+*))
    }
}

/// An `f64` literal; the checker rejects non-finite constants, and this never panics on them.
pub fn float(v: f64) -> TokenStream {
    if v.is_finite() {
        let lit = proc_macro2::Literal::f64_suffixed(v);
        quote!(#lit)
    } else if v.is_nan() {
        quote!(f64::NAN)
    } else if v > 0.0 {
        quote!(f64::INFINITY)
    } else {
        quote!(f64::NEG_INFINITY)
    }
}

/// The local holding a dimension's value.
pub fn dim_ident(name: &str) -> Ident {
    format_ident!("dim_{}", name)
}

/// Local names of the generated code.
pub fn value(n: NodeId) -> Ident {
    format_ident!("v{}", n)
}
/// The adjoint of node `n` inside a loop.
pub fn adjoint(n: NodeId) -> Ident {
    format_ident!("a{}", n)
}
/// The `[T + D, B, size]` buffer of state `s`.
pub fn state_buffer(name: &str) -> Ident {
    format_ident!("state_{}", name)
}
/// The part of a state buffer before the current step's row (read while the row is written).
pub fn state_past(name: &str) -> Ident {
    format_ident!("state_{}_past", name)
}
/// The part of a state buffer from the current step's row on.
pub fn state_now(name: &str) -> Ident {
    format_ident!("state_{}_now", name)
}
/// The buffer of mask `m`: `[B, size]` (drawn once per sequence) or `[T, B, size]` (per step)
/// when training, `[size]` (the expectation) when inferring.
pub fn mask_buffer(m: usize) -> Ident {
    format_ident!("mask_{}", m)
}
/// The row slice of an operand inside a loop.
pub fn row_ident(n: NodeId) -> Ident {
    format_ident!("row_{}", n)
}
/// The destination row slice of a value inside a loop.
pub fn out_ident(n: NodeId, what: &str) -> Ident {
    format_ident!("out_{}_{}", what, n)
}
/// The block of `n_batch` destination rows of a value at the current step.
pub fn block_ident(n: NodeId, what: &str) -> Ident {
    format_ident!("block_{}_{}", what, n)
}
/// The adjoint of a state buffer.
pub fn state_adjoint(name: &str) -> Ident {
    format_ident!("d_state_{}", name)
}
/// The `[T, B, width]` output of product group `g`.
pub fn product(g: usize) -> Ident {
    format_ident!("product_{}", g)
}
/// The adjoint of product group `g`'s output.
pub fn product_adjoint(g: usize) -> Ident {
    format_ident!("d_product_{}", g)
}
/// Group `g`'s packed weights `[inner, width]`.
pub fn weight(g: usize) -> Ident {
    format_ident!("weight_{}", g)
}
/// Group `g`'s packed weights, transposed (for the adjoint of a per-step product).
pub fn weight_transposed(g: usize) -> Ident {
    format_ident!("weight_t_{}", g)
}
/// Group `g`'s packed weight gradient.
pub fn weight_grad(g: usize) -> Ident {
    format_ident!("d_weight_{}", g)
}
/// Width of group `g`.
pub fn width(g: usize) -> Ident {
    format_ident!("width_{}", g)
}
/// Column offset of product `i` in group `g`.
pub fn offset(g: usize, i: usize) -> Ident {
    format_ident!("offset_{}_{}", g, i)
}
/// The `[T, B, size]` buffer of a saved node.
pub fn saved(n: NodeId) -> Ident {
    format_ident!("saved_{}", n)
}
/// The per-step `[B, size]` adjoint buffer of a node.
pub fn adjoint_buffer(n: NodeId) -> Ident {
    format_ident!("adj_{}", n)
}
/// Vector parameter `p` as a slice.
pub fn param(p: usize) -> Ident {
    format_ident!("param_{}", p)
}
/// Gradient accumulator of vector parameter `p`.
pub fn param_grad(p: usize) -> Ident {
    format_ident!("d_param_{}", p)
}

impl Emitter<'_> {
    /// The row of a per-step value (a saved node or a per-step product) of example `b` at
    /// step `t`: `row` in `[T, B, ...]` buffers, `b` in the inference pass's `[B, ...]` ones.
    pub fn step_row(&self) -> TokenStream {
        if self.infer {
            quote!(b)
        } else {
            quote!(row)
        }
    }

    /// The first row of step `t` in a per-step buffer: `t * n_batch`, or `0` when inferring.
    pub fn step_block(&self) -> TokenStream {
        if self.infer {
            quote!(0usize)
        } else {
            quote!((t * n_batch))
        }
    }

    /// Whether the pass being emitted stores the values of saved node `n`: always when training
    /// (the backward pass reads them), and when inferring only if the step itself reads them
    /// back (a later pass, a reduction or a product).
    pub fn stores_saved(&self, n: crate::ir::NodeId) -> bool {
        if !self.infer {
            return true;
        }
        let own = self.plan.loop_of.get(&n);
        self.cell.graph.nodes.iter().enumerate().any(|(m, node)| {
            self.plan.live[m]
                && node.op.operands().contains(&n)
                && (!node.op.is_elementwise() || self.plan.loop_of.get(&m) != own)
        })
    }

    /// Rows of a per-step buffer: `n_time * n_batch`, or `n_batch` when inferring.
    pub fn step_rows(&self) -> TokenStream {
        if self.infer {
            quote!(n_batch)
        } else {
            quote!((n_time * n_batch))
        }
    }

    /// Whether the backward pass reads the values of group `g`'s products (a partial such as
    /// `r * (h[t-1] @ W_hn + b_hn)` multiplies by them): only then are they kept for every step.
    pub fn product_values_kept(&self, g: usize) -> bool {
        !self.infer
            && self.plan.groups[g].products.iter().any(|p| {
                self.partials.iter().flatten().any(|q| {
                    let mut values = vec![];
                    q.factor.values(&mut values);
                    values.contains(&p.node)
                })
            })
    }

    /// The row of group `g`'s per-step product for example `b` (`row`, or `b` when the buffer
    /// holds one step).
    pub fn product_row(&self, g: usize) -> TokenStream {
        if self.product_values_kept(g) {
            quote!(row)
        } else {
            quote!(b)
        }
    }

    /// Whether product group `g` is the hoisted one (its buffer always spans every step).
    pub fn hoisted(&self, g: usize) -> bool {
        self.plan.groups[g].lhs == Lhs::Input
    }

    /// The row of mask `m` for example `b` at step `t` in its buffer (see [`mask_buffer`]).
    pub fn mask_row(&self, m: usize) -> TokenStream {
        if self.infer {
            quote!(0usize)
        } else if self.cell.masks[m].per_step {
            quote!(row)
        } else {
            quote!(b)
        }
    }

    /// The size of a vector node.
    pub fn node_dim(&self, n: NodeId) -> TokenStream {
        match &self.cell.graph.nodes[n].shape {
            Shape::Vector(d) => dim_tokens(d),
            _ => quote!(1usize),
        }
    }

    /// The largest `k` of the `x[t-k]` the cell reads: the input history it carries.
    pub fn input_delay(&self) -> usize {
        self.cell.input_delay()
    }

    /// The row of `x[t-k]` for example `b` in the input buffer (and in the hoisted products),
    /// which holds the `K` history rows before step 0: row `t + K - k`.
    pub fn input_row(&self, k: usize) -> TokenStream {
        let back = self.input_delay() - k;
        if back == 0 && k == 0 {
            quote!(row)
        } else if back == 0 {
            quote!((t * n_batch + b))
        } else {
            quote!(((t + #back) * n_batch + b))
        }
    }

    /// Rows of the input buffer and of the hoisted products: `(T + K) * B`.
    pub fn input_rows(&self) -> TokenStream {
        match self.input_delay() {
            0 => quote!((n_time * n_batch)),
            k => quote!(((n_time + #k) * n_batch)),
        }
    }

    /// The feature index for reading node `n` inside a loop over `loop_dim` features: `j`, or
    /// `0` for a per-example scalar (`[1]`) broadcast over a wider loop.
    pub fn index(&self, n: NodeId, loop_dim: &Dim) -> TokenStream {
        match self.cell.graph.dim(n) {
            Some(d) if d.is_one() && !loop_dim.is_one() => quote!(0usize),
            _ => quote!(j),
        }
    }

    /// Reads the forward value of node `n` (elementwise nodes from where they are stored) at
    /// feature `j` (the loop's index or `0`, see [`Emitter::index`]).
    pub fn read(&self, n: NodeId, j: &TokenStream) -> TokenStream {
        let rt = &self.rt;
        let node = &self.cell.graph.nodes[n];
        match &node.op {
            Op::Input { delay } => {
                let d = dim_tokens(&self.cell.input.dim);
                let r = self.input_row(*delay);
                quote!(input[#r * #d + #j])
            }
            Op::StatePrev { state, delay } => {
                let st = &self.cell.states[*state];
                let buf = state_buffer(&st.name);
                let back = st.delay - delay;
                let d = dim_tokens(&st.dim);
                quote!(#buf[((t + #back) * n_batch + b) * #d + #j])
            }
            Op::Param(p) => {
                let id = param(*p);
                quote!(#id[#j])
            }
            Op::Const(v) => {
                let v = float(*v);
                quote!(#rt::lit::<F>(#v))
            }
            Op::Mask(m) => {
                let (buf, r) = (mask_buffer(*m), self.mask_row(*m));
                let d = dim_tokens(&self.cell.masks[*m].dim);
                quote!(#buf[#r * #d + #j])
            }
            Op::MatMul { .. } => {
                let (g, i) = self.plan.product_of[&n];
                let (buf, w, off) = (product(g), width(g), offset(g, i));
                let delay = self.plan.groups[g].products[i].delay;
                let r = if self.hoisted(g) {
                    self.input_row(delay)
                } else {
                    self.product_row(g)
                };
                quote!(#buf[#r * #w + #off + #j])
            }
            _ => {
                let (buf, row) = self.location(n);
                let d = self.node_dim(n);
                quote!(#buf[#row * #d + #j])
            }
        }
    }

    /// Where an elementwise node is stored: (buffer, row expression).
    pub fn location(&self, n: NodeId) -> (Ident, TokenStream) {
        if let Some(states) = self.plan.state_of.get(&n) {
            let st = &self.cell.states[states[0]];
            let delay = st.delay;
            (state_buffer(&st.name), quote!(((t + #delay) * n_batch + b)))
        } else {
            (saved(n), self.step_row())
        }
    }

    /// The buffer and first row of node `n`'s values over all steps (a product's left operand
    /// for the weight-gradient GEMM), and the same at step `t`.
    pub fn lhs_rows(&self, lhs: &Lhs) -> (TokenStream, TokenStream) {
        match lhs {
            Lhs::Input => (quote!(input[..]), quote!(input[..])),
            Lhs::State { state, delay } => {
                let st = &self.cell.states[*state];
                let buf = state_buffer(&st.name);
                let d = dim_tokens(&st.dim);
                let back = st.delay - delay;
                (
                    quote!(#buf[#back * n_batch * #d..]),
                    quote!(#buf[(t + #back) * n_batch * #d..]),
                )
            }
            Lhs::Node(n) => {
                let d = self.node_dim(*n);
                match self.plan.state_of.get(n) {
                    Some(states) => {
                        let st = &self.cell.states[states[0]];
                        let buf = state_buffer(&st.name);
                        let delay = st.delay;
                        (
                            quote!(#buf[#delay * n_batch * #d..]),
                            quote!(#buf[(t + #delay) * n_batch * #d..]),
                        )
                    }
                    None => {
                        let buf = saved(*n);
                        let block = self.step_block();
                        (quote!(#buf[..]), quote!(#buf[#block * #d..]))
                    }
                }
            }
        }
    }

    /// Adds `a{n}` into the adjoint of node `n` at feature `j`; `n` is not computed in the
    /// current loop.
    pub fn accumulate(&self, n: NodeId, j: &TokenStream) -> TokenStream {
        let a = adjoint(n);
        let node = &self.cell.graph.nodes[n];
        match &node.op {
            Op::Input { delay } => {
                let d = dim_tokens(&self.cell.input.dim);
                let r = self.input_row(*delay);
                quote!(d_input[#r * #d + #j] += #a;)
            }
            Op::StatePrev { state, delay } => {
                let st = &self.cell.states[*state];
                let buf = state_adjoint(&st.name);
                let back = st.delay - delay;
                let d = dim_tokens(&st.dim);
                quote!(#buf[((t + #back) * n_batch + b) * #d + #j] += #a;)
            }
            Op::Param(p) => {
                let id = param_grad(*p);
                quote!(#id[#j] += #a;)
            }
            Op::Const(_) | Op::Mask(_) => quote!(),
            Op::MatMul { .. } => {
                let (g, i) = self.plan.product_of[&n];
                let (buf, w, off) = (product_adjoint(g), width(g), offset(g, i));
                let delay = self.plan.groups[g].products[i].delay;
                let r = if self.hoisted(g) {
                    self.input_row(delay)
                } else {
                    quote!(row)
                };
                quote!(#buf[#r * #w + #off + #j] += #a;)
            }
            _ => {
                let buf = adjoint_buffer(n);
                let d = self.node_dim(n);
                quote!(#buf[b * #d + #j] += #a;)
            }
        }
    }
}

/// An identifier at the call site.
pub fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}
