//! The cells the sequence-task examples compare (the simple RNN, the LSTM and the GRU, trained
//! with the same budget), and the driver that trains each cell chosen with `--cells`.

use recurrent::cells::{Gru, GruDims, Lstm, LstmDims, RnnTanh, RnnTanhDims};
use recurrent::ndarray::Array1;
use recurrent::rand::rngs::ChaCha8Rng;
use recurrent::DynCell;

use super::flags::Flags;

/// The cells compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Elman network, tanh.
    Rnn,
    /// LSTM with forget gate.
    Lstm,
    /// Textbook GRU.
    Gru,
}

/// Initial gate biases (`None`: the cell's own initialization).
#[derive(Debug, Clone, Copy, Default)]
pub struct GateBiases {
    /// The gate that keeps memory: the LSTM's forget gate, the GRU's update gate. A large bias
    /// keeps memory over long lags from the start ("chrono" initialization, Tallec & Ollivier
    /// 2018).
    pub keep: Option<f32>,
    /// The LSTM's input gate.
    pub lstm_input: Option<f32>,
}

impl Kind {
    /// Every cell, in the order they are trained and listed.
    pub const ALL: [Kind; 3] = [Kind::Rnn, Kind::Lstm, Kind::Gru];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rnn => "simple RNN (tanh)",
            Kind::Lstm => "LSTM",
            Kind::Gru => "GRU",
        }
    }

    /// A cell reading `input` features into `hidden` units, its gates starting with `biases`.
    pub fn cell(
        self,
        input: usize,
        hidden: usize,
        biases: GateBiases,
        rng: &mut ChaCha8Rng,
    ) -> recurrent::Result<Box<dyn DynCell<f32>>> {
        let (i, h) = (input, hidden);
        let mut cell: Box<dyn DynCell<f32>> = match self {
            Kind::Rnn => Box::new(RnnTanh::<f32>::new(RnnTanhDims { I: i, H: h }, rng)),
            Kind::Lstm => Box::new(Lstm::<f32>::new(LstmDims { I: i, H: h }, rng)),
            Kind::Gru => Box::new(Gru::<f32>::new(GruDims { I: i, H: h }, rng)),
        };
        // The bias parameter each of `biases` sets.
        let gates = match self {
            Kind::Rnn => vec![],
            Kind::Lstm => vec![("b_f", biases.keep), ("b_i", biases.lstm_input)],
            Kind::Gru => vec![("b_z", biases.keep)],
        };
        for (name, bias) in gates {
            if let Some(b) = bias {
                cell.params_mut()
                    .set(name, Array1::from_elem(hidden, b).view())?;
            }
        }
        Ok(cell)
    }
}

/// Trains each cell that `--cells` names (a comma-separated list, case-insensitive; default
/// all, in the order of [`Kind::ALL`]) with `run`. As each finishes, prints its name and the
/// lines of `summary` of its outcome (the name on the first line, the others indented to match).
/// Returns the outcomes.
pub fn train_each<O>(
    flags: &Flags,
    mut run: impl FnMut(Kind) -> recurrent::Result<O>,
    summary: impl Fn(&O) -> String,
) -> recurrent::Result<Vec<(Kind, O)>> {
    let cells: String = flags.get("cells", "rnn,lstm,gru".to_string())?;
    let chosen = chosen_cells(&cells)?;
    let mut rows = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| chosen.contains(k)) {
        let outcome = run(kind)?;
        for (i, line) in summary(&outcome).lines().enumerate() {
            println!("{:<18} {line}", if i == 0 { kind.name() } else { "" });
        }
        rows.push((kind, outcome));
    }
    Ok(rows)
}

/// The cells a `--cells` list names; an empty list or an unknown name is an error that names it.
fn chosen_cells(list: &str) -> recurrent::Result<Vec<Kind>> {
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim) {
        let kind = Kind::ALL
            .into_iter()
            .find(|k| name.eq_ignore_ascii_case(&format!("{k:?}")))
            .ok_or_else(|| {
                recurrent::Error::Invalid(format!(
                    "--cells: unknown cell `{name}`; expected a comma-separated list of rnn, lstm, gru"
                ))
            })?;
        chosen.push(kind);
    }
    Ok(chosen)
}

/// Prints the outcomes of [`train_each`] as a table, after a blank line: a column `cell` with
/// each cell's name, then the `columns` (cells separated by ` | `, see [`super::table`]) with
/// each outcome's `row`.
pub fn print_table<O>(rows: &[(Kind, O)], columns: &str, row: impl Fn(&O) -> String) {
    println!();
    super::table::print(
        &format!("cell | {columns}"),
        rows.iter()
            .map(|(kind, o)| format!("{} | {}", kind.name(), row(o))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cells_list_with_an_unknown_or_empty_name_is_refused() {
        assert_eq!(
            chosen_cells("GRU, rnn").unwrap(),
            vec![Kind::Gru, Kind::Rnn]
        );
        for bad in ["foo", "lstm,", "", "lstm,gruu"] {
            let error = chosen_cells(bad).unwrap_err().to_string();
            assert!(error.contains("--cells: unknown cell"), "{bad}: {error}");
        }
    }

    fn param(cell: &dyn DynCell<f32>, name: &str) -> Vec<f32> {
        cell.params().get(name).unwrap().iter().copied().collect()
    }

    #[test]
    fn gate_biases_set_the_named_parameters_only() {
        let biases = GateBiases {
            keep: Some(5.0),
            lstm_input: Some(-3.0),
        };
        let rng = || recurrent::seeded_rng(7);
        let lstm = Kind::Lstm.cell(2, 3, biases, &mut rng()).unwrap();
        assert_eq!(param(&*lstm, "b_f"), [5.0; 3]);
        assert_eq!(param(&*lstm, "b_i"), [-3.0; 3]);
        let gru = Kind::Gru.cell(2, 3, biases, &mut rng()).unwrap();
        assert_eq!(param(&*gru, "b_z"), [5.0; 3]);
        // Without biases, the cell is the one its constructor draws from the same seed.
        for kind in Kind::ALL {
            let plain = kind.cell(2, 3, GateBiases::default(), &mut rng()).unwrap();
            let biased = kind.cell(2, 3, biases, &mut rng()).unwrap();
            for (name, value) in plain.params().iter() {
                let changed = value != biased.params().get(name).unwrap();
                let expected = matches!(
                    (kind, name),
                    (Kind::Lstm, "b_f" | "b_i") | (Kind::Gru, "b_z")
                );
                assert_eq!(changed, expected, "{kind:?} {name}");
            }
        }
    }
}
