//! Random well-shaped `rnn_cell!` spec texts, for tests of the compiler and of the generated
//! code (not published).
//!
//! A [`Case`] is a sequence of choices; [`spec_text`] turns it into a spec: 1-3 states read with
//! delays 1-3, the input read with delays 0-2, matrix parameters `[I, H]`, `[H, H]`,
//! `[I + H, H]` (for `concat(x.., h..) @ C`) and `[2*H, H]`, vector parameters `[H]`, and a
//! random DAG of intermediates over every operator, function and reduction of the language,
//! with intermediates reused, left operands of `@` shared between products, chained products
//! (`x[t] @ W0 @ U1`, `h0[t-1] @ U0 @ U2`, `v3 @ U1` where `v3` is itself a product),
//! parameters used several times, layer-normalization-like broadcasts of reductions, and states
//! reading each other's new values (`h0[t]`). Denominators and the arguments of `log` and `sqrt`
//! are kept positive by construction, state updates are squashed (`tanh`, `sigmoid`, gated
//! mixtures) so values stay bounded. Every generated spec compiles.
//!
//! About a third of the cases also declare one or two random masks ([`MaskCase`]):
//! `mask m0: [H] = bernoulli(0.75);` (drawn once per sequence) or `bernoulli_per_step(p)`, of
//! size `[H]` or `[I]`, with `p` a literal in (0, 1], each used at least once elementwise:
//! dropout of an operand (`(m0 * h0[t-1]) @ U1`, `(m1 * x[t]) @ W0`), a masked value
//! (`m0 * v3`, `v3 * m0 / 0.75`), a zoneout-like mix (`m0 * h0[t-1] + (1 - m0) * v2`, also around
//! a state's update), a mask inside a function or a reduction (`tanh(m0 * v2)`, `mean(m0 * v2)`,
//! `sum(m0)`), a mask or a function of it as the left operand of a product (`m0 @ U2`,
//! `(1 - m0) @ U2`), a mask
//! times a per-example scalar, `concat(m1 * x[t], v2) @ C0`. Mask values are 0, 1 or `p`, so
//! values stay bounded. The masks are drawn from a stream of their own, derived from
//! [`Case::seed`] ([`Case::random_masks`]), so every other choice, and so every spec without
//! masks, is what the generator chose before masks existed.
//!
//! The cell is always `cell Random` with `input x: [I]` and states `h0..`: `[H]`, so its
//! dimensions are exactly `I` and `H`.
//!
//! Users: `rnn-compiler/tests/differentiator.rs` (the derived gradients against finite
//! differences, through [`strategy`], which shrinks) and `rnn-random-cells` (the generated Rust
//! against the reference evaluator, through [`Case::random`]).

use std::collections::BTreeSet;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// One random spec: the choices that drive the generator (a choice sequence shrinks by dropping
/// and simplifying operations), the dimensions and the seed of the numbers.
#[derive(Debug, Clone)]
pub struct Case {
    /// Number of states (1-3).
    pub n_states: usize,
    /// The largest delay each state is read at (1-3; one entry per possible state).
    pub delays: Vec<usize>,
    /// The operations, in order; each is decoded by its first byte, the others pick operands.
    pub ops: Vec<(u8, u8, u8, u8)>,
    /// What the output is (`None`: the sum of the values nothing else reads, or the first state).
    pub output: Option<u8>,
    /// Size of `I`.
    pub i: usize,
    /// Size of `H`.
    pub h: usize,
    /// Sequence length to test with.
    pub t: usize,
    /// Batch size to test with.
    pub b: usize,
    /// Seed of the numbers (parameters, inputs, ...).
    pub seed: u64,
    /// The random masks (none in most cases): see [`Case::random_masks`].
    pub masks: Vec<MaskCase>,
}

/// A random mask of a case, `mask m{k}: [H] = bernoulli(p);` (or `bernoulli_per_step`, or of
/// size `[I]`), and where the spec uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskCase {
    /// Drawn at every step (`bernoulli_per_step(p)`) rather than once per sequence.
    pub per_step: bool,
    /// Of the input's size `[I]` (input dropout) rather than `[H]`.
    pub input_sized: bool,
    /// The probability of a 1: [`MASK_PROBABILITIES`]`[p % len]`.
    pub p: u8,
    /// Its uses, each `(position, (kind, operand, operand, operand))`: inserted before operation
    /// `position % (ops.len() + 1)` of [`Case::ops`] (after the last one for `ops.len()`), the
    /// kind decoded modulo the number of kinds for the mask's size, as an operation is. A mask
    /// that no use leaves in the spec (its uses were dropped as unread) gets one more: a zoneout
    /// of the first state's update (`[H]`) or a term `(m * x[t]) @ W0` of the output (`[I]`).
    pub uses: Vec<(u8, (u8, u8, u8, u8))>,
}

