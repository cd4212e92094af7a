//! The compiler of the `rnn_cell!` language.
//!
//! ```text
//! text/tokens --parse--> CellAst --lower (names, order, shapes)--> CellIr
//!   --differentiate--> partials --simplify--> partials --plan--> Plan --emit--> Rust tokens
//! ```
//!
//! This crate has no `proc_macro` dependency: it takes and returns `proc_macro2` tokens, so the
//! whole pipeline is tested like any library. `rnn-macros` is a shim over [`expand`].
#![warn(missing_docs)]

// The stages are public so that tests, the benchmarks and tools can run them one by one, but
// they are internals: hidden from the documentation, and free to change in any release. The
// documented surface is `compile`, `compile_text`, `expand`, `explain`, `Source` and
// `Diagnostic`.
#[doc(hidden)]
pub mod ast;
#[doc(hidden)]
pub mod check;
pub mod diagnostic;
#[doc(hidden)]
pub mod diff;
#[doc(hidden)]
pub mod emit;
#[doc(hidden)]
pub mod eval;
pub mod explain;
#[doc(hidden)]
pub mod ir;
#[doc(hidden)]
pub mod lower;
#[doc(hidden)]
pub mod options;
#[doc(hidden)]
pub mod parse;
#[doc(hidden)]
pub mod plan;
#[doc(hidden)]
pub mod shape;
#[doc(hidden)]
pub mod simplify;
pub mod source;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

pub use diagnostic::Diagnostic;
pub use source::Source;

/// A compiled cell: the checked IR, its derivatives and plan, and the emitted tokens.
pub struct Compiled {
    /// The checked cell.
    pub cell: ir::CellIr,
    /// The simplified partial derivatives of every node.
    pub partials: Vec<Vec<diff::Partial>>,
    /// The fusion plan.
    pub plan: plan::Plan,
    /// The generated Rust.
    pub tokens: TokenStream,
}

/// Why a spec did not compile: every error found, and what is known of the cell so that a
/// skeleton type can still be emitted. Displays as one line per error.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The errors, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// The parsed spec, when parsing succeeded.
    pub ast: Option<Box<ast::CellAst>>,
}

