//! Properties of the example tasks' data generators and criteria (`examples/common`).

#[path = "../../examples/common/mod.rs"]
mod common;

use common::{adding, arith, corpus, mackey_glass as mg, reber, temporal_order as to};
use recurrent::rand::rngs::ChaCha8Rng;
use recurrent::rand::{RngExt, SeedableRng};

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

// ---------------------------------------------------------------- adding problem

#[test]
fn adding_sequences_follow_the_paper() {
    let mut r = rng(1);
    let t = 100;
    let (mut min_len, mut max_len) = (usize::MAX, 0);
    let mut first_counts = [0usize; 10];
    let mut second_counts = vec![0usize; t / 2];
    let n = 4000;
    for _ in 0..n {
        let s = adding::generate(&mut r, t);
        let len = s.pairs.len();
        assert!((t..=t + t / 10).contains(&len));
        min_len = min_len.min(len);
        max_len = max_len.max(len);
        let (f, sec) = s.marked;
        assert!(f < 10 && sec < t / 2 && f != sec);
        first_counts[f] += 1;
        second_counts[sec] += 1;
        let marked: Vec<usize> = (0..len).filter(|&i| s.pairs[i].1 == 1.0).collect();
        let mut expect = vec![f, sec];
        expect.sort();
        assert_eq!(marked, expect, "exactly two pairs are marked 1.0");
        for (i, &(v, m)) in s.pairs.iter().enumerate() {
            assert!((-1.0..=1.0).contains(&v));
            if i == f || i == sec {
                continue;
            }
            let edge = i == 0 || i == len - 1;
            assert_eq!(m, if edge { -1.0 } else { 0.0 }, "marker at {i}");
        }
        if f == 0 {
            assert_eq!(
                s.pairs[0].0, 0.0,
                "X1 is zero when the first pair is marked"
            );
        }
        let want = 0.5 + (s.pairs[f].0 + s.pairs[sec].0) / 4.0;
        assert_eq!(s.target, want);
        assert!((0.0..=1.0).contains(&s.target));
    }
    assert_eq!((min_len, max_len), (t, t + t / 10));
    // First mark uniform over 10 positions, second roughly uniform over the first T/2.
    for c in first_counts {
        assert!(
            (300..500).contains(&c),
            "first-mark counts {first_counts:?}"
        );
    }
    for &c in &second_counts {
        assert!(
            (40..130).contains(&c),
            "second-mark counts {second_counts:?}"
        );
    }
    // Values are uniform on [-1, 1]: mean near 0, variance near 1/3.
    let vals: Vec<f64> = adding::batch(&mut r, t, 50)
        .iter()
        .flat_map(|s| s.pairs.iter().map(|p| p.0))
        .collect();
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / vals.len() as f64;
    assert!(mean.abs() < 0.03);
    assert!((var - 1.0 / 3.0).abs() < 0.02);
}

#[test]
fn adding_criterion_and_baseline() {
    assert!(adding::solved(0.539, 0.5));
    assert!(!adding::solved(0.541, 0.5));
    assert!(adding::solved(0.3, 0.3));
    let mut r = rng(2);
    let targets: Vec<f64> = adding::batch(&mut r, 30, 5000)
        .iter()
        .map(|s| s.target)
        .collect();
    // Always answering 0.5 solves P(|X1 + X2| < 0.16), about 15%.
    let acc = adding::accuracy(&vec![0.5; targets.len()], &targets);
    assert!((0.12..0.19).contains(&acc), "{acc}");
    assert_eq!(adding::accuracy(&targets, &targets), 1.0);
    // Seeded generation is reproducible.
    assert_eq!(
        adding::generate(&mut rng(7), 50),
        adding::generate(&mut rng(7), 50)
    );
}

// ---------------------------------------------------------------- temporal order

