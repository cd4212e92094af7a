use recurrent::rnn_cell;

rnn_cell!("tests/ui/file/does_not_exist.rnn");

fn main() {}