/// The probabilities a mask is declared with (as written: some literals are integers).
pub const MASK_PROBABILITIES: [&str; 8] = ["0.75", "0.5", "0.9", "0.25", "1.0", "0.1", "0.6", "1"];

/// Kinds of use of an `[H]` mask and of an `[I]` mask (see [`Gen::mask_use`]).
const N_H_MASK_KINDS: u8 = 7;
const N_I_MASK_KINDS: u8 = 4;

/// The masks' RNG stream: [`Case::seed`] xor this.
const MASK_STREAM: u64 = 0x6d61_736b_5f73_7472;

/// Number of kinds of operation ([`Case::ops`] entries are decoded modulo this).
const N_KINDS: u8 = 14;

/// A value of the generated DAG: its text, usable as an operand.
type Val = String;

struct Gen<'a> {
    case: &'a Case,
    /// Equations `name = expr;` in order (every operand defined earlier, so no cycles).
    eqs: Vec<(String, String)>,
    /// Per-example `[H]` values, `[I]` values and `[1]` values.
    hs: Vec<Val>,
    is: Vec<Val>,
    ss: Vec<Val>,
    /// The state updates defined so far.
    updates: Vec<String>,
    counter: usize,
    /// The masks: name, whether `[I]`-sized, probability as written.
    masks: Vec<(String, bool, &'static str)>,
    /// Masks that zone out the next state update (`m * h[t-1] + (1 - m) * (update)`).
    zoneouts: Vec<String>,
}

fn pick(pool: &[Val], k: u8) -> Val {
    pool[k as usize % pool.len()].clone()
}