#[test]
fn temporal_order_sequences_follow_the_paper() {
    let mut r = rng(3);
    let mut class_counts = [0usize; 4];
    let (mut lens, mut t1s, mut t2s) = (vec![], vec![], vec![]);
    for s in to::batch(&mut r, 2000) {
        let len = s.tokens.len();
        assert!((100..=110).contains(&len));
        assert_eq!(s.tokens[0], to::E);
        assert_eq!(s.tokens[len - 1], to::B);
        let (p1, p2) = s.positions;
        assert!((9..=19).contains(&p1) && (49..=59).contains(&p2));
        for (i, &tok) in s.tokens.iter().enumerate() {
            if i == p1 || i == p2 {
                assert!(tok == to::X || tok == to::Y);
            } else if i != 0 && i != len - 1 {
                assert!(tok < 4, "distractor {tok} at {i}");
            }
        }
        assert_eq!(to::class_of(&s.tokens), Some(s.class));
        let want = 2 * (s.tokens[p1] == to::Y) as usize + (s.tokens[p2] == to::Y) as usize;
        assert_eq!(s.class, want);
        class_counts[s.class] += 1;
        lens.push(len);
        t1s.push(p1);
        t2s.push(p2);
    }
    for c in class_counts {
        assert!((420..580).contains(&c), "{class_counts:?}");
    }
    for (v, lo, hi) in [(&lens, 100, 110), (&t1s, 9, 19), (&t2s, 49, 59)] {
        assert_eq!(
            (*v.iter().min().unwrap(), *v.iter().max().unwrap()),
            (lo, hi)
        );
    }
    let s = to::generate(&mut r);
    let text = to::to_string(&s.tokens);
    assert!(text.starts_with('E') && text.ends_with('B'));
    assert!(to::correct(&[0.1, 0.7, 0.1, 0.1], 1));
    assert!(!to::correct(&[0.1, 0.7, 0.1, 0.1], 2));
    assert!(to::correct_paper(&[0.2, 0.8, 0.0, 0.1], 1));
    assert!(!to::correct_paper(&[0.4, 0.8, 0.0, 0.1], 1));
}

// ---------------------------------------------------------------- Reber grammars

#[test]
fn reber_known_strings() {
    for ok in ["BTXSE", "BPVVE", "BTSSXXTVVE", "BPTVPSE", "BTXXVPSE"] {
        assert!(reber::accepts_reber(&reber::from_str(ok).unwrap()), "{ok}");
    }
    for bad in ["BTXE", "BPVE", "TXSE", "BTXSEE", "", "BTSSXXTVV"] {
        assert!(
            !reber::accepts_reber(&reber::from_str(bad).unwrap()),
            "{bad}"
        );
    }
    for ok in ["BTBTXSETE", "BPBPVVEPE", "BTBPTVPSETE"] {
        assert!(reber::accepts(&reber::from_str(ok).unwrap()), "{ok}");
    }
    // The penultimate symbol must repeat the second.
    for bad in ["BTBTXSEPE", "BPBPVVETE", "BTXSE", "BTBTXSET"] {
        assert!(!reber::accepts(&reber::from_str(bad).unwrap()), "{bad}");
    }
}

#[test]
fn reber_generation_is_accepted_and_consistent_with_allowed_next() {
    let mut r = rng(4);
    let mut seen_branch = [0usize; 2];
    for _ in 0..2000 {
        let s = reber::generate_reber(&mut r);
        assert!(reber::accepts_reber(&s), "{}", reber::to_string(&s));
        for i in 0..s.len() {
            assert!(reber::allowed_next_reber(&s[..i])[s[i] as usize]);
        }
        assert_eq!(reber::allowed_next_reber(&s), [false; 7]);

        let e = reber::generate(&mut r);
        assert!(reber::accepts(&e), "{}", reber::to_string(&e));
        assert_eq!(e[0], reber::B);
        assert_eq!(*e.last().unwrap(), reber::E);
        assert_eq!(e[e.len() - 2], e[1]);
        seen_branch[(e[1] == reber::P) as usize] += 1;
        for i in 0..e.len() {
            let allowed = reber::allowed_next(&e[..i]);
            assert!(allowed[e[i] as usize], "{} at {i}", reber::to_string(&e));
            assert!(allowed.iter().filter(|&&a| a).count() <= 2);
        }
        // After the inner string's E only the remembered branch symbol is allowed.
        let mut only = [false; 7];
        only[e[1] as usize] = true;
        assert_eq!(reber::allowed_next(&e[..e.len() - 2]), only);
        assert_eq!(reber::allowed_next(&e), [false; 7]);
        let targets = reber::next_symbol_targets(&e);
        assert_eq!(targets.len(), e.len());
        let perfect: Vec<Vec<f64>> = targets
            .iter()
            .map(|t| t.iter().map(|&a| if a { 0.9 } else { 0.1 }).collect())
            .collect();
        assert!(reber::string_correct(&perfect, &e));
    }
    assert!((900..1100).contains(&seen_branch[0]), "{seen_branch:?}");
    let mut empty = [false; 7];
    empty[reber::B as usize] = true;
    assert_eq!(reber::allowed_next(&[]), empty);
    assert_eq!(reber::allowed_next(&[reber::E]), [false; 7]);
}

