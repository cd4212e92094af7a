//! The `rnn_cell!` procedural macro. All the work happens in [`rnn_compiler`]; this crate only
//! moves tokens across the proc-macro boundary and finds the name under which the calling
//! crate depends on the facade crate `recurrent`.

use proc_macro::TokenStream;
use proc_macro2::{Ident, Span};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::quote;

/// Defines a recurrent cell from its gate equations. See the `recurrent` crate for the
/// language.
///
/// The generated code refers to the facade by the name the calling crate gives it in its
/// `Cargo.toml` (`recurrent`, or a rename such as `rc = { package = "recurrent", .. }`). A crate
/// that reaches the facade only through a re-export names the path first:
/// `rnn_cell! { crate = ::my_framework::recurrent; pub cell Elman { .. } }`.
#[proc_macro]
pub fn rnn_cell(input: TokenStream) -> TokenStream {
    rnn_compiler::expand_with(input.into(), facade_path()).into()
}

/// `::recurrent`, or `::name` when the calling crate renamed the dependency. Inside the facade
/// itself (its tests, examples and doctests) the name is `recurrent` too: the facade declares
/// `extern crate self as recurrent`.
fn facade_path() -> proc_macro2::TokenStream {
    let name = match crate_name(rnn_compiler::DEFAULT_CRATE) {
        Ok(FoundCrate::Name(name)) => name,
        Ok(FoundCrate::Itself) | Err(_) => rnn_compiler::DEFAULT_CRATE.to_string(),
    };
    let name = Ident::new(&name, Span::call_site());
    quote!(::#name)
}