impl Gen<'_> {
    fn def(&mut self, expr: String) -> Val {
        let name = format!("v{}", self.counter);
        self.counter += 1;
        self.eqs.push((name.clone(), expr));
        name
    }

    fn h(&mut self, expr: String) {
        let v = self.def(expr);
        self.hs.push(v);
    }

    fn prev_state(&self, k: u8, j: u8) -> Val {
        let s = k as usize % self.case.n_states;
        let d = 1 + j as usize % self.case.delays[s];
        format!("h{s}[t-{d}]")
    }

    /// Defines the next state's update from the pool, and offers its new value `h_s[t]`.
    fn update_state(&mut self, a: u8, b: u8, c: u8) {
        let s = self.updates.len();
        let v = pick(&self.hs, a);
        let z = pick(&self.hs, c);
        let expr = match b % 4 {
            0 => format!("tanh({v})"),
            1 => format!("sigmoid({v})"),
            2 => format!("sigmoid({z}) * h{s}[t-1] + (1 - sigmoid({z})) * tanh({v})"),
            _ => format!("0.5 * h{s}[t-1] + 0.5 * softsign({v})"),
        };
        // A mask between 0 and 1 mixes two bounded values: the update stays bounded.
        let expr = self
            .zoneouts
            .drain(..)
            .fold(expr, |e, m| format!("{m} * h{s}[t-1] + (1 - {m}) * ({e})"));
        self.updates.push(expr);
        self.hs.push(format!("h{s}[t]"));
    }

    /// One use of mask `k` (see [`MaskCase::uses`]); every mask value is in [0, 1].
    fn mask_use(&mut self, k: usize, (kind, a, b, c): (u8, u8, u8, u8)) {
        let (m, input_sized, p) = self.masks[k].clone();
        if input_sized {
            match kind % N_I_MASK_KINDS {
                // Input dropout in place: later operations read the masked input.
                0 => {
                    let j = a as usize % self.is.len();
                    self.is[j] = format!("({m} * {})", self.is[j]);
                }
                // A masked input as the left operand of a product.
                1 => {
                    let x = pick(&self.is, a);
                    if c % 4 == 0 {
                        self.h(format!("({m} * {x}) @ T0^T"));
                    } else {
                        self.h(format!("({x} * {m}) @ W{}", b % 3));
                    }
                }
                2 => {
                    let (x, v) = (pick(&self.is, a), pick(&self.hs, b));
                    self.h(format!("concat({m} * {x}, {v}) @ C{}", c % 2));
                }
                _ => {
                    let x = pick(&self.is, a);
                    let v = self.def(format!("{m} * {x}"));
                    self.is.push(v);
                }
            }
            return;
        }
        match kind % N_H_MASK_KINDS {
            // Dropout of an operand in place (often a previous state): later operations read it.
            0 => {
                let j = a as usize % self.hs.len();
                self.hs[j] = if b % 2 == 0 {
                    format!("({m} * {})", self.hs[j])
                } else {
                    format!("({} * {m})", self.hs[j])
                };
            }
            // A masked value (inverted dropout when `p` is not small).
            1 => {
                let v = pick(&self.hs, a);
                let big = !matches!(p, "0.25" | "0.1");
                let e = match b % 3 {
                    0 => format!("{m} * {v}"),
                    1 if big => format!("{v} * {m} / {p}"),
                    _ => format!("{v} * {m}"),
                };
                self.h(e);
            }
            // A zoneout-like mix.
            2 => {
                let keep = if b % 2 == 0 {
                    self.prev_state(a, b / 2)
                } else {
                    pick(&self.hs, a)
                };
                let new = pick(&self.hs, c);
                self.h(format!("{m} * {keep} + (1 - {m}) * {new}"));
            }
            // A masked left operand of a product, sometimes chained or transposed.
            3 => {
                let v = if b % 3 == 0 {
                    self.prev_state(a, b / 3)
                } else {
                    pick(&self.hs, a)
                };
                let t = if c % 4 == 0 { "^T" } else { "" };
                let e = if (c / 4) % 3 == 0 {
                    format!("({m} * {v}) @ U{}{t} @ U{}", c % 3, b % 3)
                } else {
                    format!("({m} * {v}) @ U{}{t}", c % 3)
                };
                self.h(e);
            }
            // Zoneout of the next state update.
            4 => self.zoneouts.push(m),
            // Inside a function or a reduction, or the mask (alone or in a function) as the left
            // operand of `@`.
            5 => {
                let v = pick(&self.hs, a);
                match b % 4 {
                    0 => self.h(format!("tanh({m} * {v})")),
                    1 => {
                        let s = self.def(format!("mean({m} * {v})"));
                        self.ss.push(s);
                    }
                    2 => {
                        let s = self.def(format!("sum({m})"));
                        self.ss.push(s);
                    }
                    _ if c % 2 == 0 => self.h(format!("{m} @ U{} + {v}", c % 3)),
                    _ => self.h(format!("(1 - {m}) @ U{} + {v}", c % 3)),
                }
            }
            // Times a per-example scalar.
            _ => {
                let v = pick(&self.hs, a);
                let e = if self.ss.is_empty() {
                    format!("{m} * {m} * {v}")
                } else {
                    format!("{m} * {} * {v}", pick(&self.ss, b))
                };
                self.h(e);
            }
        }
    }

    /// The uses of masks placed before operation `position`.
    fn mask_uses_at(&mut self, position: usize) {
        let case = self.case;
        let slots = case.ops.len() + 1;
        for (k, mask) in case.masks.iter().enumerate() {
            for &(pos, use_) in &mask.uses {
                if pos as usize % slots == position {
                    self.mask_use(k, use_);
                }
            }
        }
    }

    fn op(&mut self, (kind, a, b, c): (u8, u8, u8, u8)) {
        if self.ss.is_empty() && matches!(kind % N_KINDS, 3 | 5) {
            let v = pick(&self.hs, a);
            self.ss.push(format!("mean({v})"));
        }
        match kind % N_KINDS {
            // Every function, with its argument kept in its domain.
            0 => {
                let v = pick(&self.hs, a);
                let e = match b % 24 {
                    0 => format!("sigmoid({v})"),
                    1 => format!("tanh({v})"),
                    2 => format!("relu({v})"),
                    3 => format!("exp(tanh({v}))"),
                    4 => format!("log(1.5 + tanh({v}))"),
                    5 => format!("log({v} * {v} + 0.5)"),
                    6 => format!("sqrt({v} * {v} + 0.25)"),
                    7 => format!("softsign({v})"),
                    8 => format!("hard_sigmoid(4 * {v})"),
                    9 => format!("sqrt(1 + exp(tanh({v})))"),
                    10 => format!("softplus(2 * {v})"),
                    11 => format!("silu(2 * {v})"),
                    12 => format!("gelu(2 * {v})"),
                    13 => format!("gelu_tanh(2 * {v})"),
                    14 => format!("elu(2 * {v})"),
                    15 => format!("elu({v}, 0.5)"),
                    16 => format!("leaky_relu({v}, 0.1)"),
                    17 => format!("abs({v})"),
                    18 => format!("square({v})"),
                    // A fractional power of a positive value, an integer power of any.
                    19 => format!("pow({v} * {v} + 0.5, 1.5)"),
                    20 => format!("pow({v}, 3)"),
                    21 => format!("clamp(2 * {v}, -0.5, 0.75)"),
                    // User functions (defined in the spec when used; see `USER_FUNCTIONS`).
                    22 => format!("uf_mix({v}, {})", pick(&self.hs, c)),
                    _ => format!("uf_norm({v})"),
                };
                self.h(e);
            }
            // Binary operators; positive denominators.
            1 => {
                let (x, y) = (pick(&self.hs, a), pick(&self.hs, b));
                let e = match c % 8 {
                    0 => format!("{x} + {y}"),
                    1 => format!("{x} - {y}"),
                    2 => format!("{x} * {y}"),
                    3 => format!("{x} / (1.5 + tanh({y}))"),
                    4 => format!("{x} / sqrt({y} * {y} + 1)"),
                    5 => format!("max({x}, {y})"),
                    6 => format!("min({x}, {y})"),
                    _ => format!("{x} / (1 + exp(tanh({y})))"),
                };
                self.h(e);
            }
            // Reductions.
            2 => {
                let v = pick(&self.hs, a);
                let e = if b % 2 == 0 {
                    format!("mean({v})")
                } else {
                    format!("sum({v})")
                };
                let s = self.def(e);
                self.ss.push(s);
            }
            // A per-example scalar broadcast against a vector, on either side.
            3 => {
                let (v, s) = (pick(&self.hs, a), pick(&self.ss, b));
                let e = match c % 5 {
                    0 => format!("{v} * {s}"),
                    1 => format!("{s} - {v}"),
                    2 => format!("{v} / sqrt({s} * {s} + 1)"),
                    3 => format!("{s} / (1.5 + tanh({v}))"),
                    _ => format!("{v} + tanh({s})"),
                };
                self.h(e);
            }
            // Layer normalization.
            4 => {
                let v = pick(&self.hs, a);
                let d = self.def(format!("{v} - mean({v})"));
                let n = if b % 2 == 0 {
                    format!("{d} / sqrt(mean({d} * {d}) + 0.1)")
                } else {
                    format!("{d} / sqrt(sum({d} * {d}) + 0.5)")
                };
                self.h(n);
            }
            // Per-example scalars combined.
            5 => {
                let (x, y) = (pick(&self.ss, a), pick(&self.ss, b));
                let e = match c % 3 {
                    0 => format!("{x} * {y}"),
                    1 => format!("{x} + tanh({y})"),
                    _ => format!("sigmoid({x}) - {y}"),
                };
                let s = self.def(e);
                self.ss.push(s);
            }
            // Recurrent-size products: the same left operand is often shared by several.
            // Sometimes transposed (`U^T`): tied to the untransposed uses of the same matrix.
            6 => {
                let v = pick(&self.hs, a);
                let t = if c % 4 == 0 { "^T" } else { "" };
                self.h(format!("{v} @ U{}{t}", b % 3));
            }
            // `concat(..) @ W`.
            7 => {
                let (x, v) = (pick(&self.is, a), pick(&self.hs, b));
                let e = match c % 4 {
                    0 => format!("concat({x}, {v}) @ C0"),
                    1 => format!("concat({x}, {v}) @ C1"),
                    2 => format!("concat({x}, {v}) @ E0^T"),
                    _ => format!("concat({v}, {}) @ D0", pick(&self.hs, c / 3)),
                };
                self.h(e);
            }
            // Input-size values.
            8 => {
                let e = match b % 4 {
                    0 => format!("x[t-{}]", 1 + a % 2),
                    1 => format!("tanh({})", pick(&self.is, a)),
                    2 => format!("{} * {}", pick(&self.is, a), pick(&self.is, c)),
                    _ => format!("{} - sigmoid({})", pick(&self.is, a), pick(&self.is, c)),
                };
                let v = if b % 4 == 0 { e } else { self.def(e) };
                self.is.push(v);
            }
            // Input products.
            9 => {
                let x = pick(&self.is, a);
                if c % 4 == 0 {
                    self.h(format!("{x} @ T0^T"));
                } else {
                    self.h(format!("{x} @ W{}", b % 3));
                }
            }
            // Vector parameters, broadcast over the batch.
            10 => {
                let v = pick(&self.hs, a);
                let e = match c % 3 {
                    0 => format!("{v} * b{}", b % 3),
                    1 => format!("{v} + b{}", b % 3),
                    _ => format!("{v} * sigmoid(b{})", b % 3),
                };
                self.h(e);
            }
            // Earlier states and literals, unary minus.
            11 => {
                let p = self.prev_state(a, b);
                let e = match c % 4 {
                    0 => p,
                    1 => format!("-{p}"),
                    2 => format!("2.5 * {}", pick(&self.hs, c / 4)),
                    _ => format!("0.5 - {p}"),
                };
                self.h(e);
            }
            // Chained products: the left operand of `@` is itself a product, in one expression or
            // through an intermediate product from the pool.
            12 => {
                let (u, v) = (b % 3, (b / 3) % 3);
                let e = match c % 5 {
                    0 => format!("{} @ U{u} @ U{v}", pick(&self.hs, a)),
                    1 => format!("{} @ W{u} @ U{v}", pick(&self.is, a)),
                    2 => format!("{} @ U{u} @ U{v}", self.prev_state(a, c / 5)),
                    3 => format!(
                        "concat({}, {}) @ C{} @ U{v}",
                        pick(&self.is, a),
                        pick(&self.hs, c / 5),
                        u % 2
                    ),
                    _ => {
                        let p = self.def(format!("{} @ U{u}", pick(&self.hs, a)));
                        format!("concat({p}, {}) @ D0", pick(&self.hs, c / 5))
                    }
                };
                self.h(e);
            }
            // The next state's update.
            _ => {
                if self.updates.len() < self.case.n_states {
                    self.update_state(a, b, c);
                }
            }
        }
    }
}

