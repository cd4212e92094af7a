//! Plan -> Rust tokens: the cell's type, its dimensions, typed parameter accessors and the
//! `Cell` implementation whose forward and backward passes follow the plan.

mod access;
mod backward;
mod forward;
mod step;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::ast::Vis;
use crate::diff::Partial;
use crate::ir::{CellIr, InitIr};
use crate::plan::Plan;
use crate::shape::Shape;
use access::*;

/// What the emitter reads.
#[derive(Clone)]
pub struct Emitter<'a> {
    cell: &'a CellIr,
    plan: &'a Plan,
    partials: &'a [Vec<Partial>],
    /// Path of the runtime's private support module.
    rt: TokenStream,
    /// Emitting the inference pass: per-step values live in `[B, ...]` buffers reused at every
    /// step instead of `[T, B, ...]` buffers kept for the backward pass.
    infer: bool,
}

/// `pub`, `pub(crate)`, ...
pub fn visibility(vis: Vis) -> TokenStream {
    match vis {
        Vis::Private => quote!(),
        Vis::Pub => quote!(pub),
        Vis::PubCrate => quote!(pub(crate)),
        Vis::PubSuper => quote!(pub(super)),
    }
}

/// Emits the cell. `name_span` is the span of the cell's name in the user's code; `runtime` is
/// the path of the runtime's private support module (`::recurrent::__private`).
pub fn emit(
    cell: &CellIr,
    plan: &Plan,
    partials: &[Vec<Partial>],
    name_span: Span,
    runtime: TokenStream,
) -> TokenStream {
    let e = Emitter {
        cell,
        plan,
        partials,
        rt: runtime,
        infer: false,
    };
    e.items(name_span)
}

