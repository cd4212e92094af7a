//! The forward pass: hoisted input GEMM, then per step the packed GEMMs and fused elementwise
//! loops of each stage, storing exactly what later passes and the backward pass read.

use proc_macro2::TokenStream;
use quote::quote;

use super::access::*;
use super::Emitter;
use crate::ast::BinOp;
use crate::ir::Op;
use crate::plan::Lhs;

impl Emitter<'_> {
    /// One fused elementwise loop of the forward pass.
    fn forward_loop(&self, l: usize) -> TokenStream {
        let rt = &self.rt;
        let lp = &self.plan.loops[l];
        let graph = &self.cell.graph;
        let d = dim_tokens(&lp.dim);
        let mut external = std::collections::BTreeSet::new();
        for &n in &lp.nodes {
            for a in graph.nodes[n].op.operands() {
                if self.plan.loop_of.get(&a) != Some(&l) {
                    external.insert(a);
                }
            }
        }
        let loads = external.iter().map(|&a| {
            let v = value(a);
            let read = self.read(a, &self.index(a, &lp.dim));
            quote!(let #v: F = #read;)
        });
        let computes = lp.nodes.iter().map(|&n| {
            let v = value(n);
            let e = match graph.nodes[n].op {
                Op::Neg(a) => {
                    let a = value(a);
                    quote!(-#a)
                }
                Op::Copy(a) => {
                    let a = value(a);
                    quote!(#a)
                }
                Op::Binary(op, a, c) => {
                    let (a, c) = (value(a), value(c));
                    match op {
                        BinOp::Add => quote!(#a + #c),
                        BinOp::Sub => quote!(#a - #c),
                        BinOp::Mul => quote!(#a * #c),
                        _ => quote!(#a / #c),
                    }
                }
                Op::Func(f, a) => {
                    let (f, a) = (ident(f.name()), value(a));
                    quote!(#rt::#f(#a))
                }
                _ => quote!(),
            };
            quote!(let #v: F = #e;)
        });
        let stores = lp.nodes.iter().map(|&n| {
            let v = value(n);
            let mut out = TokenStream::new();
            if self.plan.saved.contains(&n) {
                let buf = saved(n);
                out.extend(quote!(#buf[row * #d + j] = #v;));
            }
            for &s in self.plan.state_of.get(&n).into_iter().flatten() {
                let st = &self.cell.states[s];
                let (buf, delay) = (state_buffer(&st.name), st.delay);
                out.extend(quote!(#buf[((t + #delay) * n_batch + b) * #d + j] = #v;));
            }
            if n == self.cell.output {
                out.extend(quote!(output[row * #d + j] = #v;));
            }
            out
        });
        quote! {
            for b in 0..n_batch {
                if t >= lengths[b] {
                    continue;
                }
                let row = t * n_batch + b;
                for j in 0..#d {
                    #(#loads)*
                    #(#computes)*
                    #(#stores)*
                }
            }
        }
    }

    /// A reduction at step `t`: `r[b] = scale * sum_j arg[b, j]`.
    fn forward_reduction(&self, n: crate::ir::NodeId) -> TokenStream {
        let rt = &self.rt;
        let crate::ir::Op::Reduce(kind, arg) = self.cell.graph.nodes[n].op else {
            return quote!();
        };
        let d = self.node_dim(arg);
        let read = self.read(arg, &quote!(j));
        let buf = saved(n);
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
                let mut total: F = #rt::lit::<F>(0.0);
                for j in 0..#d {
                    total += #read;
                }
                #buf[row] = total * #scale;
            }
        }
    }

    /// The GEMM of product group `g` at step `t`: `product_g[t] = lhs[t] @ weight_g`.
    fn forward_gemm(&self, g: usize) -> TokenStream {
        let rt = &self.rt;
        let group = &self.plan.groups[g];
        let (buf, w, wd) = (product(g), weight(g), width(g));
        let inner = dim_tokens(&group.inner);
        let (_, lhs_t) = self.lhs_rows(&group.lhs);
        quote! {
            #rt::gemm_step(&#lhs_t, n_batch, #inner, &#w, #wd, &mut #buf[t * n_batch * #wd..], #rt::lit::<F>(0.0));
        }
    }

    /// The body of `Cell::forward`.
    pub fn forward_body(&self) -> TokenStream {
        let rt = &self.rt;
        let cell = self.cell;
        let name = &cell.name;
        let input_name = &cell.input.name;
        let d_in = dim_tokens(&cell.input.dim);
        let d_out = self.node_dim(cell.output);
        let setup = self.setup();

        let states = cell.states.iter().enumerate().map(|(s, st)| {
            let (buf, delay, d) = (state_buffer(&st.name), st.delay, dim_tokens(&st.dim));
            quote!(let mut #buf: #rt::Buffer<F> = #rt::state_buffer(init, #s, #delay, n_time, n_batch, #d);)
        });
        let weights = self.plan.groups.iter().enumerate().map(|(g, group)| {
            let (w, inner) = (weight(g), dim_tokens(&group.inner));
            let blocks = group.products.iter().map(|p| {
                let (param, row) = (p.param, dim_tokens(&p.row_start));
                quote!((#param, #row))
            });
            // Weights are packed in panels once per sequence, for the hoisted product over all
            // T * B rows and for the per-step products alike.
            quote!(let #w: #rt::Buffer<F> = #rt::pack_panels(&self.params, &[#(#blocks),*], #inner);)
        });
        let products = (0..self.plan.groups.len()).map(|g| {
            let (buf, wd) = (product(g), width(g));
            quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed(n_time * n_batch * #wd);)
        });
        let hoisted = self.plan.groups.iter().enumerate().filter(|(_, g)| g.lhs == Lhs::Input).map(|(g, _)| {
            let (buf, w, wd) = (product(g), weight(g), width(g));
            quote!(#rt::gemm_step(&input, n_time * n_batch, #d_in, &#w, #wd, &mut #buf, #rt::lit::<F>(0.0));)
        });
        let saved_bufs = self.plan.saved.iter().map(|&n| {
            let (buf, d) = (saved(n), self.node_dim(n));
            quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed(n_time * n_batch * #d);)
        });
        let mut stages = TokenStream::new();
        for s in 0..self.plan.n_stages {
            for (g, group) in self.plan.groups.iter().enumerate() {
                if group.stage == Some(s) {
                    stages.extend(self.forward_gemm(g));
                }
            }
            for r in self.plan.reductions.iter().filter(|r| r.stage == s) {
                stages.extend(self.forward_reduction(r.node));
            }
            for (l, lp) in self.plan.loops.iter().enumerate() {
                if lp.stage == s {
                    stages.extend(self.forward_loop(l));
                }
            }
        }
        let freezes = cell.states.iter().map(|st| {
            let (buf, delay, d) = (state_buffer(&st.name), st.delay, dim_tokens(&st.dim));
            quote!(#rt::freeze(&mut #buf, t, #delay, &lengths, #d);)
        });
        let state_refs = cell.states.iter().map(|st| state_buffer(&st.name));
        let buffers = self.trace_buffers();
        quote! {
            #setup
            let (n_time, n_batch) = #rt::check_input(&x, #input_name, #d_in)?;
            let lengths: Vec<usize> = #rt::check_lengths(lengths, n_time, n_batch)?;
            let sizes = <Self as #rt::Cell<F>>::state_sizes(self);
            #rt::check_init(init, <Self as #rt::Cell<F>>::spec(), &sizes, n_batch)?;
            let input: #rt::Buffer<F> = #rt::flatten(&x);
            #(#states)*
            #(#weights)*
            #(#products)*
            #(#hoisted)*
            #(#saved_bufs)*
            let mut output: #rt::Buffer<F> = #rt::Buffer::zeroed(n_time * n_batch * #d_out);
            for t in 0..n_time {
                #stages
                #(#freezes)*
            }
            let final_states = #rt::final_states(<Self as #rt::Cell<F>>::spec(), &[#(&#state_refs[..]),*], &sizes, &lengths);
            Ok(#rt::Forward {
                outputs: #rt::to_array3(output, n_time, n_batch, #d_out),
                final_states,
                trace: #rt::Trace {
                    cell: #name,
                    n_time,
                    n_batch,
                    lengths,
                    dims: dims_vec,
                    buffers: vec![#(#buffers.into_vec()),*],
                },
            })
        }
    }
}