fn identifiers(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic()))
        .collect()
}

/// The spec text of a case: always `cell Random { input x: [I]; state h0, ..: [H]; .. }`.
pub fn spec_text(case: &Case) -> String {
    let mut g = Gen {
        case,
        eqs: vec![],
        hs: (0..case.n_states).map(|s| format!("h{s}[t-1]")).collect(),
        is: vec!["x[t]".to_string()],
        ss: vec![],
        updates: vec![],
        counter: 0,
        masks: case
            .masks
            .iter()
            .enumerate()
            .map(|(k, m)| {
                let p = MASK_PROBABILITIES[m.p as usize % MASK_PROBABILITIES.len()];
                (format!("m{k}"), m.input_sized, p)
            })
            .collect(),
        zoneouts: vec![],
    };
    g.h("x[t] @ W0".to_string());
    for (k, &op) in case.ops.iter().enumerate() {
        g.mask_uses_at(k);
        g.op(op);
    }
    g.mask_uses_at(case.ops.len());
    let n = g.hs.len() as u8;
    while g.updates.len() < case.n_states {
        let k = g.updates.len() as u8;
        g.update_state(n.wrapping_sub(1 + k), k, n / 2 + k);
    }
    let mut outputs: Vec<String> = case
        .output
        .map(|k| {
            if k % 5 == 0 && !g.ss.is_empty() {
                pick(&g.ss, k / 5)
            } else {
                pick(&g.hs, k)
            }
        })
        .into_iter()
        .collect();
    // The output also sums every per-example value that nothing reads (so that most of the
    // generated DAG is live); with neither, the output is the first state.
    let mut read: BTreeSet<String> = BTreeSet::new();
    for text in g
        .eqs
        .iter()
        .map(|(_, e)| e)
        .chain(&g.updates)
        .chain(&outputs)
    {
        read.extend(identifiers(text).into_iter().map(str::to_string));
    }
    for v in g.hs.iter().chain(&g.ss) {
        if v.starts_with('v') && !read.contains(v) && !outputs.contains(v) {
            outputs.push(v.clone());
        }
    }
    // Sum the vectors first so that a `[1]` value never heads the sum on its own.
    outputs.sort_by_key(|o| g.ss.contains(o));
    let mut output = (!outputs.is_empty()).then(|| outputs.join(" + "));

    // Keep the intermediates that something reads (an unused one is an error).
    let mut roots: Vec<String> = g.updates.clone();
    roots.extend(output.clone());
    let mut kept = vec![false; g.eqs.len()];
    loop {
        let mut used: BTreeSet<String> = BTreeSet::new();
        for text in roots.iter().chain(
            g.eqs
                .iter()
                .zip(&kept)
                .filter(|(_, &k)| k)
                .map(|((_, e), _)| e),
        ) {
            used.extend(identifiers(text).into_iter().map(str::to_string));
        }
        let next: Vec<bool> = g.eqs.iter().map(|(n, _)| used.contains(n)).collect();
        if next == kept {
            break;
        }
        kept = next;
    }
    let mut body = String::new();
    for ((name, e), k) in g.eqs.iter().zip(&kept) {
        if *k {
            body += &format!("    {name} = {e};\n");
        }
    }
    // A mask that nothing live reads (an unused mask is an error) gets a use that needs no
    // intermediate: a zoneout of the first state's update, or a term of the output.
    let live = identifiers(&body)
        .into_iter()
        .chain(g.updates.iter().flat_map(|u| identifiers(u)))
        .chain(output.iter().flat_map(|o| identifiers(o)))
        .map(str::to_string)
        .collect::<BTreeSet<String>>();
    for (m, input_sized, _) in &g.masks {
        if live.contains(m) {
            continue;
        }
        if *input_sized {
            let term = format!("({m} * x[t]) @ W0");
            output = Some(match output {
                Some(o) => format!("{term} + {o}"),
                None => term,
            });
        } else {
            g.updates[0] = format!("{m} * h0[t-1] + (1 - {m}) * ({})", g.updates[0]);
        }
    }
    for (s, u) in g.updates.iter().enumerate() {
        body += &format!("    h{s}[t] = {u};\n");
    }
    if let Some(o) = &output {
        body += &format!("    output {o};\n");
    }
    let used = identifiers(&body);
    let mut decls = String::from("    input x: [I];\n");
    let mut functions = String::new();
    for (name, definition) in USER_FUNCTIONS {
        if used.contains(name) {
            functions += &format!("    {definition}\n");
        }
    }
    let states: Vec<String> = (0..case.n_states).map(|s| format!("h{s}")).collect();
    decls += &format!("    state {}: [H];\n", states.join(", "));
    for ((m, input_sized, p), mask) in g.masks.iter().zip(&case.masks) {
        let size = if *input_sized { "I" } else { "H" };
        let f = if mask.per_step {
            "bernoulli_per_step"
        } else {
            "bernoulli"
        };
        decls += &format!("    mask {m}: [{size}] = {f}({p});\n");
    }
    let shapes = [
        ("W", "[I, H]", 3),
        ("U", "[H, H]", 3),
        ("C", "[I + H, H]", 2),
        ("D", "[2*H, H]", 1),
        ("E", "[H, I + H]", 1),
        ("T", "[H, I]", 1),
        ("b", "[H]", 3),
    ];
    for (prefix, shape, n) in shapes {
        let names: Vec<String> = (0..n)
            .map(|k| format!("{prefix}{k}"))
            .filter(|p| used.contains(p.as_str()))
            .collect();
        if !names.is_empty() {
            decls += &format!("    param {}: {shape};\n", names.join(", "));
        }
    }
    format!("cell Random {{\n{decls}\n{functions}{body}}}\n")
}