#[test]
fn reber_random_strings_are_mostly_rejected() {
    let mut r = rng(5);
    let mut accepted = 0;
    let n = 5000;
    for _ in 0..n {
        let len = r.random_range(5..20);
        let s: Vec<u8> = (0..len).map(|_| r.random_range(0..7)).collect();
        accepted += reber::accepts(&s) as usize;
    }
    assert!(accepted < n / 100, "{accepted}");
    // Any single-symbol change of a valid string is rejected or yields another valid one.
    let e = reber::generate(&mut r);
    let mut broken = e.clone();
    let k = e.len() - 2;
    broken[k] = if e[k] == reber::T { reber::P } else { reber::T };
    assert!(!reber::accepts(&broken));
}

// ---------------------------------------------------------------- Mackey–Glass

#[test]
fn mackey_glass_range_and_chaos() {
    let xs = mg::series(2000, mg::DEFAULT_TRANSIENT);
    assert_eq!(xs.len(), 2000);
    let (lo, hi) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(lo > 0.2 && hi < 1.4, "range [{lo}, {hi}]");
    assert!(lo < 0.5 && hi > 1.2, "covers the attractor: [{lo}, {hi}]");
    // Smooth at one step, but no lag repeats the series: not periodic (a periodic series
    // would have an autocorrelation near 1 at its period; this one peaks at about 0.78).
    assert!(mg::autocorrelation(&xs, 1) > 0.9);
    let max_far = (20..600)
        .map(|lag| mg::autocorrelation(&xs, lag))
        .fold(f64::MIN, f64::max);
    assert!(
        max_far < 0.9,
        "max autocorrelation over lags 20..600: {max_far}"
    );
    // Sensitive dependence on initial conditions: a 1e-6 change of the initial history grows
    // to the attractor's size (the largest Lyapunov exponent is small, about 0.007 per unit).
    let p = mg::Params {
        x0: 1.2 + 1e-6,
        ..mg::Params::default()
    };
    let ys = mg::series_with(&p, 500, 3000);
    let zs = mg::series(500, 3000);
    let gap = ys
        .iter()
        .zip(&zs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(gap > 0.1, "perturbed trajectory stays within {gap}");
}

#[test]
fn mackey_glass_integration_is_accurate() {
    // Halving the step changes the first 150 time units by little (RK4 with a linearly
    // interpolated delay; chaos amplifies differences only slowly over this span).
    let coarse = mg::series(150, 0);
    let fine = mg::series_with(
        &mg::Params {
            dt: 0.05,
            ..mg::Params::default()
        },
        150,
        0,
    );
    let err = coarse
        .iter()
        .zip(&fine)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-4, "{err}");
    assert_eq!(coarse[0], 1.2);
}

#[test]
fn mackey_glass_metrics() {
    let xs = mg::series(1000, 500);
    let m = mg::mean(&xs);
    assert!((mg::nrmse(&vec![m; xs.len()], &xs) - 1.0).abs() < 1e-12);
    assert_eq!(mg::nrmse(&xs, &xs), 0.0);
    let p1 = mg::persistence_nrmse(&xs, 1);
    let p6 = mg::persistence_nrmse(&xs, 6);
    assert!(p1 > 0.01 && p1 < 0.3 && p6 > p1, "{p1} {p6}");
    let (pred, target) = mg::persistence_baseline(&xs, 6);
    assert_eq!(pred.len(), xs.len() - 6);
    assert_eq!(target[0], xs[6]);
    let mut r = rng(6);
    for (inp, out) in mg::sample_windows(&mut r, &xs, 50, 3, 20) {
        assert_eq!((inp.len(), out.len()), (50, 50));
        assert_eq!(inp[3..], out[..47]);
    }
}

// ---------------------------------------------------------------- addition

