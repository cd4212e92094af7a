use recurrent::rnn_cell;

// trybuild compiles this file in its own crate under `<target>/tests/trybuild/recurrent`, the crate
// root the path is relative to; `tests/compile_fail.rs` copies the spec file there.
rnn_cell!("tests/ui/file/bad.rnn");

fn main() {}