impl Emitter<'_> {
    /// Number of entries of parameter `p`, as a `usize` expression.
    fn param_len(&self, p: usize) -> TokenStream {
        match &self.cell.params[p].shape {
            Shape::Vector(d) => dim_tokens(d),
            Shape::Matrix(a, b) => {
                let (a, b) = (dim_tokens(a), dim_tokens(b));
                quote!(#a * #b)
            }
            _ => quote!(0usize),
        }
    }

    /// Locals shared by forward and backward: dimensions, group widths and offsets, vector
    /// parameters as slices.
    fn setup(&self) -> TokenStream {
        let dims = self.cell.dims.iter().map(|d| {
            let (local, field) = (dim_ident(d), ident(d));
            quote!(let #local: usize = self.dims.#field;)
        });
        let dim_locals = self.cell.dims.iter().map(|d| dim_ident(d));
        let groups = self.plan.groups.iter().enumerate().map(|(g, group)| {
            let wd = width(g);
            // Each offset is the previous one plus the previous width, so that a group of
            // hundreds of products has a linear (not quadratic) setup.
            let offsets = group.products.iter().enumerate().map(|(i, _)| {
                let off = offset(g, i);
                let value = match i.checked_sub(1) {
                    None => quote!(0usize),
                    Some(0) => dim_tokens(&group.products[0].width),
                    Some(k) => {
                        let (prev, w) = (offset(g, k), dim_tokens(&group.products[k].width));
                        quote!(#prev + #w)
                    }
                };
                quote!(let #off: usize = #value;)
            });
            let offsets: Vec<TokenStream> = offsets.collect();
            let widths = group.products.iter().map(|p| dim_tokens(&p.width));
            quote! {
                #(#offsets)*
                let #wd: usize = #(#widths)+*;
            }
        });
        let params = self.plan.vector_params.iter().map(|&p| {
            let id = param(p);
            quote!(let #id: &[F] = self.params.slice(#p);)
        });
        quote! {
            #(#dims)*
            let dims_vec: Vec<usize> = vec![#(#dim_locals),*];
            #(#groups)*
            #(#params)*
        }
    }

    /// The buffers a forward pass hands to the backward pass, in order.
    fn trace_buffers(&self) -> Vec<Ident> {
        let mut v = vec![format_ident!("input")];
        v.extend(self.cell.states.iter().map(|s| state_buffer(&s.name)));
        v.extend((0..self.cell.masks.len()).map(mask_buffer));
        v.extend((0..self.plan.groups.len()).map(product));
        v.extend(self.plan.saved.iter().map(|&n| saved(n)));
        v.extend((0..self.plan.groups.len()).map(weight));
        v
    }

    fn docs(&self) -> Vec<String> {
        let cell = self.cell;
        let mut docs: Vec<String> = cell.docs.clone();
        if !docs.is_empty() {
            docs.push(String::new());
        }
        docs.push(" # Equations".into());
        docs.push(String::new());
        docs.push(" ```text".into());
        docs.push(format!(" input {}: [{}];", cell.input.name, cell.input.dim));
        for s in &cell.states {
            docs.push(format!(" state {}: [{}];", s.name, s.dim));
        }
        for p in &cell.params {
            let init = p
                .init
                .source_text()
                .map_or_else(String::new, |i| format!(" = {i}"));
            docs.push(format!(" param {}: {}{init};", p.name, p.shape));
        }
        for m in &cell.masks {
            docs.push(format!(
                " mask {}: [{}] = {};",
                m.name,
                m.dim,
                m.distribution()
            ));
        }
        docs.push(String::new());
        docs.extend(cell.equations.iter().map(|e| format!(" {e}")));
        docs.push(format!(" output {};", cell.output_text));
        docs.push(" ```".into());
        docs.push(String::new());
        docs.push(" # Backward (derived by the compiler)".into());
        docs.push(String::new());
        docs.push(
            " Per step, from `t = T-1` down to `0`; `δv` is the gradient of the loss with respect \
             to `v`, `⊙` is elementwise, and each weight gradient sums over every step and example."
                .into(),
        );
        docs.push(String::new());
        docs.push(" ```text".into());
        docs.extend(
            crate::explain::adjoint_equations(self.cell, self.partials, self.plan)
                .into_iter()
                .map(|l| format!(" {l}")),
        );
        docs.push(" ```".into());
        docs.push(String::new());
        docs.push(" # Shapes".into());
        docs.push(String::new());
        docs.push(format!(
            " Sequences are time-major: input `[T, B, {}]`, output `[T, B, {}]`. Parameters use the \
             `[in, out]` layout of the equations (`x[t] @ W`).",
            cell.input.dim,
            match &cell.graph.nodes[cell.output].shape {
                Shape::Vector(d) => d.to_string(),
                _ => "?".into(),
            }
        ));
        docs
    }

    fn items(&self, name_span: Span) -> TokenStream {
        let rt = &self.rt;
        let cell = self.cell;
        let vis = visibility(cell.vis);
        let name = Ident::new(&cell.name, name_span);
        let dims_name = format_ident!("{}Dims", cell.name, span = name_span);
        let name_str = &cell.name;
        let docs = self.docs();
        let dims_doc = format!(" The named dimensions of [`{}`].", cell.name);
        let dim_fields = cell.dims.iter().map(|d| {
            let f = ident(d);
            let doc = format!(" Size of `{d}`.");
            quote!(#[doc = #doc] pub #f: usize)
        });
        let dim_names = &cell.dims;
        let dims_str = format!("{}Dims", cell.name);
        let dim_idents: Vec<Ident> = cell.dims.iter().map(|d| ident(d)).collect();
        let dim_indices = 0..cell.dims.len();
        let states_name = format_ident!("{}States", cell.name, span = name_span);
        let states_mut_name = format_ident!("{}StatesMut", cell.name, span = name_span);
        let state_idents: Vec<Ident> = cell.states.iter().map(|s| ident(&s.name)).collect();
        let state_docs: Vec<String> = cell
            .states
            .iter()
            .map(|s| {
                let history = match s.delay {
                    1 => String::new(),
                    2 => format!(
                        " and its history `{}[t-2]` (one entry `[B, {}]`)",
                        s.name, s.dim
                    ),
                    d => format!(
                        " and its history `{0}[t-2]` .. `{0}[t-{d}]` ({1} entries `[B, {2}]`, most \
                         recent first)",
                        s.name,
                        d - 1,
                        s.dim
                    ),
                };
                format!(
                    " State `{}: [{}]`: its value `[B, {}]`{history}.",
                    s.name, s.dim, s.dim
                )
            })
            .collect();
        let states_doc = format!(
            " Typed views of the states of a [`{0}`] (`States` from `{0}::zero_states`, a forward \
             pass's `final_states`, a gradient's `initial_states`): one field per state, each a \
             `StateView` that dereferences to the value `[B, size]`. The input history is \
             `States::input_history`.",
            cell.name
        );
        let states_mut_doc = format!(
            " Typed views of the states of a [`{0}`], mutably: one field per state, each a \
             `StateViewMut` that dereferences to the value `[B, size]`.",
            cell.name
        );
        let of_doc = format!(
            " The states of a `{0}`, by field. Errors when `states` are those of another cell (or \
             were built with the wrong number of arrays).",
            cell.name
        );

        // Static spec.
        let state_specs = cell.states.iter().map(|s| {
            let (n, shape, delay) = (&s.name, format!("[{}]", s.dim), s.delay);
            quote!(#rt::StateSpec { name: #n, shape: #shape, delay: #delay })
        });
        let param_specs = cell.params.iter().map(|p| {
            let (n, shape) = (&p.name, p.shape.to_string());
            let init = match p.init {
                InitIr::Default => quote!(#rt::Init::Default),
                InitIr::Constant(v) => {
                    let v = float(v);
                    quote!(#rt::Init::Constant(#v))
                }
                InitIr::Zeros => quote!(#rt::Init::Zeros),
                InitIr::Ones => quote!(#rt::Init::Ones),
                InitIr::Uniform(a) => {
                    let a = float(a);
                    quote!(#rt::Init::Uniform(#a))
                }
                InitIr::Xavier => quote!(#rt::Init::Xavier),
                InitIr::Orthogonal => quote!(#rt::Init::Orthogonal),
            };
            quote!(#rt::ParamSpec { name: #n, shape: #shape, init: #init })
        });
        let mask_specs = cell.masks.iter().map(|m| {
            let (n, shape, p, per_step) = (&m.name, format!("[{}]", m.dim), float(m.p), m.per_step);
            quote!(#rt::MaskSpec { name: #n, shape: #shape, p: #p, per_step: #per_step })
        });
        let (step_items, step_spec) = self.step_spec();
        let input_spec = (&cell.input.name, format!("[{}]", cell.input.dim));
        let input_delay = self.input_delay();
        let (input_name, input_shape) = input_spec;
        let output_text = &cell.output_text;
        let equations = cell.equations.join("\n");

        let shapes = cell.params.iter().map(|p| match &p.shape {
            Shape::Vector(d) => {
                let d = dim_tokens(d);
                quote!(vec![#d])
            }
            Shape::Matrix(a, b) => {
                let (a, b) = (dim_tokens(a), dim_tokens(b));
                quote!(vec![#a, #b])
            }
            _ => quote!(vec![]),
        });
        let dims_setup = cell.dims.iter().map(|d| {
            let (local, field) = (dim_ident(d), ident(d));
            quote!(let #local: usize = dims.#field;)
        });
        let dims_setup2 = dims_setup.clone();
        let accessors = cell.params.iter().enumerate().map(|(i, p)| {
            let get = ident(&p.name);
            let set = format_ident!("{}_mut", p.name);
            let doc = format!(" Parameter `{}: {}`.", p.name, p.shape);
            let doc_mut = format!(" Parameter `{}: {}`, mutably.", p.name, p.shape);
            let extra: Vec<String> = p.docs.clone();
            match p.shape {
                Shape::Matrix(..) => quote! {
                    #[doc = #doc] #(#[doc = #extra])*
                    pub fn #get(&self) -> #rt::ArrayView2<'_, F> { #rt::matrix(&self.params, #i) }
                    #[doc = #doc_mut]
                    pub fn #set(&mut self) -> #rt::ArrayViewMut2<'_, F> { #rt::matrix_mut(&mut self.params, #i) }
                },
                _ => quote! {
                    #[doc = #doc] #(#[doc = #extra])*
                    pub fn #get(&self) -> #rt::ArrayView1<'_, F> { #rt::vector(&self.params, #i) }
                    #[doc = #doc_mut]
                    pub fn #set(&mut self) -> #rt::ArrayViewMut1<'_, F> { #rt::vector_mut(&mut self.params, #i) }
                },
            }
        });
        let state_sizes = cell.states.iter().map(|s| dim_tokens(&s.dim));
        let input_size = dim_tokens(&cell.input.dim);
        let output_size = self.node_dim(cell.output);
        let dims_setup3 = dims_setup.clone();
        let dims_setup4 = dims_setup.clone();
        let forward = self.forward_body();
        let infer = Emitter {
            infer: true,
            ..self.clone()
        }
        .forward_body();
        let backward = self.backward_body();
        let passes = passes(rt, &forward, &infer, &backward);

        quote! {
            #(#[doc = #docs])*
            #[derive(Debug, Clone)]
            #vis struct #name<F = f32> {
                dims: #dims_name,
                params: #rt::ParamSet<F>,
            }

            #[doc = #dims_doc]
            #[allow(non_snake_case)]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            #vis struct #dims_name {
                #(#dim_fields,)*
            }

            #[allow(non_snake_case, unused_variables, clippy::all)]
            impl #rt::CellDims for #dims_name {
                fn names() -> &'static [&'static str] {
                    &[#(#dim_names),*]
                }

                fn from_names(sizes: &[(&str, usize)]) -> #rt::Result<Self> {
                    let values = #rt::dims_from_names(#dims_str, <Self as #rt::CellDims>::names(), sizes)?;
                    Ok(Self { #(#dim_idents: values[#dim_indices],)* })
                }

                fn values(&self) -> Vec<usize> {
                    vec![#(self.#dim_idents),*]
                }
            }

            #[doc = #states_doc]
            #[allow(non_snake_case)]
            #[derive(Debug, Clone)]
            #vis struct #states_name<'a, F = f32> {
                #(#[doc = #state_docs] pub #state_idents: #rt::StateView<'a, F>,)*
            }

            #[allow(non_snake_case, clippy::all)]
            impl<'a, F: #rt::Float> #states_name<'a, F> {
                #[doc = #of_doc]
                pub fn of(states: &'a #rt::States<F>) -> #rt::Result<Self> {
                    let mut views = #rt::state_views(states, <#name<F> as #rt::Cell<F>>::spec())?.into_iter();
                    Ok(Self { #(#state_idents: #rt::next_view(&mut views)?,)* })
                }
            }

            #[doc = #states_mut_doc]
            #[allow(non_snake_case)]
            #[derive(Debug)]
            #vis struct #states_mut_name<'a, F = f32> {
                #(#[doc = #state_docs] pub #state_idents: #rt::StateViewMut<'a, F>,)*
            }

            #[allow(non_snake_case, clippy::all)]
            impl<'a, F: #rt::Float> #states_mut_name<'a, F> {
                #[doc = #of_doc]
                pub fn of(states: &'a mut #rt::States<F>) -> #rt::Result<Self> {
                    let mut views = #rt::state_views_mut(states, <#name<F> as #rt::Cell<F>>::spec())?.into_iter();
                    Ok(Self { #(#state_idents: #rt::next_view(&mut views)?,)* })
                }
            }

            #[allow(non_snake_case, dead_code)]
            impl<F: #rt::Float> #name<F> {
                /// A cell with every parameter drawn by the spec's initializers from `rng`.
                pub fn new(dims: #dims_name, rng: &mut dyn #rt::Rng) -> Self {
                    <Self as #rt::Cell<F>>::new(dims, rng)
                }

                /// A cell with every parameter zero.
                pub fn zeros(dims: #dims_name) -> Self {
                    <Self as #rt::Cell<F>>::zeros(dims)
                }

                // The methods of the runtime's `Cell` trait, also as inherent methods: a user who
                // imports both `Cell` and `DynCell` (which every cell implements too) calls
                // `cell.forward(..)` without ambiguity, and one who imports neither still can.

                /// Runs the cell over `x: [T, B, I]` (see `Cell::forward`).
                pub fn forward(
                    &self,
                    x: #rt::ArrayView3<'_, F>,
                    init: ::core::option::Option<&#rt::States<F>>,
                    lengths: ::core::option::Option<&[usize]>,
                ) -> #rt::Result<#rt::Forward<F>> {
                    <Self as #rt::Cell<F>>::forward(self, x, init, lengths)
                }

                /// The forward pass of training: every random mask drawn from `rng` (see
                /// `Cell::forward_train`).
                pub fn forward_train(
                    &self,
                    x: #rt::ArrayView3<'_, F>,
                    init: ::core::option::Option<&#rt::States<F>>,
                    lengths: ::core::option::Option<&[usize]>,
                    rng: &mut dyn #rt::Rng,
                ) -> #rt::Result<#rt::Forward<F>> {
                    <Self as #rt::Cell<F>>::forward_train(self, x, init, lengths, rng)
                }

                /// The forward pass with the random masks expected, drawn or given (see
                /// `Cell::forward_masked`).
                pub fn forward_masked(
                    &self,
                    x: #rt::ArrayView3<'_, F>,
                    init: ::core::option::Option<&#rt::States<F>>,
                    lengths: ::core::option::Option<&[usize]>,
                    masks: #rt::Masks<'_, F>,
                ) -> #rt::Result<#rt::Forward<F>> {
                    <Self as #rt::Cell<F>>::forward_masked(self, x, init, lengths, masks)
                }

                /// The forward pass without a trace (see `Cell::infer`).
                pub fn infer(
                    &self,
                    x: #rt::ArrayView3<'_, F>,
                    init: ::core::option::Option<&#rt::States<F>>,
                    lengths: ::core::option::Option<&[usize]>,
                ) -> #rt::Result<#rt::Inference<F>> {
                    <Self as #rt::Cell<F>>::infer(self, x, init, lengths)
                }

                /// Back-propagates through time (see `Cell::backward`).
                pub fn backward(
                    &self,
                    forward: &#rt::Forward<F>,
                    d_outputs: #rt::ArrayView3<'_, F>,
                    d_final: ::core::option::Option<&#rt::States<F>>,
                ) -> #rt::Result<#rt::Gradients<F>> {
                    <Self as #rt::Cell<F>>::backward(self, forward, d_outputs, d_final)
                }

                /// One step from `x: [B, I]` and the current states (see `Cell::step`).
                pub fn step(
                    &self,
                    x: #rt::ArrayView2<'_, F>,
                    states: &#rt::States<F>,
                ) -> #rt::Result<(#rt::Array2<F>, #rt::States<F>)> {
                    <Self as #rt::Cell<F>>::step(self, x, states)
                }

                /// The parameters, by the spec's names.
                pub fn params(&self) -> &#rt::ParamSet<F> {
                    &self.params
                }

                /// The parameters, mutably.
                pub fn params_mut(&mut self) -> &mut #rt::ParamSet<F> {
                    &mut self.params
                }

                /// Input size.
                pub fn input_size(&self) -> usize {
                    <Self as #rt::Cell<F>>::input_size(self)
                }

                /// Output size.
                pub fn output_size(&self) -> usize {
                    <Self as #rt::Cell<F>>::output_size(self)
                }

                /// Zero states, state history and input history for `batch` examples.
                pub fn zero_states(&self, batch: usize) -> #rt::States<F> {
                    <Self as #rt::Cell<F>>::zero_states(self, batch)
                }

                fn __param_shapes(dims: #dims_name) -> Vec<Vec<usize>> {
                    #(#dims_setup)*
                    vec![#(#shapes),*]
                }

                #(#accessors)*
            }

            // The passes, compiled three times: for the baseline target, with AVX2 and FMA, and
            // with AVX-512 (chosen at run time), so that the fused elementwise loops use the
            // widest vectors the CPU has.
            #[allow(non_snake_case, unused_mut, unused_variables, clippy::all)]
            impl<F: #rt::Float> #name<F> {
                #(#passes)*
            }

            #[allow(non_snake_case, unused_mut, unused_variables, clippy::all)]
            impl<F: #rt::Float> #rt::Cell<F> for #name<F> {
                type Dims = #dims_name;

                fn spec() -> &'static #rt::CellSpec {
                    #step_items
                    static SPEC: #rt::CellSpec = #rt::CellSpec {
                        name: #name_str,
                        dims: &[#(#dim_names),*],
                        input: (#input_name, #input_shape),
                        input_delay: #input_delay,
                        states: &[#(#state_specs),*],
                        params: &[#(#param_specs),*],
                        masks: &[#(#mask_specs),*],
                        step: #step_spec,
                        output: #output_text,
                        equations: #equations,
                    };
                    &SPEC
                }

                fn new(dims: #dims_name, rng: &mut dyn #rt::Rng) -> Self {
                    let shapes = Self::__param_shapes(dims);
                    let params = #rt::ParamSet::new(<Self as #rt::Cell<F>>::spec().params, &shapes, Some(rng));
                    Self { dims, params }
                }

                fn zeros(dims: #dims_name) -> Self {
                    let shapes = Self::__param_shapes(dims);
                    let params = #rt::ParamSet::new(<Self as #rt::Cell<F>>::spec().params, &shapes, None);
                    Self { dims, params }
                }

                fn dims(&self) -> #dims_name {
                    self.dims
                }

                fn input_size(&self) -> usize {
                    let dims = self.dims;
                    #(#dims_setup2)*
                    #input_size
                }

                fn state_sizes(&self) -> Vec<usize> {
                    let dims = self.dims;
                    #(#dims_setup3)*
                    vec![#(#state_sizes),*]
                }

                fn output_size(&self) -> usize {
                    let dims = self.dims;
                    #(#dims_setup4)*
                    #output_size
                }

                fn params(&self) -> &#rt::ParamSet<F> {
                    &self.params
                }

                fn params_mut(&mut self) -> &mut #rt::ParamSet<F> {
                    &mut self.params
                }

                fn forward_masked(
                    &self,
                    x: #rt::ArrayView3<'_, F>,
                    init: Option<&#rt::States<F>>,
                    lengths: Option<&[usize]>,
                    masks: #rt::Masks<'_, F>,
                ) -> #rt::Result<#rt::Forward<F>> {
                    self.__forward(x, init, lengths, masks)
                }

                fn infer(
                    &self,
                    x: #rt::ArrayView3<'_, F>,
                    init: Option<&#rt::States<F>>,
                    lengths: Option<&[usize]>,
                ) -> #rt::Result<#rt::Inference<F>> {
                    self.__infer(x, init, lengths)
                }

                fn backward(
                    &self,
                    forward: &#rt::Forward<F>,
                    d_outputs: #rt::ArrayView3<'_, F>,
                    d_final: Option<&#rt::States<F>>,
                ) -> #rt::Result<#rt::Gradients<F>> {
                    #[cfg(target_arch = "x86_64")]
                    match #rt::vector_isa() {
                        // SAFETY: the CPU has the features the functions are compiled for.
                        #rt::VectorIsa::Avx512 => return unsafe { self.__backward_avx512(forward, d_outputs, d_final) },
                        #rt::VectorIsa::Avx2 => return unsafe { self.__backward_avx2(forward, d_outputs, d_final) },
                        #rt::VectorIsa::Baseline => {}
                    }
                    self.__backward(forward, d_outputs, d_final)
                }
            }
        }
    }
}

/// The most blocks the runtime's `RowPass` takes (its `MAX_ROW_PASS_BLOCKS`; the workspace
/// test `row_pass_limit` checks that the two agree).
pub const MAX_ROW_PASS_BLOCKS: usize = 32;

/// The closure of one elementwise pass over the examples `[start, end)` and its blocks (the
/// rows it writes): it runs the pass through `vectorized`, which compiles it for the baseline
/// target, AVX2 + FMA and AVX-512 and chooses at run time. The blocks are the inner closure's
/// arguments, not captures, so the compiler knows they do not overlap and vectorizes the feature
/// loop. Beyond the runtime's `MAX_ROW_PASS_BLOCKS` the pass runs for the baseline target only.
fn row_pass(rt: &TokenStream, blocks: &[&Ident], body: TokenStream) -> TokenStream {
    let params = quote!(start: usize, end: usize, #(#blocks: &mut [F]),*);
    if blocks.len() > MAX_ROW_PASS_BLOCKS {
        return quote!(|#params| { #body });
    }
    quote! {
        |#params| {
            #rt::vectorized(#[inline(always)] |#params| { #body }, (start, end, #(#blocks,)*))
        }
    }
}

/// The three passes: `__forward` and `__infer`, compiled once (their elementwise loops run
/// through `vectorized`, which compiles them for the baseline target, AVX2 + FMA and AVX-512
/// and chooses at run time), and `__backward`, compiled whole for each of the three
/// (`__backward`, `__backward_avx2`, `__backward_avx512`; `Cell::backward` chooses).
fn passes(
    rt: &TokenStream,
    forward: &TokenStream,
    infer: &TokenStream,
    backward: &TokenStream,
) -> Vec<TokenStream> {
    let from_input = quote! {
        x: #rt::ArrayView3<'_, F>,
        init: Option<&#rt::States<F>>,
        lengths: Option<&[usize]>,
    };
    let from_input_masked = quote! {
        #from_input
        mut masks: #rt::Masks<'_, F>,
    };
    let from_trace = quote! {
        forward: &#rt::Forward<F>,
        d_outputs: #rt::ArrayView3<'_, F>,
        d_final: Option<&#rt::States<F>>,
    };
    let mut out = vec![
        quote! {
            fn __forward(&self, #from_input_masked) -> #rt::Result<#rt::Forward<F>> {
                #forward
            }
        },
        quote! {
            fn __infer(&self, #from_input) -> #rt::Result<#rt::Inference<F>> {
                #infer
            }
        },
        quote! {
            fn __backward(&self, #from_trace) -> #rt::Result<#rt::Gradients<F>> {
                #backward
            }
        },
    ];
    for (suffix, features) in [("_avx2", "avx2,fma"), ("_avx512", "avx512f,avx2,fma")] {
        let f = format_ident!("__backward{suffix}");
        out.push(quote! {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = #features)]
            unsafe fn #f(&self, #from_trace) -> #rt::Result<#rt::Gradients<F>> {
                #backward
            }
        });
    }
    out
}