/// The path under which generated code finds the runtime when nothing else says: the facade
/// crate's own name.
pub const DEFAULT_CRATE: &str = "recurrent";

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.diagnostics.len();
        write!(f, "the spec has {n} error{}", if n == 1 { "" } else { "s" })?;
        for d in &self.diagnostics {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// The whole compiler: one spec in, Rust tokens out, finding the runtime under
/// `::recurrent` (see [`compile_for`]).
pub fn compile(source: &Source) -> Result<Compiled, Failure> {
    compile_for(source, &default_crate())
}

/// `::recurrent`, as tokens.
fn default_crate() -> TokenStream {
    let name = format_ident!("{}", DEFAULT_CRATE);
    quote!(::#name)
}

/// The whole compiler, with the generated code finding the runtime under `krate` (a path to the
/// facade crate, such as `::recurrent` or `::my_facade::recurrent`).
pub fn compile_for(source: &Source, krate: &TokenStream) -> Result<Compiled, Failure> {
    let ast = parse::parse(&source.text).map_err(|diagnostics| Failure {
        diagnostics,
        ast: None,
    })?;
    let cell = lower::lower(&ast).map_err(|diagnostics| Failure {
        diagnostics,
        ast: Some(Box::new(ast.clone())),
    })?;
    let partials = simplify::simplify(&cell.graph, diff::differentiate(&cell.graph));
    let plan = plan::plan(&cell, &partials);
    let runtime = quote!(#krate::__private);
    let tokens = emit::emit(
        &cell,
        &plan,
        &partials,
        source.spans(ast.name.pos).0,
        runtime,
    );
    Ok(Compiled {
        cell,
        partials,
        plan,
        tokens,
    })
}

/// Compiles a spec given as text (for tests and tools).
pub fn compile_text(text: &str) -> Result<Compiled, Vec<Diagnostic>> {
    compile(&Source::from_text(text)).map_err(|f| f.diagnostics)
}

/// The macro's expansion: the generated cell, or every error plus a skeleton type so that the
/// user's code using the cell reports nothing further. The runtime is found under
/// `::recurrent` unless the input starts with `crate = path;` (see [`expand_with`]).
pub fn expand(input: TokenStream) -> TokenStream {
    expand_with(input, default_crate())
}

/// [`expand`], with the generated code finding the runtime under `default_crate` (the name
/// under which the calling crate depends on the facade) unless the input starts with
/// `crate = path;`.
pub fn expand_with(input: TokenStream, default_crate: TokenStream) -> TokenStream {
    let input = match options::split(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let krate = input.krate.unwrap_or(default_crate);
    let source = match Source::from_macro_input(input.spec) {
        Ok(source) => source,
        Err(e) => return e.to_compile_error(),
    };
    let track = source.file().map(|path| {
        let path = path.display().to_string();
        quote!(
            const _: &[u8] = include_bytes!(#path);
        )
    });
    match compile_for(&source, &krate) {
        Ok(compiled) => {
            let tokens = compiled.tokens;
            quote!(#track #tokens)
        }
        Err(failure) => {
            let errors = failure
                .diagnostics
                .iter()
                .map(|d| source.to_error(d).to_compile_error());
            let skeleton = failure
                .ast
                .as_ref()
                .map(|ast| skeleton(ast, &source, &krate));
            quote!(#track #(#errors)* #skeleton)
        }
    }
}

/// The cell's type and dimensions with no behaviour, emitted beside the errors of a spec that
/// does not compile so the user's uses of the cell do not add errors of their own.
fn skeleton(ast: &ast::CellAst, source: &Source, krate: &TokenStream) -> TokenStream {
    if ast.name.text.is_empty() {
        return TokenStream::new();
    }
    let vis = emit::visibility(ast.vis);
    let span: Span = source.spans(ast.name.pos).0;
    // A name that is not an identifier, or that would shadow what the skeleton uses, gets no
    // skeleton (its error says why).
    if syn::parse_str::<syn::Ident>(&ast.name.text).is_err()
        || check::reserved_cell_name(&ast.name.text).is_some()
    {
        return TokenStream::new();
    }
    let name = proc_macro2::Ident::new(&ast.name.text, span);
    let dims_name = format_ident!("{}Dims", ast.name.text, span = span);
    let mut dims: Vec<String> = vec![];
    for d in &ast.decls {
        for dim in &d.shape.dims {
            for (_, sym) in &dim.terms {
                if let Some(s) = sym {
                    if !dims.contains(s) {
                        dims.push(s.clone());
                    }
                }
            }
        }
    }
    let fields = dims
        .iter()
        .filter(|d| syn::parse_str::<syn::Ident>(d).is_ok())
        .map(|d| proc_macro2::Ident::new(d, Span::call_site()));
    let mut states: Vec<&str> = vec![];
    for d in &ast.decls {
        let name = d.name.text.as_str();
        if d.kind == ast::DeclKind::State
            && !states.contains(&name)
            && syn::parse_str::<syn::Ident>(name).is_ok()
        {
            states.push(name);
        }
    }
    let state_fields: Vec<proc_macro2::Ident> = states
        .iter()
        .map(|s| proc_macro2::Ident::new(s, Span::call_site()))
        .collect();
    // Without states (itself an error), a marker uses the lifetime and the float type.
    let marker = states
        .is_empty()
        .then(|| quote!(__marker: ::core::marker::PhantomData<&'a F>,));
    let states_name = format_ident!("{}States", ast.name.text, span = span);
    let states_mut_name = format_ident!("{}StatesMut", ast.name.text, span = span);
    let rt = quote!(#krate::__private);
    // The bodies are never run: the `compile_error!`s beside the skeleton stop the build. They
    // exist so that the user's calls type-check and report nothing of their own.
    // Braced structs: a tuple struct would also be a value, and a cell named like a variable of
    // the skeleton (`x`, `dims`) would then clash with it. Style lints stay quiet beside errors.
    quote! {
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone)]
        #vis struct #name<F = f32> { __marker: ::core::marker::PhantomData<F> }
        #[allow(non_snake_case, non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #vis struct #dims_name { #(pub #fields: usize,)* }
        #[allow(non_snake_case, non_camel_case_types)]
        #[derive(Debug, Clone)]
        #vis struct #states_name<'a, F = f32> { #(pub #state_fields: #rt::StateView<'a, F>,)* #marker }
        #[allow(non_snake_case, non_camel_case_types)]
        #[derive(Debug)]
        #vis struct #states_mut_name<'a, F = f32> { #(pub #state_fields: #rt::StateViewMut<'a, F>,)* #marker }
        #[allow(unused_variables, clippy::all)]
        impl<'a, F: #rt::Float> #states_name<'a, F> {
            pub fn of(states: &'a #rt::States<F>) -> #rt::Result<Self> { unreachable!() }
        }
        #[allow(unused_variables, clippy::all)]
        impl<'a, F: #rt::Float> #states_mut_name<'a, F> {
            pub fn of(states: &'a mut #rt::States<F>) -> #rt::Result<Self> { unreachable!() }
        }
        #[allow(unused_variables, clippy::all)]
        impl #rt::CellDims for #dims_name {
            fn names() -> &'static [&'static str] { unreachable!() }
            fn from_names(sizes: &[(&str, usize)]) -> #rt::Result<Self> { unreachable!() }
            fn values(&self) -> Vec<usize> { unreachable!() }
        }
        #[allow(unused_variables, clippy::all)]
        impl<F: #rt::Float> #name<F> {
            pub fn new(dims: #dims_name, rng: &mut dyn #rt::Rng) -> Self { unreachable!() }
            pub fn zeros(dims: #dims_name) -> Self { unreachable!() }
        }
        #[allow(unused_variables, clippy::all)]
        impl<F: #rt::Float> #rt::Cell<F> for #name<F> {
            type Dims = #dims_name;
            fn spec() -> &'static #rt::CellSpec { unreachable!() }
            fn new(dims: #dims_name, rng: &mut dyn #rt::Rng) -> Self { unreachable!() }
            fn zeros(dims: #dims_name) -> Self { unreachable!() }
            fn dims(&self) -> #dims_name { unreachable!() }
            fn input_size(&self) -> usize { unreachable!() }
            fn state_sizes(&self) -> Vec<usize> { unreachable!() }
            fn output_size(&self) -> usize { unreachable!() }
            fn params(&self) -> &#rt::ParamSet<F> { unreachable!() }
            fn params_mut(&mut self) -> &mut #rt::ParamSet<F> { unreachable!() }
            fn forward_masked(
                &self,
                x: #rt::ArrayView3<'_, F>,
                init: Option<&#rt::States<F>>,
                lengths: Option<&[usize]>,
                masks: #rt::Masks<'_, F>,
            ) -> #rt::Result<#rt::Forward<F>> { unreachable!() }
            fn infer(
                &self,
                x: #rt::ArrayView3<'_, F>,
                init: Option<&#rt::States<F>>,
                lengths: Option<&[usize]>,
            ) -> #rt::Result<#rt::Inference<F>> { unreachable!() }
            fn backward(
                &self,
                forward: &#rt::Forward<F>,
                d_outputs: #rt::ArrayView3<'_, F>,
                d_final: Option<&#rt::States<F>>,
            ) -> #rt::Result<#rt::Gradients<F>> { unreachable!() }
        }
    }
}
