//! The `rnn_cell!` procedural macro. All the work happens in [`rnn_compiler`]; this crate only
//! moves tokens across the proc-macro boundary.

use proc_macro::TokenStream;

/// Defines a recurrent cell from its gate equations. See the `rnn` crate for the language.
#[proc_macro]
pub fn rnn_cell(input: TokenStream) -> TokenStream {
    rnn_compiler::expand(input.into()).into()
}