#[test]
fn arith_examples_and_vocabulary() {
    let mut r = rng(8);
    let mut digit_counts = [0usize; 4];
    for ex in arith::batch(&mut r, 3, 3000) {
        let (a, b) = ex.source.split_once('+').unwrap();
        for op in [a, b] {
            assert!(op == "0" || !op.starts_with('0'), "{}", ex.source);
            assert!((1..=3).contains(&op.len()));
            digit_counts[op.len()] += 1;
        }
        assert_eq!(
            a.parse::<u64>().unwrap() + b.parse::<u64>().unwrap(),
            ex.target.parse::<u64>().unwrap()
        );
        assert_eq!((ex.a, ex.b), (a.parse().unwrap(), b.parse().unwrap()));
        assert!(ex.source.len() <= arith::max_source_len(3));
        assert!(ex.target.len() <= arith::max_target_len(3));
        let src = arith::encode(&ex.source);
        assert!(src.iter().all(|&t| (3..arith::VOCAB_SIZE).contains(&t)));
        assert_eq!(arith::decode(&src), ex.source);
        let din = arith::decoder_input(&ex.target);
        let dout = arith::decoder_target(&ex.target);
        assert_eq!(din[0], arith::START);
        assert_eq!(*dout.last().unwrap(), arith::END);
        assert_eq!(din[1..], dout[..dout.len() - 1]);
        assert!(arith::exact_match(&dout, &ex.target));
        assert!(arith::exact_match(&arith::pad(&dout, 10), &ex.target));
    }
    for c in &digit_counts[1..] {
        assert!((1800..2200).contains(c), "{digit_counts:?}");
    }
    let t = "168";
    let tok = |s: &str| arith::encode(s);
    assert!(arith::exact_match(
        &[tok(t), vec![arith::END, 3, 4]].concat(),
        t
    ));
    assert!(!arith::exact_match(
        &[tok("16"), vec![arith::END]].concat(),
        t
    ));
    assert!(!arith::exact_match(
        &[tok("1689"), vec![arith::END]].concat(),
        t
    ));
    assert!(!arith::exact_match(
        &[tok("16"), vec![arith::PAD], tok("8")].concat(),
        t
    ));
    assert!(arith::exact_match(&tok(t), t));
    assert_eq!(arith::decode(&[arith::START, 4, 9, arith::END, 5]), "16");
    let preds = vec![arith::decoder_target("12"), arith::decoder_target("13")];
    assert_eq!(
        arith::sequence_accuracy(&preds, &["12".into(), "12".into()]),
        0.5
    );
}

// ---------------------------------------------------------------- corpus

#[test]
fn corpus_is_large_deterministic_english_like_text() {
    let text = corpus::default_corpus();
    assert!(text.len() >= corpus::DEFAULT_MIN_BYTES);
    assert!(text.len() < corpus::DEFAULT_MIN_BYTES + 4096);
    assert_eq!(text, corpus::default_corpus());
    assert!(text.is_ascii());
    assert!(text.lines().all(|l| l.len() <= corpus::WRAP));
    let paragraphs: Vec<&str> = text.split("\n\n").collect();
    assert!(paragraphs.len() > 50);
    for p in &paragraphs {
        let first = p.chars().next().unwrap();
        assert!(first.is_ascii_uppercase() || first == '"', "{p}");
        assert!(p.trim_end().ends_with(['.', '?']), "{p}");
    }
    let words: std::collections::HashSet<String> = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect();
    assert!(words.len() > 300, "{} distinct words", words.len());
    for w in ["the", "children", "carries", "was", "were", "an"] {
        assert!(words.contains(w), "{w}");
    }
    assert!(!text.contains(" a apple") && !text.contains(" a old"));
    let tokens: Vec<&str> = text.split_whitespace().collect();
    assert!(
        tokens.windows(2).all(|w| w[0] != w[1]),
        "no word is doubled"
    );
    let h = corpus::unigram_entropy_bits(&text);
    assert!((3.5..4.7).contains(&h), "{h} bits per character");
    let (train, valid) = corpus::split(&text, 0.9);
    assert_eq!(train.len() + valid.len(), text.len());
    assert!(
        train.ends_with("\n\n") && (0.85..0.95).contains(&(train.len() as f64 / text.len() as f64))
    );
    // Another seed gives another text.
    assert_ne!(
        corpus::generate(&mut rng(9), 2000),
        corpus::generate(&mut rng(10), 2000)
    );
}

#[test]
fn unigram_entropy_values() {
    assert_eq!(corpus::unigram_entropy_bits(""), 0.0);
    assert_eq!(corpus::unigram_entropy_bits("aaaa"), 0.0);
    assert!((corpus::unigram_entropy_bits("abab") - 1.0).abs() < 1e-12);
    assert!((corpus::unigram_entropy_bits("abcd") - 2.0).abs() < 1e-12);
    assert!((corpus::unigram_entropy_bits("aab") - 0.918_295_834_054_489_6).abs() < 1e-12);
}
