//! libFuzzer target: any bytes, read as (lossy) UTF-8, through the whole compiler. The
//! invariants are those of `rnn-compiler/tests/fuzz.rs`: tokens that parse as a Rust file, or
//! diagnostics that each point inside the text; the macro's path (`expand`) likewise. A panic,
//! a stack overflow, a timeout (`-timeout=`) or an allocation over `-rss_limit_mb` is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match rnn_compiler::compile_text(&text) {
        Ok(compiled) => {
            if let Err(e) = syn::parse2::<syn::File>(compiled.tokens) {
                panic!("compiled, but the tokens are not a Rust file: {e}");
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "Err with no diagnostic");
            for d in &diagnostics {
                let p = d.pos;
                assert!(
                    p.start <= p.end
                        && p.end <= text.len()
                        && text.is_char_boundary(p.start)
                        && text.is_char_boundary(p.end),
                    "diagnostic at {}..{} is not a range of the text ({} bytes): {}",
                    p.start,
                    p.end,
                    text.len(),
                    d.message
                );
                assert!(!d.message.is_empty(), "empty message");
            }
        }
    }
    if let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() {
        let out = rnn_compiler::expand(tokens);
        if let Err(e) = syn::parse2::<syn::File>(out) {
            panic!("the expansion is not a Rust file: {e}");
        }
    }
});
