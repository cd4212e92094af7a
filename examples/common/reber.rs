//! The Reber grammar and the embedded Reber grammar.
//!
//! Sources: Reber (1967), "Implicit learning of artificial grammars", J. Verbal Learning and
//! Verbal Behavior 6; as a recurrent-network benchmark Cleeremans, Servan-Schreiber & McClelland
//! (1989), Neural Computation 1(3), and Hochreiter & Schmidhuber (1997), "Long Short-Term
//! Memory", Experiment 1 (embedded Reber grammar).
//!
//! Symbols (ids are indices into [`SYMBOLS`]): `B T P S X V E`.
//!
//! Reber grammar (a finite automaton; every state with two outgoing edges takes each with
//! probability 1/2 when generating):
//! ```text
//! start --B--> 1
//! 1 --T--> 2     1 --P--> 3
//! 2 --S--> 2     2 --X--> 4
//! 3 --T--> 3     3 --V--> 5
//! 4 --X--> 3     4 --S--> 6
//! 5 --P--> 4     5 --V--> 6
//! 6 --E--> accept
//! ```
//! e.g. `BTXSE`, `BPVVE`, `BTSSXXTVVE`, `BPTVPSE`.
//!
//! Embedded Reber grammar: `B`, then `T` or `P` (probability 1/2 each), then a Reber string,
//! then the *same* `T` or `P` again, then `E`; e.g. `BTBTXSETE`, `BPBPVVEPE`. The penultimate
//! symbol is determined by the second one, across the whole embedded Reber string: the
//! long-range dependency the task tests. All other symbols are predictable only up to the
//! grammar's branching, so the task is scored on the set of allowed next symbols
//! ([`allowed_next`]): a prediction is correct at a step when it puts its mass on exactly that
//! set (Hochreiter & Schmidhuber: "all string symbols are predicted correctly when the
//! activations of the output units that correspond to possible next symbols are above 0.5 and
//! all others below").

use recurrent::rand::RngExt;

/// Symbol characters by id.
pub const SYMBOLS: [char; 7] = ['B', 'T', 'P', 'S', 'X', 'V', 'E'];
/// Number of symbols.
pub const NUM_SYMBOLS: usize = 7;
/// Symbol ids.
pub const B: u8 = 0;
/// `T`.
pub const T: u8 = 1;
/// `P`.
pub const P: u8 = 2;
/// `S`.
pub const S: u8 = 3;
/// `X`.
pub const X: u8 = 4;
/// `V`.
pub const V: u8 = 5;
/// `E`.
pub const E: u8 = 6;

/// Set of symbols, indexed by symbol id.
pub type SymbolSet = [bool; NUM_SYMBOLS];

const ACCEPT: u8 = 7;

/// Outgoing edges `(symbol, next state)` of a Reber-automaton state (0 = start, 7 = accept).
fn edges(state: u8) -> &'static [(u8, u8)] {
    match state {
        0 => &[(B, 1)],
        1 => &[(T, 2), (P, 3)],
        2 => &[(S, 2), (X, 4)],
        3 => &[(T, 3), (V, 5)],
        4 => &[(X, 3), (S, 6)],
        5 => &[(P, 4), (V, 6)],
        6 => &[(E, ACCEPT)],
        _ => &[],
    }
}

fn step(state: u8, symbol: u8) -> Option<u8> {
    edges(state)
        .iter()
        .find(|(s, _)| *s == symbol)
        .map(|&(_, next)| next)
}

fn set_of(state: u8) -> SymbolSet {
    let mut set = [false; NUM_SYMBOLS];
    for &(s, _) in edges(state) {
        set[s as usize] = true;
    }
    set
}

/// Draws a Reber string (`B … E`).
pub fn generate_reber(rng: &mut impl RngExt) -> Vec<u8> {
    let mut out = Vec::new();
    let mut state = 0;
    while state != ACCEPT {
        let options = edges(state);
        let (symbol, next) = options[rng.random_range(0..options.len())];
        out.push(symbol);
        state = next;
    }
    out
}

/// Whether `string` is a complete Reber string.
pub fn accepts_reber(string: &[u8]) -> bool {
    string.iter().try_fold(0u8, |state, &sym| step(state, sym)) == Some(ACCEPT)
}