/// The user functions the generator calls, each defined in a spec that calls it: a gated mix
/// of two values and a layer normalization (epsilon 0.1, so values stay moderate).
const USER_FUNCTIONS: [(&str, &str); 2] = [
    (
        "uf_mix",
        "fn uf_mix(v, w) = sigmoid(w) * v + (1 - sigmoid(w)) * tanh(v);",
    ),
    (
        "uf_norm",
        "fn uf_norm(v) = (v - mean(v)) / sqrt(mean((v - mean(v)) * (v - mean(v))) + 0.1);",
    ),
];

impl Case {
    /// A case drawn from `rng`, with the distribution of [`strategy`].
    pub fn random(rng: &mut impl RngExt) -> Case {
        Case::random_with(rng, 23)
    }

    /// A case drawn from `rng` with 1 to `max_ops` operations (smaller specs, for tests that
    /// compile many of them).
    pub fn random_with(rng: &mut impl RngExt, max_ops: usize) -> Case {
        let n_ops = rng.random_range(1..=max_ops.max(1));
        Case {
            n_states: rng.random_range(1..=3),
            delays: (0..3).map(|_| rng.random_range(1..=3)).collect(),
            ops: (0..n_ops).map(|_| rng.random()).collect(),
            output: rng.random::<bool>().then(|| rng.random()),
            i: rng.random_range(1..=4),
            h: rng.random_range(1..=4),
            t: rng.random_range(1..=5),
            b: rng.random_range(1..=3),
            seed: rng.random(),
            masks: vec![],
        }
        .with_random_masks()
    }

