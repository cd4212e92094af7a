//! Properties of the example tasks' data generators and criteria (`examples/common`).

#[path = "../examples/common/mod.rs"]
mod common;

use common::{adding, temporal_order as to};
use rnn::rand::rngs::StdRng;
use rnn::rand::SeedableRng;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
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
