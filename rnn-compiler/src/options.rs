//! Options written before the spec in the macro's input. Today there is one:
//!
//! ```text
//! rnn_cell! { crate = ::my_facade::recurrent; pub cell Elman { ... } }
//! ```
//!
//! names the path under which the generated code finds the runtime (the facade crate), for a
//! crate that re-exports it. Without it the macro uses the name under which the calling crate
//! depends on the facade, found at expansion.

use proc_macro2::{Spacing, TokenStream, TokenTree};

/// The macro's input split into the `crate = path;` option, if any, and the spec.
pub struct MacroInput {
    /// The path given by `crate = ..;`.
    pub krate: Option<TokenStream>,
    /// Everything after the options: the spec's tokens or a file's path literal.
    pub spec: TokenStream,
}

/// Splits off a leading `crate = path;`. A path is `::`-separated identifiers, optionally
/// starting with `::` (`crate`, `self` and `super` included); anything else is an error at the
/// offending token.
pub fn split(input: TokenStream) -> Result<MacroInput, syn::Error> {
    let tokens: Vec<TokenTree> = input.clone().into_iter().collect();
    let is_crate_option = matches!(tokens.first(), Some(TokenTree::Ident(i)) if i == "crate")
        && matches!(tokens.get(1), Some(TokenTree::Punct(p)) if p.as_char() == '=');
    if !is_crate_option {
        return Ok(MacroInput {
            krate: None,
            spec: input,
        });
    }
    let eq_span = tokens[1].span();
    let mut path = Vec::new();
    let mut rest = tokens[2..].iter();
    // `expect_ident`: an identifier comes next (at the start after an optional `::`, and after
    // every `::`).
    let mut expect_ident = true;
    let mut leading = true;
    loop {
        let Some(token) = rest.next() else {
            let span = path.last().map_or(eq_span, |t: &TokenTree| t.span());
            return Err(syn::Error::new(
                span,
                "expected `;` after the runtime's path in `crate = path;`",
            ));
        };
        match token {
            TokenTree::Punct(p) if p.as_char() == ';' && !expect_ident => break,
            TokenTree::Ident(_) if expect_ident => {
                expect_ident = false;
                leading = false;
                path.push(token.clone());
            }
            TokenTree::Punct(p) if p.as_char() == ':' && p.spacing() == Spacing::Joint => {
                let second = rest.next();
                let ok = matches!(second, Some(TokenTree::Punct(q)) if q.as_char() == ':');
                if !ok || (expect_ident && !leading) {
                    return Err(syn::Error::new(
                        p.span(),
                        "expected a path such as `::recurrent`",
                    ));
                }
                path.push(token.clone());
                path.push(second.cloned().expect("checked above"));
                expect_ident = true;
                leading = false;
            }
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    if expect_ident {
                        "expected an identifier in the runtime's path (`crate = ::recurrent;`)"
                    } else {
                        "expected `::` or `;` after the runtime's path (`crate = ::recurrent;`)"
                    },
                ))
            }
        }
    }
    Ok(MacroInput {
        krate: Some(path.into_iter().collect()),
        spec: rest.cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn a_leading_crate_option_is_split_off() {
        let input = split(quote!(crate = ::a::b; pub cell X {})).unwrap();
        assert_eq!(input.krate.unwrap().to_string(), ":: a :: b");
        assert_eq!(input.spec.to_string(), "pub cell X { }");
        let input = split(quote!(crate = facade; "specs/lstm.rnn")).unwrap();
        assert_eq!(input.krate.unwrap().to_string(), "facade");
        assert_eq!(input.spec.to_string(), "\"specs/lstm.rnn\"");
    }

    #[test]
    fn input_without_options_is_left_alone() {
        let input = split(quote!(pub cell X { state h: [H]; })).unwrap();
        assert!(input.krate.is_none());
        assert_eq!(input.spec.to_string(), "pub cell X { state h : [H] ; }");
    }

    #[test]
    fn a_malformed_path_is_refused() {
        for bad in [
            quote!(crate = ;),
            quote!(crate = a::;),
            quote!(crate = a b;),
            quote!(crate = a),
            quote!(crate = "a";),
        ] {
            assert!(split(bad.clone()).is_err(), "{bad}");
        }
    }
}