/// Symbols the Reber grammar allows after `prefix` (empty if `prefix` is not a prefix of a
/// Reber string, or is already complete).
pub fn allowed_next_reber(prefix: &[u8]) -> SymbolSet {
    match prefix.iter().try_fold(0u8, |state, &sym| step(state, sym)) {
        Some(state) => set_of(state),
        None => [false; NUM_SYMBOLS],
    }
}

/// Draws an embedded Reber string: `B`, `T|P`, Reber string, the same `T|P`, `E`.
pub fn generate(rng: &mut impl RngExt) -> Vec<u8> {
    let branch = if rng.random_bool(0.5) { T } else { P };
    let mut out = vec![B, branch];
    out.extend(generate_reber(rng));
    out.push(branch);
    out.push(E);
    out
}

/// Draws `n` embedded Reber strings.
pub fn batch(rng: &mut impl RngExt, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| generate(rng)).collect()
}

/// Where an embedded-grammar parser stands after a prefix.
enum Phase {
    Start,
    Branch,
    Inner { branch: u8, state: u8 },
    Closing { branch: u8 },
    End,
    Done,
}

fn parse(prefix: &[u8]) -> Option<Phase> {
    let mut phase = Phase::Start;
    for &sym in prefix {
        phase = match phase {
            Phase::Start if sym == B => Phase::Branch,
            Phase::Branch if sym == T || sym == P => Phase::Inner {
                branch: sym,
                state: 0,
            },
            Phase::Inner { branch, state } => match step(state, sym)? {
                ACCEPT => Phase::Closing { branch },
                next => Phase::Inner {
                    branch,
                    state: next,
                },
            },
            Phase::Closing { branch } if sym == branch => Phase::End,
            Phase::End if sym == E => Phase::Done,
            _ => return None,
        };
    }
    Some(phase)
}

/// Whether `string` is a complete embedded Reber string.
pub fn accepts(string: &[u8]) -> bool {
    matches!(parse(string), Some(Phase::Done))
}

/// Symbols the embedded Reber grammar allows after `prefix`: the multi-hot target for
/// next-symbol prediction. Empty when `prefix` is complete or not a valid prefix. After the
/// inner Reber string's `E`, the set holds only the symbol the second position chose.
pub fn allowed_next(prefix: &[u8]) -> SymbolSet {
    let mut set = [false; NUM_SYMBOLS];
    match parse(prefix) {
        Some(Phase::Start) => set[B as usize] = true,
        Some(Phase::Branch) => {
            set[T as usize] = true;
            set[P as usize] = true;
        }
        Some(Phase::Inner { state, .. }) => set = set_of(state),
        Some(Phase::Closing { branch }) => set[branch as usize] = true,
        Some(Phase::End) => set[E as usize] = true,
        Some(Phase::Done) | None => {}
    }
    set
}

/// Multi-hot targets for next-symbol prediction along `string`: entry `i` is
/// `allowed_next(&string[..=i])`, the set allowed after the first `i + 1` symbols.
pub fn next_symbol_targets(string: &[u8]) -> Vec<SymbolSet> {
    (0..string.len())
        .map(|i| allowed_next(&string[..=i]))
        .collect()
}

/// Hochreiter & Schmidhuber's criterion at one step: outputs of the allowed symbols above 0.5,
/// all others below.
pub fn step_correct(outputs: &[f64], allowed: &SymbolSet) -> bool {
    outputs
        .iter()
        .zip(allowed)
        .all(|(&o, &a)| if a { o > 0.5 } else { o < 0.5 })
}

/// A string is predicted correctly when every step before the final `E` is [`step_correct`];
/// `outputs[i]` is the prediction made after reading `string[..=i]`.
pub fn string_correct(outputs: &[Vec<f64>], string: &[u8]) -> bool {
    let targets = next_symbol_targets(string);
    let steps = string.len().saturating_sub(1);
    outputs.len() >= steps && (0..steps).all(|i| step_correct(&outputs[i], &targets[i]))
}

/// The string of symbol ids, e.g. `"BTBPVVETE"`.
pub fn to_string(string: &[u8]) -> String {
    string.iter().map(|&s| SYMBOLS[s as usize]).collect()
}

/// Symbol ids of a string of `B T P S X V E` characters (`None` on any other character).
pub fn from_str(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| SYMBOLS.iter().position(|&s| s == c).map(|i| i as u8))
        .collect()
}
