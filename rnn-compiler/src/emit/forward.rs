//! The forward pass: hoisted input GEMM, then per step the packed GEMMs and fused elementwise
//! loops of each stage, storing exactly what later passes and the backward pass read.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::access::*;
use super::Emitter;
use crate::ast::BinOp;
use std::collections::BTreeSet;

use crate::ir::{NodeId, Op};
use crate::plan::Lhs;

impl Emitter<'_> {
    /// The row of node `n`'s values for example `b` at step `t`, as a slice of exactly `d`
    /// entries (so that the loop over features has no bounds checks and vectorizes). States
    /// written by the current loop are read from `past`, the part of their buffer before row `t`.
    pub(super) fn row_slice(
        &self,
        n: NodeId,
        d: &TokenStream,
        split: &BTreeSet<usize>,
    ) -> TokenStream {
        let node = &self.cell.graph.nodes[n];
        match &node.op {
            Op::Input { delay } => {
                let di = dim_tokens(&self.cell.input.dim);
                let r = self.input_row(*delay);
                quote!(&input[#r * #di..][..#d])
            }
            Op::StatePrev { state, delay } => {
                let st = &self.cell.states[*state];
                let back = st.delay - delay;
                let dd = dim_tokens(&st.dim);
                let buf = if split.contains(state) {
                    state_past(&st.name)
                } else {
                    state_buffer(&st.name)
                };
                quote!(&#buf[((t + #back) * n_batch + b) * #dd..][..#d])
            }
            Op::Param(p) => {
                let id = param(*p);
                quote!(&#id[..#d])
            }
            Op::Mask(m) => {
                let (buf, r) = (mask_buffer(*m), self.mask_row(*m));
                quote!(&#buf[#r * #d..][..#d])
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
                quote!(&#buf[#r * #w + #off..][..#d])
            }
            _ => {
                let (buf, row) = self.location(n);
                quote!(&#buf[#row * #d..][..#d])
            }
        }
    }

    /// `let v{n}: F = ...;`: elementwise node `n` from its operands' values.
    pub(super) fn compute(&self, n: NodeId) -> TokenStream {
        let rt = &self.rt;
        let v = value(n);
        let e = match self.cell.graph.nodes[n].op {
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
                    BinOp::Div => quote!(#a / #c),
                    BinOp::Max => quote!(#rt::maximum(#a, #c)),
                    BinOp::Min => quote!(#rt::minimum(#a, #c)),
                    BinOp::MatMul => unreachable!("`@` is lowered to MatMul"),
                }
            }
            Op::Func(f, a) => {
                let (name, a) = (ident(f.name()), value(a));
                let literals = f.literals().into_iter().map(|v| quote!(#rt::lit::<F>(#v)));
                quote!(#rt::#name(#a #(, #literals)*))
            }
            _ => quote!(),
        };
        quote!(let #v: F = #e;)
    }

    /// One fused elementwise loop of the forward pass: per example, every operand row and every
    /// destination row is cut to exactly the loop's width before the loop over features.
    fn forward_loop(&self, l: usize) -> TokenStream {
        let rt = &self.rt;
        let lp = &self.plan.loops[l];
        let graph = &self.cell.graph;
        let d = dim_tokens(&lp.dim);
        let mut external = BTreeSet::new();
        for &n in &lp.nodes {
            for a in graph.nodes[n].op.operands() {
                if self.plan.loop_of.get(&a) != Some(&l) {
                    external.insert(a);
                }
            }
        }
        // States this loop writes: their buffers are split at the current row.
        let written: BTreeSet<usize> = lp
            .nodes
            .iter()
            .flat_map(|n| self.plan.state_of.get(n).into_iter().flatten().copied())
            .collect();
        let splits = written.iter().map(|&s| {
            let st = &self.cell.states[s];
            let (buf, past, now, delay, dd) = (
                state_buffer(&st.name),
                state_past(&st.name),
                state_now(&st.name),
                st.delay,
                dim_tokens(&st.dim),
            );
            quote!(let (#past, #now) = #buf.split_at_mut((t + #delay) * n_batch * #dd);)
        });
        let mut scalars = vec![];
        let mut rows = vec![];
        let mut loads = vec![];
        for &a in &external {
            let v = value(a);
            if matches!(graph.nodes[a].op, Op::Const(_)) {
                let read = self.read(a, &quote!(j));
                scalars.push(quote!(let #v: F = #read;));
            } else if self.index(a, &lp.dim).to_string() == "0usize" {
                let read = self.read(a, &quote!(0usize));
                scalars.push(quote!(let #v: F = #read;));
            } else {
                let r = row_ident(a);
                let slice = self.row_slice(a, &d, &written);
                rows.push(quote!(let #r: &[F] = #slice;));
                loads.push(quote!(let #v: F = #r[j];));
            }
        }
        let computes = lp.nodes.iter().map(|&n| self.compute(n));
        // Every destination of this loop is one block of `n_batch` rows per step, which splits
        // by example between threads: (block name, its rows in the buffer, row width).
        let mut blocks: Vec<(Ident, TokenStream, TokenStream)> = vec![];
        let mut outs = vec![];
        let mut stores = vec![];
        for &n in &lp.nodes {
            let v = value(n);
            if self.plan.saved.contains(&n) && self.stores_saved(n) {
                let (buf, o, blk) = (saved(n), out_ident(n, "saved"), block_ident(n, "saved"));
                let start = self.step_block();
                blocks.push((
                    blk.clone(),
                    quote!(&mut #buf[#start * #d..][..n_batch * #d]),
                    d.clone(),
                ));
                outs.push(quote!(let #o: &mut [F] = &mut #blk[local * #d..][..#d];));
                stores.push(quote!(#o[j] = #v;));
            }
            for &s in self.plan.state_of.get(&n).into_iter().flatten() {
                let st = &self.cell.states[s];
                let (now, o) = (state_now(&st.name), out_ident(n, &format!("state_{s}")));
                let blk = block_ident(n, &format!("state_{s}"));
                blocks.push((blk.clone(), quote!(&mut #now[..n_batch * #d]), d.clone()));
                outs.push(quote!(let #o: &mut [F] = &mut #blk[local * #d..][..#d];));
                stores.push(quote!(#o[j] = #v;));
            }
            if n == self.cell.output {
                let (o, blk) = (out_ident(n, "output"), block_ident(n, "output"));
                blocks.push((
                    blk.clone(),
                    quote!(&mut output[t * n_batch * #d..][..n_batch * #d]),
                    d.clone(),
                ));
                outs.push(quote!(let #o: &mut [F] = &mut #blk[local * #d..][..#d];));
                stores.push(quote!(#o[j] = #v;));
            }
        }
        let past_views = written.iter().map(|&s| {
            let past = state_past(&self.cell.states[s].name);
            quote!(let #past: &[F] = #past;)
        });
        let block_names: Vec<&Ident> = blocks.iter().map(|(b, _, _)| b).collect();
        let block_defs = blocks
            .iter()
            .map(|(b, e, _)| quote!(let #b: &mut [F] = #e;));
        let firsts: Vec<Ident> = blocks
            .iter()
            .map(|(b, _, _)| format_ident!("{}_first", b))
            .collect();
        let seconds: Vec<Ident> = blocks
            .iter()
            .map(|(b, _, _)| format_ident!("{}_second", b))
            .collect();
        let halves = blocks
            .iter()
            .zip(firsts.iter().zip(&seconds))
            .map(|((b, _, w), (f, s))| quote!(let (#f, #s) = #b.split_at_mut(middle * #w);));
        let body = quote! {
            for b in start..end {
                if t >= lengths[b] {
                    continue;
                }
                let row = t * n_batch + b;
                let local = b - start;
                #(#scalars)*
                #(#rows)*
                #(#outs)*
                for j in 0..#d {
                    #(#loads)*
                    #(#computes)*
                    #(#stores)*
                }
            }
        };
        let pass = super::row_pass(rt, &block_names, body);
        quote! {
            {
                #(#splits)*
                #(#past_views)*
                #(#block_defs)*
                // One example range [start, end) of the loop; `local` indexes the blocks.
                let pass = #pass;
                if #rt::split_examples(n_batch, n_batch * #d) {
                    let middle = n_batch / 2;
                    #(#halves)*
                    #rt::join(|| pass(0, middle, #(#firsts),*), || pass(middle, n_batch, #(#seconds),*));
                } else {
                    pass(0, n_batch, #(#block_names),*);
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
        let r = self.step_row();
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
                #buf[#r] = total * #scale;
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
        let block = if self.product_values_kept(g) {
            quote!((t * n_batch))
        } else {
            quote!(0usize)
        };
        quote! {
            #rt::gemm_step(&#lhs_t, n_batch, #inner, &#w, #wd, &mut #buf[#block * #wd..], #rt::lit::<F>(0.0));
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
        // Masks: drawn (or given) when training, their expectation when inferring.
        let masks = cell.masks.iter().enumerate().map(|(m, mask)| {
            let (buf, d) = (mask_buffer(m), dim_tokens(&mask.dim));
            if self.infer {
                quote!(let #buf: #rt::Buffer<F> = #rt::expected_mask(<Self as #rt::Cell<F>>::spec(), #m, #d);)
            } else {
                quote!(let #buf: #rt::Buffer<F> = #rt::mask_buffer(&mut masks, <Self as #rt::Cell<F>>::spec(), #m, n_time, n_batch, #d)?;)
            }
        });
        let weights = self.plan.groups.iter().enumerate().map(|(g, group)| {
            let (w, inner) = (weight(g), dim_tokens(&group.inner));
            // Weights are packed in panels once per sequence, for the hoisted product over all
            // T * B rows and for the per-step products alike; a group with a transposed weight
            // (`v @ W^T`) says so per block.
            if group.products.iter().any(|p| p.transposed) {
                let blocks = group.products.iter().map(|p| {
                    let (param, row, t) = (p.param, dim_tokens(&p.row_start), p.transposed);
                    quote!((#param, #row, #t))
                });
                quote!(let #w: #rt::Buffer<F> = #rt::pack_panels_transposed(&self.params, &[#(#blocks),*], #inner);)
            } else {
                let blocks = group.products.iter().map(|p| {
                    let (param, row) = (p.param, dim_tokens(&p.row_start));
                    quote!((#param, #row))
                });
                quote!(let #w: #rt::Buffer<F> = #rt::pack_panels(&self.params, &[#(#blocks),*], #inner);)
            }
        });
        let products = (0..self.plan.groups.len()).map(|g| {
            let (buf, wd) = (product(g), width(g));
            // The hoisted product spans every step; a per-step product is kept for every step
            // only if the backward pass reads it.
            let rows = if self.hoisted(g) {
                self.input_rows()
            } else if self.product_values_kept(g) {
                quote!((n_time * n_batch))
            } else {
                quote!(n_batch)
            };
            // Every row is written by a product with `beta = 0` (all steps at once, or each step's
            // block at that step) before anything reads it: no zeroing needed.
            quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::for_overwrite(#rows * #wd);)
        });
        let hoisted = self.plan.groups.iter().enumerate().filter(|(_, g)| g.lhs == Lhs::Input).map(|(g, _)| {
            let (buf, w, wd) = (product(g), weight(g), width(g));
            let rows = self.input_rows();
            quote!(#rt::gemm_step(&input, #rows, #d_in, &#w, #wd, &mut #buf, #rt::lit::<F>(0.0));)
        });
        let rows = self.step_rows();
        let saved_bufs = self
            .plan
            .saved
            .iter()
            .filter(|&&n| self.stores_saved(n))
            .map(|&n| {
                let (buf, d) = (saved(n), self.node_dim(n));
                quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed(#rows * #d);)
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
        let result = if self.infer {
            quote! {
                Ok(#rt::Inference { outputs: #rt::to_array3(output, n_time, n_batch, #d_out), final_states })
            }
        } else {
            quote! {
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
                        params: #rt::trace_params(&self.params),
                    },
                })
            }
        };
        let check_masks = if self.infer {
            quote!()
        } else {
            let sizes = cell.masks.iter().map(|m| dim_tokens(&m.dim));
            quote!(#rt::check_masks(&masks, <Self as #rt::Cell<F>>::spec(), &[#(#sizes),*], n_time, n_batch)?;)
        };
        let input_buffer = match self.input_delay() {
            0 => quote!(#rt::flatten(&x)),
            k => quote!(#rt::input_with_history(&x, init, #k)),
        };
        quote! {
            #setup
            let (n_time, n_batch) = #rt::check_input(&x, #input_name, #d_in)?;
            let lengths: Vec<usize> = #rt::check_lengths(lengths, n_time, n_batch)?;
            let sizes = <Self as #rt::Cell<F>>::state_sizes(self);
            #rt::check_init(init, <Self as #rt::Cell<F>>::spec(), #d_in, &sizes, n_batch)?;
            #rt::check_params(&self.params)?;
            #check_masks
            let input: #rt::Buffer<F> = #input_buffer;
            #(#states)*
            #(#masks)*
            #(#weights)*
            #(#products)*
            #(#hoisted)*
            #(#saved_bufs)*
            let mut output: #rt::Buffer<F> = #rt::Buffer::unpooled(n_time * n_batch * #d_out);
            for t in 0..n_time {
                #stages
                #(#freezes)*
            }
            let final_states = #rt::final_states(<Self as #rt::Cell<F>>::spec(), &[#(&#state_refs[..]),*], &sizes, &lengths, &input, #d_in);
            #result
        }
    }
}
