//! The backward pass: per step in reverse, the fused adjoint loops of each stage (the derived
//! partials, reading saved forward values) and the adjoint GEMMs of the step's products; after
//! the time loop, every weight gradient and the input gradient as a few large GEMMs.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::quote;

use super::access::*;
use super::Emitter;
use crate::diff::DExpr;
use crate::plan::Lhs;

impl Emitter<'_> {
    fn dexpr(&self, e: &DExpr) -> TokenStream {
        let rt = &self.rt;
        match e {
            DExpr::Lit(v) => {
                let v = float(*v);
                quote!(#rt::lit::<F>(#v))
            }
            DExpr::Val(n) => {
                let v = value(*n);
                quote!(#v)
            }
            DExpr::Add(a, b) => {
                let (a, b) = (self.dexpr(a), self.dexpr(b));
                quote!((#a + #b))
            }
            DExpr::Sub(a, b) => {
                let (a, b) = (self.dexpr(a), self.dexpr(b));
                quote!((#a - #b))
            }
            DExpr::Mul(a, b) => {
                let (a, b) = (self.dexpr(a), self.dexpr(b));
                quote!((#a * #b))
            }
            DExpr::Div(a, b) => {
                let (a, b) = (self.dexpr(a), self.dexpr(b));
                quote!((#a / #b))
            }
            DExpr::Neg(a) => {
                let a = self.dexpr(a);
                quote!((-#a))
            }
            DExpr::Call(f, a) => {
                let (f, a) = (ident(f), self.dexpr(a));
                quote!(#rt::#f(#a))
            }
        }
    }

    /// One fused adjoint loop: the loop's nodes in reverse, each passing its adjoint to its
    /// operands through the derived partials.
    fn backward_loop(&self, l: usize) -> TokenStream {
        let rt = &self.rt;
        let lp = &self.plan.loops[l];
        let d = dim_tokens(&lp.dim);
        let zero = quote!(#rt::lit::<F>(0.0));

        let mut values = BTreeSet::new();
        let mut external = BTreeSet::new();
        for &c in &lp.nodes {
            for p in &self.partials[c] {
                let mut vs = vec![];
                p.factor.values(&mut vs);
                values.extend(vs);
                if self.plan.loop_of.get(&p.wrt) != Some(&l) {
                    external.insert(p.wrt);
                }
            }
        }
        let loads = values.iter().map(|&n| {
            let v = value(n);
            let read = self.read(n, &self.index(n, &lp.dim));
            quote!(let #v: F = #read;)
        });
        let seeds = lp.nodes.iter().map(|&n| {
            let a = adjoint(n);
            let mut terms = vec![];
            for &s in self.plan.state_of.get(&n).into_iter().flatten() {
                let st = &self.cell.states[s];
                let (buf, delay) = (state_adjoint(&st.name), st.delay);
                terms.push(quote!(#buf[((t + #delay) * n_batch + b) * #d + j]));
            }
            if n == self.cell.output {
                terms.push(quote!(d_output[row * #d + j]));
            }
            if self.plan.adjoint_buffers.contains(&n) {
                let buf = adjoint_buffer(n);
                terms.push(quote!(#buf[b * #d + j]));
            }
            if terms.is_empty() {
                terms.push(zero.clone());
            }
            quote!(let mut #a: F = #(#terms)+*;)
        });
        let externals = external.iter().map(|&n| {
            let a = adjoint(n);
            quote!(let mut #a: F = #zero;)
        });
        let chain = lp.nodes.iter().rev().flat_map(|&c| {
            let ac = adjoint(c);
            self.partials[c].iter().map(move |p| {
                let aw = adjoint(p.wrt);
                match &p.factor {
                    DExpr::Lit(v) if *v == 1.0 => quote!(#aw += #ac;),
                    DExpr::Lit(v) if *v == -1.0 => quote!(#aw -= #ac;),
                    f => {
                        let f = self.dexpr(f);
                        quote!(#aw += #ac * #f;)
                    }
                }
            })
        });
        let flushes = external
            .iter()
            .map(|&n| self.accumulate(n, &self.index(n, &lp.dim)));
        quote! {
            for b in 0..n_batch {
                if t >= lengths[b] {
                    continue;
                }
                let row = t * n_batch + b;
                for j in 0..#d {
                    #(#loads)*
                    #(#seeds)*
                    #(#externals)*
                    #(#chain)*
                    #(#flushes)*
                }
            }
        }
    }

    /// The adjoint of a reduction at step `t`: `d arg[b, j] += scale * d r[b]` for every `j`.
    fn backward_reduction(&self, n: crate::ir::NodeId) -> TokenStream {
        let rt = &self.rt;
        let crate::ir::Op::Reduce(kind, arg) = self.cell.graph.nodes[n].op else {
            return quote!();
        };
        let d = self.node_dim(arg);
        let a = adjoint(arg);
        let add = self.accumulate(arg, &quote!(j));
        let buf = adjoint_buffer(n);
        let scale = match kind {
            crate::ir::Reduction::Mean => quote!(#rt::lit::<F>(1.0 / (#d as f64))),
            crate::ir::Reduction::Sum => quote!(#rt::lit::<F>(1.0)),
        };
        quote! {
            for b in 0..n_batch {
                if t >= lengths[b] {
                    continue;
                }
                let row = t * n_batch + b;
                let spread: F = #buf[b] * #scale;
                for j in 0..#d {
                    let #a: F = spread;
                    #add
                }
            }
        }
    }

    /// The adjoint GEMM of group `g` at step `t`: `d lhs[t] += d product_g[t] @ weight_g^T`.
    fn backward_gemm(&self, g: usize) -> TokenStream {
        let rt = &self.rt;
        let group = &self.plan.groups[g];
        let (dbuf, wd) = (product_adjoint(g), width(g));
        let inner = dim_tokens(&group.inner);
        let target = match &group.lhs {
            Lhs::State { state, delay } => {
                let st = &self.cell.states[*state];
                let buf = state_adjoint(&st.name);
                let back = st.delay - delay;
                quote!(#buf[(t + #back) * n_batch * #inner..])
            }
            Lhs::Node(n) => {
                let buf = adjoint_buffer(*n);
                quote!(#buf[..])
            }
            Lhs::Input => return quote!(),
        };
        let wt = weight_transposed(g);
        quote! {
            #rt::gemm_step(&#dbuf[t * n_batch * #wd..], n_batch, #wd, &#wt, #inner, &mut #target, #rt::lit::<F>(1.0));
        }
    }

    /// The body of `Cell::backward`.
    pub fn backward_body(&self) -> TokenStream {
        let rt = &self.rt;
        let cell = self.cell;
        let name = &cell.name;
        let d_in = dim_tokens(&cell.input.dim);
        let d_out = self.node_dim(cell.output);
        let setup = self.setup();
        let buffers = self.trace_buffers();
        let n_buffers = buffers.len();
        let bind = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| quote!(let #b: &[F] = &trace.buffers[#i];));
        let zero = quote!(#rt::lit::<F>(0.0));

        let state_adjoints = cell.states.iter().enumerate().map(|(s, st)| {
            let (buf, delay, d) = (state_adjoint(&st.name), st.delay, dim_tokens(&st.dim));
            quote! {
                let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed((n_time + #delay) * n_batch * #d);
                #rt::inject_final(&mut #buf, d_final, #s, #delay, #d, lengths);
            }
        });
        let transposed = self.plan.groups.iter().enumerate().map(|(g, group)| {
            let (w, wt, wd) = (weight(g), weight_transposed(g), width(g));
            let inner = dim_tokens(&group.inner);
            quote!(let #wt: #rt::Buffer<F> = #rt::transpose_panels(&#w, #inner, #wd);)
        });
        let product_adjoints = (0..self.plan.groups.len()).map(|g| {
            let (buf, wd) = (product_adjoint(g), width(g));
            quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed(n_time * n_batch * #wd);)
        });
        let adjoint_bufs = self.plan.adjoint_buffers.iter().map(|&n| {
            let (buf, d) = (adjoint_buffer(n), self.node_dim(n));
            quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed(n_batch * #d);)
        });
        let clears = self.plan.adjoint_buffers.iter().map(|&n| {
            let buf = adjoint_buffer(n);
            quote!(#buf.fill(#zero);)
        });
        let param_grads = self.plan.vector_params.iter().map(|&p| {
            let (buf, d) = (param_grad(p), self.param_len(p));
            quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed(#d);)
        });
        let mut stages = TokenStream::new();
        for s in (0..self.plan.n_stages).rev() {
            // Within a stage, per-example scalar loops (`[1]`) come first in the forward pass
            // because wider loops may broadcast them: the adjoint runs the loops in reverse.
            for (l, lp) in self.plan.loops.iter().enumerate().rev() {
                if lp.stage == s {
                    stages.extend(self.backward_loop(l));
                }
            }
            for r in self.plan.reductions.iter().rev().filter(|r| r.stage == s) {
                stages.extend(self.backward_reduction(r.node));
            }
            for (g, group) in self.plan.groups.iter().enumerate() {
                if group.stage == Some(s) {
                    stages.extend(self.backward_gemm(g));
                }
            }
        }
        let weight_grads = self.plan.groups.iter().enumerate().map(|(g, group)| {
            let (dw, dbuf, wd) = (weight_grad(g), product_adjoint(g), width(g));
            let inner = dim_tokens(&group.inner);
            let (lhs_all, _) = self.lhs_rows(&group.lhs);
            let wt = weight_transposed(g);
            let input_grad = if group.lhs == Lhs::Input {
                quote!(#rt::gemm_step(&#dbuf, n_time * n_batch, #wd, &#wt, #d_in, &mut d_input, #rt::lit::<F>(1.0));)
            } else {
                quote!()
            };
            let unpack = group.products.iter().enumerate().map(|(i, p)| {
                let (param, off, row) = (p.param, offset(g, i), dim_tokens(&p.row_start));
                quote!(#rt::unpack_add(&mut grads, #param, #row, &#dw, #inner, #wd, #off);)
            });
            quote! {
                let mut #dw: #rt::Buffer<F> = #rt::Buffer::zeroed(#inner * #wd);
                #rt::gemm_tn(&#lhs_all, n_time * n_batch, #inner, &#dbuf, #wd, &mut #dw);
                #(#unpack)*
                #input_grad
            }
        });
        let vector_grads = self.plan.vector_params.iter().map(|&p| {
            let buf = param_grad(p);
            quote!(#rt::add_vector(&mut grads, #p, &#buf);)
        });
        let state_adjoint_refs = cell.states.iter().map(|st| state_adjoint(&st.name));
        quote! {
            #setup
            let trace = &forward.trace;
            #rt::check_trace(trace, #name, &dims_vec, #n_buffers)?;
            let (n_time, n_batch) = (trace.n_time, trace.n_batch);
            let lengths: &[usize] = &trace.lengths;
            let sizes = <Self as #rt::Cell<F>>::state_sizes(self);
            let d_output: #rt::Buffer<F> = #rt::check_seq_grad(&d_outputs, "output gradient", n_time, n_batch, #d_out)?;
            #rt::check_final_grads(d_final, <Self as #rt::Cell<F>>::spec(), &sizes, n_batch)?;
            #(#bind)*
            let mut d_input: #rt::Buffer<F> = #rt::Buffer::zeroed(n_time * n_batch * #d_in);
            #(#state_adjoints)*
            #(#transposed)*
            #(#product_adjoints)*
            #(#adjoint_bufs)*
            #(#param_grads)*
            for t in (0..n_time).rev() {
                #(#clears)*
                #stages
            }
            let mut grads = self.params.zeros_like();
            #(#weight_grads)*
            #(#vector_grads)*
            Ok(#rt::Gradients {
                params: grads,
                inputs: #rt::to_array3(d_input, n_time, n_batch, #d_in),
                initial_states: #rt::initial_grads(<Self as #rt::Cell<F>>::spec(), &[#(&#state_adjoint_refs[..]),*], &sizes, n_batch),
            })
        }
    }
}
