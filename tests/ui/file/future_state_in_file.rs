use rnn::rnn_cell;

rnn_cell!("tests/ui/file/bad.rnn");

fn main() {}
