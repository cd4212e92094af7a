//! The backward pass: per step in reverse, the fused adjoint loops of each stage (the derived
//! partials, reading saved forward values) and the adjoint GEMMs of the step's products; after
//! the time loop, every weight gradient and the input gradient as a few large GEMMs.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::access::*;
use super::Emitter;
use crate::diff::DExpr;
use crate::ir::{NodeId, Op};
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
            DExpr::Call(f, args) => {
                let f = ident(f);
                let args = args.iter().map(|a| self.dexpr(a));
                quote!(#rt::#f(#(#args),*))
            }
        }
    }

    /// One fused adjoint loop: the loop's nodes in reverse, each passing its adjoint to its
    /// operands through the derived partials. Operand rows are cut to exact widths; the
    /// destinations of the adjoints of values computed elsewhere are blocks of `n_batch` rows
    /// (parameter gradients: one accumulator per thread), so the examples split between two
    /// threads like the forward loops.
    fn backward_loop(&self, l: usize) -> TokenStream {
        let rt = &self.rt;
        let lp = &self.plan.loops[l];
        let graph = &self.cell.graph;
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
        let none = BTreeSet::new();
        let broadcast = |n: NodeId| self.index(n, &lp.dim).to_string() == "0usize";
        // Per example: values the partials read (scalars, or rows cut to width `d`).
        let mut pre = vec![];
        let mut loads = vec![];
        // Values recomputed from the masks, with every operand they need, in topological order.
        let mut recompute = BTreeSet::new();
        let mut stack: Vec<NodeId> = values
            .iter()
            .copied()
            .filter(|n| self.plan.recomputed.contains(n))
            .collect();
        while let Some(n) = stack.pop() {
            if recompute.insert(n) {
                stack.extend(graph.nodes[n].op.operands().into_iter().filter(|&a| {
                    graph.nodes[a].op.is_elementwise() && !self.plan.saved.contains(&a)
                }));
            }
        }
        for &n in &recompute {
            values.remove(&n);
            values.extend(
                graph.nodes[n]
                    .op
                    .operands()
                    .into_iter()
                    .filter(|a| !recompute.contains(a)),
            );
        }
        let recomputes: Vec<TokenStream> = recompute.iter().map(|&n| self.compute(n)).collect();
        for &n in &values {
            let v = value(n);
            if matches!(graph.nodes[n].op, Op::Const(_)) || broadcast(n) {
                let read = self.read(n, &quote!(0usize));
                pre.push(quote!(let #v: F = #read;));
            } else {
                let r = row_ident(n);
                let slice = self.row_slice(n, &d, &none);
                pre.push(quote!(let #r: &[F] = #slice;));
                loads.push(quote!(let #v: F = #r[j];));
            }
        }
        // State adjoints touched here are split at the current step's row: seeds read the
        // current row, `h[t-k]` sends its adjoint to earlier rows.
        let mut touched: BTreeSet<usize> = BTreeSet::new();
        for &n in &lp.nodes {
            touched.extend(self.plan.state_of.get(&n).into_iter().flatten().copied());
        }
        let mut past_flushes: BTreeMap<usize, usize> = BTreeMap::new();
        for &n in &external {
            if let Op::StatePrev { state, .. } = graph.nodes[n].op {
                touched.insert(state);
                *past_flushes.entry(state).or_default() += 1;
            }
        }
        let mut step = vec![];
        for &s in &touched {
            let st = &self.cell.states[s];
            let (buf, past, now, delay, dd) = (
                state_adjoint(&st.name),
                state_past(&format!("d_{}", st.name)),
                state_now(&format!("d_{}", st.name)),
                st.delay,
                dim_tokens(&st.dim),
            );
            step.push(quote! {
                let (#past, #now) = #buf.split_at_mut((t + #delay) * n_batch * #dd);
                let #now: &[F] = #now;
            });
        }
        let seeds: Vec<TokenStream> = lp
            .nodes
            .iter()
            .map(|&n| {
                let a = adjoint(n);
                let mut terms = vec![];
                for &s in self.plan.state_of.get(&n).into_iter().flatten() {
                    let st = &self.cell.states[s];
                    let now = state_now(&format!("d_{}", st.name));
                    let r = format_ident!("seed_state_{}_{}", s, n);
                    pre.push(quote!(let #r: &[F] = &#now[b * #d..][..#d];));
                    terms.push(quote!(#r[j]));
                }
                if n == self.cell.output {
                    let r = format_ident!("seed_output_{}", n);
                    pre.push(quote!(let #r: &[F] = &d_output[row * #d..][..#d];));
                    terms.push(quote!(#r[j]));
                }
                if self.plan.adjoint_buffers.contains(&n) {
                    let (buf, r) = (adjoint_buffer(n), format_ident!("seed_adj_{}", n));
                    pre.push(quote!(let #r: &[F] = &#buf[b * #d..][..#d];));
                    terms.push(quote!(#r[j]));
                }
                if terms.is_empty() {
                    terms.push(zero.clone());
                }
                quote!(let mut #a: F = #(#terms)+*;)
            })
            .collect();
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

        // Destination blocks: (name, definition, how it splits between two threads).
        let mut blocks: Vec<(Ident, TokenStream, TokenStream)> = vec![];
        let mut threadable = true;
        let mut flushes = vec![];
        let mut group_rows: BTreeMap<usize, Vec<(usize, NodeId)>> = BTreeMap::new();
        for &n in &external {
            if let Op::MatMul { .. } = graph.nodes[n].op {
                let (g, i) = self.plan.product_of[&n];
                group_rows.entry(g).or_default().push((i, n));
            }
        }
        for (&g, used) in &group_rows {
            let group = &self.plan.groups[g];
            if used.iter().any(|&(i, _)| group.products[i].delay > 0) {
                // Rows of several steps of one buffer: written in place, on one thread.
                threadable = false;
                for &(_, n) in used {
                    flushes.push(self.accumulate(n, &self.index(n, &lp.dim)));
                }
                continue;
            }
            let (buf, w) = (product_adjoint(g), width(g));
            let blk = format_ident!("block_d_product_{}", g);
            // The hoisted products' rows start after the input history's `K` steps.
            let first = match self.input_delay() {
                k if k > 0 && self.hoisted(g) => quote!(((t + #k) * n_batch)),
                _ => quote!((t * n_batch)),
            };
            blocks.push((
                blk.clone(),
                quote!(&mut #buf[#first * #w..][..n_batch * #w]),
                quote!(middle * #w),
            ));
            let rest = format_ident!("d_product_row_{}", g);
            pre.push(quote!(let #rest: &mut [F] = &mut #blk[local * #w..][..#w];));
            for (i, p) in group.products.iter().enumerate() {
                let part = format_ident!("d_product_{}_{}", g, i);
                let next = format_ident!("d_product_rest_{}_{}", g, i);
                let pw = dim_tokens(&p.width);
                let prev = if i == 0 {
                    rest.clone()
                } else {
                    format_ident!("d_product_rest_{}_{}", g, i - 1)
                };
                pre.push(quote!(let (#part, #next) = #prev.split_at_mut(#pw);));
                if let Some(&(_, n)) = used.iter().find(|&&(k, _)| k == i) {
                    let (o, a, j) = (out_ident(n, "d"), adjoint(n), self.index(n, &lp.dim));
                    pre.push(quote!(let #o: &mut [F] = #part;));
                    flushes.push(quote!(#o[#j] += #a;));
                }
            }
        }
        for (s, &count) in &past_flushes {
            if count > 1 {
                // Several delays of one state: rows of several steps, written in place.
                threadable = false;
                let past = state_past(&format!("d_{}", self.cell.states[*s].name));
                blocks.push((past.clone(), quote!(#past), quote!(0usize)));
            }
        }
        for &n in &external {
            let (a, j, o) = (adjoint(n), self.index(n, &lp.dim), out_ident(n, "d"));
            let nd = self.node_dim(n);
            match graph.nodes[n].op {
                Op::MatMul { .. } => {}
                Op::StatePrev { state, delay } if past_flushes.get(&state) == Some(&1) => {
                    let st = &self.cell.states[state];
                    let past = state_past(&format!("d_{}", st.name));
                    let back = st.delay - delay;
                    let blk = format_ident!("block_d_state_{}", n);
                    blocks.push((
                        blk.clone(),
                        quote!(&mut #past[(t + #back) * n_batch * #nd..][..n_batch * #nd]),
                        quote!(middle * #nd),
                    ));
                    pre.push(quote!(let #o: &mut [F] = &mut #blk[local * #nd..][..#nd];));
                    flushes.push(quote!(#o[#j] += #a;));
                }
                Op::StatePrev { state, delay } => {
                    let st = &self.cell.states[state];
                    let past = state_past(&format!("d_{}", st.name));
                    let back = st.delay - delay;
                    flushes.push(quote!(#past[((t + #back) * n_batch + b) * #nd + #j] += #a;));
                }
                Op::Param(p) => {
                    // One accumulator per thread: the buffer holds two, summed at the end.
                    let (buf, blk) = (param_grad(p), format_ident!("block_d_param_{}", p));
                    blocks.push((blk.clone(), quote!(&mut #buf[..]), quote!(#nd)));
                    pre.push(quote!(let #o: &mut [F] = &mut #blk[..#nd];));
                    flushes.push(quote!(#o[#j] += #a;));
                }
                ref op if op.is_elementwise() || matches!(op, Op::Reduce(..)) => {
                    let (buf, blk) = (adjoint_buffer(n), format_ident!("block_adj_{}", n));
                    blocks.push((
                        blk.clone(),
                        quote!(&mut #buf[..n_batch * #nd]),
                        quote!(middle * #nd),
                    ));
                    pre.push(quote!(let #o: &mut [F] = &mut #blk[local * #nd..][..#nd];));
                    flushes.push(quote!(#o[#j] += #a;));
                }
                Op::Input { .. } => {
                    threadable = false;
                    flushes.push(self.accumulate(n, &j));
                }
                Op::Const(_) | Op::Mask(_) | Op::Reduce(..) => {}
                Op::Neg(_) | Op::Binary(..) | Op::Func(..) | Op::Copy(_) => {}
            }
        }
        let block_names: Vec<&Ident> = blocks.iter().map(|(b, _, _)| b).collect();
        let block_defs: Vec<TokenStream> = blocks
            .iter()
            .map(|(b, e, _)| quote!(let #b: &mut [F] = #e;))
            .collect();
        let body = quote! {
            for b in start..end {
                if t >= lengths[b] {
                    continue;
                }
                let row = t * n_batch + b;
                let local = b - start;
                #(#pre)*
                for j in 0..#d {
                    #(#loads)*
                    #(#recomputes)*
                    #(#seeds)*
                    #(#externals)*
                    #(#chain)*
                    #(#flushes)*
                }
            }
        };
        if !threadable {
            return quote! {
                {
                    #(#step)*
                    #(#block_defs)*
                    let start = 0usize;
                    let end = n_batch;
                    #body
                }
            };
        }
        // Not through `vectorized`: inlined there, the read-modify-write of the product adjoints
        // (four gates of one row) was not vectorized; the whole backward pass is compiled per
        // instruction set instead (see `passes`).
        let pass = quote!(|start: usize, end: usize, #(#block_names: &mut [F]),*| { #body });
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
            .map(|((b, _, at), (f, s))| quote!(let (#f, #s) = #b.split_at_mut(#at);));
        quote! {
            {
                #(#step)*
                #(#block_defs)*
                let pass = #pass;
                // The examples split in two halves whether or not a second thread runs them, so
                // that the per-half parameter-gradient sums (and so every result) do not depend
                // on the number of threads.
                let middle = n_batch / 2;
                #(#halves)*
                if #rt::split_examples(n_batch, n_batch * #d) {
                    #rt::join(|| pass(0, middle, #(#firsts),*), || pass(middle, n_batch, #(#seconds),*));
                } else {
                    pass(0, middle, #(#firsts),*);
                    pass(middle, n_batch, #(#seconds),*);
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
            // A function of masks and literals alone (`(1 - m) @ U`) has no adjoint.
            Lhs::Node(n) if crate::simplify::constants(&self.cell.graph)[*n] => return quote!(),
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
            let rows = if self.hoisted(g) {
                self.input_rows()
            } else {
                quote!((n_time * n_batch))
            };
            quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed(#rows * #wd);)
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
            quote!(let mut #buf: #rt::Buffer<F> = #rt::Buffer::zeroed(2 * #d);)
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
            let rows = if group.lhs == Lhs::Input {
                self.input_rows()
            } else {
                quote!((n_time * n_batch))
            };
            let input_grad = if group.lhs == Lhs::Input {
                quote!(#rt::gemm_step(&#dbuf, #rows, #wd, &#wt, #d_in, &mut d_input, #rt::lit::<F>(1.0));)
            } else {
                quote!()
            };
            let unpack = group.products.iter().enumerate().map(|(i, p)| {
                let (param, off, row) = (p.param, offset(g, i), dim_tokens(&p.row_start));
                if p.transposed {
                    quote!(#rt::unpack_add_transposed(&mut grads, #param, #row, &#dw, #inner, #wd, #off);)
                } else {
                    quote!(#rt::unpack_add(&mut grads, #param, #row, &#dw, #inner, #wd, #off);)
                }
            });
            quote! {
                let mut #dw: #rt::Buffer<F> = #rt::Buffer::zeroed(#inner * #wd);
                #rt::gemm_tn(&#lhs_all, #rows, #inner, &#dbuf, #wd, &mut #dw);
                #(#unpack)*
                #input_grad
            }
        });
        let vector_grads = self.plan.vector_params.iter().map(|&p| {
            let (buf, d) = (param_grad(p), self.param_len(p));
            quote! {
                #rt::add_vector(&mut grads, #p, &#buf[..#d]);
                #rt::add_vector(&mut grads, #p, &#buf[#d..]);
            }
        });
        let state_adjoint_refs = cell.states.iter().map(|st| state_adjoint(&st.name));
        let input_rows = self.input_rows();
        let (inject_inputs, input_grads) = match self.input_delay() {
            0 => (
                quote!(),
                quote!(#rt::to_array3(d_input, n_time, n_batch, #d_in)),
            ),
            k => (
                quote!(#rt::inject_final_inputs(&mut d_input, d_final, #k, #d_in, lengths);),
                quote!(#rt::input_grads(d_input, #k, n_time, n_batch, #d_in)),
            ),
        };
        quote! {
            #setup
            let trace = &forward.trace;
            #rt::check_trace(trace, #name, &dims_vec, #n_buffers, &self.params)?;
            let (n_time, n_batch) = (trace.n_time, trace.n_batch);
            let lengths: &[usize] = &trace.lengths;
            let sizes = <Self as #rt::Cell<F>>::state_sizes(self);
            let d_output: #rt::Buffer<F> = #rt::check_seq_grad(&d_outputs, "output gradient", n_time, n_batch, #d_out)?;
            #rt::check_final_grads(d_final, <Self as #rt::Cell<F>>::spec(), #d_in, &sizes, n_batch)?;
            #(#bind)*
            let mut d_input: #rt::Buffer<F> = #rt::Buffer::unpooled(#input_rows * #d_in);
            #inject_inputs
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
            let initial_states = #rt::initial_grads(<Self as #rt::Cell<F>>::spec(), &[#(&#state_adjoint_refs[..]),*], &sizes, n_batch, &d_input, #d_in);
            Ok(#rt::Gradients {
                params: grads,
                inputs: #input_grads,
                initial_states,
            })
        }
    }
}