    /// The masks of a case with seed `seed`, drawn from a stream of their own (so that the other
    /// choices are those of a generator without masks): none in about 65% of the cases, one in
    /// 25%, two in 10%; each per-sequence or per-step with even odds, `[I]`-sized in a quarter of
    /// the masks, with 1-3 uses.
    pub fn random_masks(seed: u64) -> Vec<MaskCase> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ MASK_STREAM);
        let n = match rng.random_range(0..100) {
            0..65 => 0,
            65..90 => 1,
            _ => 2,
        };
        (0..n)
            .map(|_| MaskCase {
                per_step: rng.random(),
                input_sized: rng.random_range(0..4) == 0,
                p: rng.random(),
                uses: (0..rng.random_range(1..=3)).map(|_| rng.random()).collect(),
            })
            .collect()
    }

    /// This case with the masks of [`Case::random_masks`] for its seed.
    #[must_use]
    pub fn with_random_masks(mut self) -> Case {
        self.masks = Case::random_masks(self.seed);
        self
    }
}

/// Random cases as a proptest strategy (a failing case shrinks by dropping and simplifying
/// operations). The masks follow the seed ([`Case::with_random_masks`]), so a strategy written
/// before masks existed gives the same cases, masks aside; they do not shrink on their own.
#[cfg(feature = "proptest")]
pub fn strategy() -> impl proptest::strategy::Strategy<Value = Case> {
    use proptest::prelude::*;
    (
        1..=3usize,
        proptest::collection::vec(1..=3usize, 3),
        proptest::collection::vec(any::<(u8, u8, u8, u8)>(), 1..24),
        proptest::option::of(any::<u8>()),
        (1..=4usize, 1..=4usize, 1..=5usize, 1..=3usize),
        any::<u64>(),
    )
        .prop_map(|(n_states, delays, ops, output, (i, h, t, b), seed)| {
            Case {
                n_states,
                delays,
                ops,
                output,
                i,
                h,
                t,
                b,
                seed,
                masks: vec![],
            }
            .with_random_masks()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(seed: u64, n: usize) -> Vec<Case> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| Case::random_with(&mut rng, 8)).collect()
    }

    /// The same seed gives the same cases and specs; the masks follow each case's seed.
    #[test]
    fn specs_are_deterministic_per_seed() {
        let (a, b) = (cases(11, 300), cases(11, 300));
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(a.masks, b.masks);
            assert_eq!(a.masks, Case::random_masks(a.seed));
            assert_eq!(spec_text(a), spec_text(b));
        }
    }

    /// About a third of the specs declare masks, each declared once and used (the compiler's
    /// check that every generated spec compiles is `rnn-compiler/tests/differentiator.rs`).
    #[test]
    fn masks_are_declared_and_used() {
        let all = cases(12, 2000);
        let masked = all.iter().filter(|c| !c.masks.is_empty()).count();
        assert!((500..900).contains(&masked), "{masked} of 2000 with masks");
        let mut kinds = BTreeSet::new();
        for case in &all {
            let text = spec_text(case);
            assert_eq!(
                text.matches("\n    mask ").count(),
                case.masks.len(),
                "{text}"
            );
            let body = &text[text.find("\n\n").expect("declarations, then the body")..];
            for (k, mask) in case.masks.iter().enumerate() {
                let name = format!("m{k}");
                assert!(
                    identifiers(body).contains(name.as_str()),
                    "{name} unused:\n{text}"
                );
                kinds.insert((mask.per_step, mask.input_sized));
            }
        }
        assert_eq!(kinds.len(), 4, "per-step or not, [H] or [I]: {kinds:?}");
    }
}
