use rnn::rnn_cell;

// trybuild compiles this file in its own project under `target/tests/trybuild/rnn`, which is
// then the crate root the path is relative to; `../../../../` leads back to the workspace root.
rnn_cell!("../../../../tests/ui/file/bad.rnn");

fn main() {}
