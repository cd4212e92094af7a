//! The API without string lookups: dimensions from names (`CellDims`), typed state views
//! (`<Name>States`), states built by entry names (`States::set`, `States::from_named`), and
//! batch-first sequences (`Cell::forward_batch_first`, ...), for built-in cells and a cell
//! defined here.

use recurrent::cells::{Lstm, LstmDims, LstmStates, LstmStatesMut, Narx, NarxDims, NarxStates};
use recurrent::ndarray::{Array2, Array3};
use recurrent::rand::RngExt;
use recurrent::{rnn_cell, Cell, CellDims, DynCell, Error, Layout, States};

rnn_cell! {
    /// Two states of different sizes, one read with a delay of three, an input read as x[t-2].
    cell Odd {
        input x: [I];
        state h: [H], m: [M];
        param W: [I, H];
        param W2: [I, H];
        param U: [H, H];
        param U3: [H, H];
        param V: [H, M];
        param R: [M, M];

        h[t] = tanh(x[t] @ W + x[t-2] @ W2 + h[t-1] @ U + h[t-3] @ U3);
        m[t] = tanh(h[t] @ V + m[t-1] @ R);
        output m[t];
    }
}

fn random3(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let mut rng = recurrent::seeded_rng(seed);
    Array3::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
}

fn random2(shape: (usize, usize), seed: u64) -> Array2<f64> {
    let mut rng = recurrent::seeded_rng(seed);
    Array2::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
}

/// Any cell, built from dimension sizes by name.
fn build<C: Cell<f64>>(sizes: &[(&str, usize)]) -> recurrent::Result<C> {
    Ok(C::new(
        C::Dims::from_names(sizes)?,
        &mut recurrent::seeded_rng(3),
    ))
}

#[test]
fn dimensions_from_names() {
    assert_eq!(LstmDims::names(), ["I", "H"]);
    assert_eq!(OddDims::names(), ["I", "H", "M"]);
    let dims = LstmDims::from_names(&[("H", 4), ("I", 3)]).unwrap();
    assert_eq!(dims, LstmDims { I: 3, H: 4 });
    assert_eq!(dims.get("H"), Some(4));
    assert_eq!(dims.get("I"), Some(3));
    assert_eq!(dims.get("X"), None);
    assert_eq!(dims.values(), vec![3, 4]);
    assert_eq!(dims.sizes(), vec![("I", 3), ("H", 4)]);
    assert_eq!(LstmDims::from_names(&dims.sizes()).unwrap(), dims);
    let odd = OddDims::from_names(&[("M", 2), ("I", 5), ("H", 3)]).unwrap();
    assert_eq!(odd, OddDims { I: 5, H: 3, M: 2 });

    // Generic code builds any cell from names.
    let lstm: Lstm<f64> = build(&[("I", 3), ("H", 4)]).unwrap();
    assert_eq!((lstm.input_size(), lstm.output_size()), (3, 4));
    let narx: Narx<f64> = build(&[("I", 2), ("H", 5)]).unwrap();
    assert_eq!(narx.dims(), NarxDims { I: 2, H: 5 });

    // Missing, unknown, repeated and zero dimensions: one error naming each and the
    // expected names.
    // (sizes given, what the message says)
    type Case<'a> = (&'a [(&'a str, usize)], &'a [&'a str]);
    let cases: [Case<'_>; 5] = [
        (
            &[("I", 3)],
            &["missing `H`", "expected each of [I, H]", "found [I = 3]"],
        ),
        (
            &[("I", 3), ("H", 4), ("J", 2)],
            &["unknown dimension `J`", "[I, H]", "J = 2"],
        ),
        (&[("I", 0), ("H", 4)], &["`I` is 0", "at least 1"]),
        (&[("I", 3), ("I", 3), ("H", 1)], &["`I` given twice"]),
        (&[], &["missing `I`, `H`", "found []"]),
    ];
    for (sizes, expected) in cases {
        let err = LstmDims::from_names(sizes).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("LstmDims::from_names: "), "{text}");
        for e in expected {
            assert!(text.contains(e), "{e:?} not in {text}");
        }
    }
    let text = build::<Lstm<f64>>(&[("H", 4), ("X", 1)])
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("missing `I`") && text.contains("unknown dimension `X`"),
        "{text}"
    );
}

#[test]
fn typed_state_views_read_and_write_every_state_and_history() {
    let cell = Odd::<f64>::new(OddDims { I: 2, H: 3, M: 4 }, &mut recurrent::seeded_rng(1));
    let x = random3((6, 2, 2), 2);
    let fwd = cell.forward(x.view(), None, Some(&[6, 4])).unwrap();
    let s = OddStates::of(&fwd.final_states).unwrap();
    assert_eq!(s.h.shape(), &[2, 3]); // dereferences to the value [B, H]
    assert_eq!(s.m.value.shape(), &[2, 4]);
    assert_eq!(s.h.history.len(), 2, "h[t-2], h[t-3]");
    assert!(s.m.history.is_empty());
    assert_eq!(s.h.value, fwd.final_states.get("h").unwrap());
    assert_eq!(s.h.history, fwd.final_states.history("h").unwrap());
    assert_eq!(s.m.value, fwd.final_states.get("m").unwrap());
    // The typed view agrees with the per-step states of the trace.
    let every = fwd.states("m").unwrap();
    assert_eq!(s.m.row(0), every.slice(recurrent::ndarray::s![5, 0, ..]));
    assert_eq!(s.m.row(1), every.slice(recurrent::ndarray::s![3, 1, ..]));

    // Writing through the mutable view changes what the next pass reads.
    let mut init = cell.zero_states(2);
    {
        let mut v = OddStatesMut::of(&mut init).unwrap();
        v.h.fill(0.5);
        v.h.history[1].fill(-0.25);
        v.m.value[[1, 2]] = 0.75;
    }
    assert!(init.values[0].iter().all(|&v| v == 0.5));
    assert!(init.history[0][1].iter().all(|&v| v == -0.25));
    assert_eq!(init.values[1][[1, 2]], 0.75);
    let a = cell.forward(x.view(), Some(&init), None).unwrap();
    let b = cell.forward(x.view(), None, None).unwrap();
    assert_ne!(a.outputs, b.outputs);

    // Gradients of initial states are typed the same way.
    let d = random3((6, 2, 4), 3);
    let g = cell.backward(&a, d.view(), None).unwrap();
    let dg = OddStates::of(&g.initial_states).unwrap();
    assert_eq!(dg.h.history.len(), 2);
    assert!(dg.h.history[1].iter().any(|&v| v != 0.0), "h[t-3] matters");

    // The states of another cell, or states built with too few arrays, are errors.
    let lstm = Lstm::<f64>::new(LstmDims { I: 2, H: 3 }, &mut recurrent::seeded_rng(2));
    let text = OddStates::of(&lstm.zero_states(2)).unwrap_err().to_string();
    assert!(
        text.contains("states of a `Odd`") && text.contains("those of a `Lstm`"),
        "{text}"
    );
    let mut broken = lstm.zero_states(2);
    broken.values.pop();
    let text = LstmStates::of(&broken).unwrap_err().to_string();
    assert!(
        text.contains("expected 2 state values") && text.contains("found 1"),
        "{text}"
    );
    assert!(LstmStatesMut::of(&mut broken).is_err());
    let mut ok = lstm.zero_states(1);
    LstmStatesMut::of(&mut ok).unwrap().c.fill(2.0);
    assert!(LstmStates::of(&ok).unwrap().c.iter().all(|&v| v == 2.0));
}

#[test]
fn states_by_entry_names_with_histories_and_input_history() {
    let cell = Odd::<f64>::new(OddDims { I: 2, H: 3, M: 4 }, &mut recurrent::seeded_rng(4));
    let zero = cell.zero_states(2);
    assert_eq!(
        zero.entry_names(),
        ["h", "m", "h[t-2]", "h[t-3]", "x[t-1]", "x[t-2]"]
    );
    let entries = [
        ("h", random2((2, 3), 1)),
        ("m", random2((2, 4), 2)),
        ("h[t-2]", random2((2, 3), 3)),
        ("h[t-3]", random2((2, 3), 4)),
        ("x[t-1]", random2((2, 2), 5)),
        ("x[t-2]", random2((2, 2), 6)),
    ];
    let views: Vec<(&str, _)> = entries.iter().map(|(n, a)| (*n, a.view())).collect();
    let built = States::from_named(&cell, &views).unwrap();
    // The same as setting the fields by hand.
    let mut by_hand = cell.zero_states(2);
    by_hand.values = vec![entries[0].1.clone(), entries[1].1.clone()];
    by_hand.history[0] = vec![entries[2].1.clone(), entries[3].1.clone()];
    by_hand.inputs = vec![entries[4].1.clone(), entries[5].1.clone()];
    assert_eq!(built, by_hand);
    for (name, value) in &entries {
        assert_eq!(built.get(name).unwrap(), value.view(), "{name}");
    }
    assert_eq!(built.get("h[t-1]").unwrap(), entries[0].1.view());
    assert_eq!(built.get(" h [ t - 3 ] ").unwrap(), entries[3].1.view());
    // ... and what a forward pass reads: the states of a previous chunk.
    let x = random3((7, 2, 2), 7);
    let whole = cell.forward(x.view(), None, None).unwrap();
    let first = cell
        .forward(x.slice(recurrent::ndarray::s![..3, .., ..]), None, None)
        .unwrap();
    let carried: Vec<(String, Array2<f64>)> = first
        .final_states
        .entry_names()
        .into_iter()
        .map(|n| {
            let v = first.final_states.get(&n).unwrap().to_owned();
            (n, v)
        })
        .collect();
    let named: Vec<(&str, _)> = carried
        .iter()
        .map(|(n, a)| (n.as_str(), a.view()))
        .collect();
    let init = States::from_named(&cell as &dyn DynCell<f64>, &named).unwrap();
    assert_eq!(init, first.final_states);
    let second = cell
        .forward(
            x.slice(recurrent::ndarray::s![3.., .., ..]),
            Some(&init),
            None,
        )
        .unwrap();
    assert_eq!(
        second.outputs,
        whole.outputs.slice(recurrent::ndarray::s![3.., .., ..])
    );

    // `set` on zero states: one entry, the others stay zero.
    let mut s = cell.zero_states(2);
    s.set("h[t-3]", entries[3].1.view()).unwrap();
    s.set("x[t-2]", entries[5].1.view()).unwrap();
    assert_eq!(s.history[0][1], entries[3].1);
    assert_eq!(s.inputs[1], entries[5].1);
    assert!(s.values[0].iter().all(|&v| v == 0.0));
    s.get_mut("m").unwrap()[[0, 0]] = 9.0;
    assert_eq!(s.values[1][[0, 0]], 9.0);

    // Errors name the entry, the expected and the actual shapes.
    let wrong = Array2::<f64>::zeros((2, 5));
    let err = s.set("h[t-2]", wrong.view()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("`h[t-2]`") && text.contains("[2, 3]") && text.contains("[2, 5]"),
        "{text}"
    );
    for bad in [
        "h[t-4]", "x[t-3]", "x", "m[t-2]", "h[t+1]", "h[t]", "q[t-1]",
    ] {
        let text = s.set(bad, wrong.view()).unwrap_err().to_string();
        assert!(
            text.contains(bad) && text.contains("h[t-2], h[t-3], x[t-1], x[t-2]"),
            "{bad}: {text}"
        );
    }
    // A plain unknown name stays the `UnknownName` it was.
    assert!(matches!(
        s.get("q").unwrap_err(),
        Error::UnknownName { kind: "state", .. }
    ));

    // from_named: missing, repeated, unknown entries and mismatched batches.
    let partial: Vec<(&str, _)> = views[..2].to_vec();
    let text = States::from_named(&cell, &partial).unwrap_err().to_string();
    assert!(
        text.contains("missing h[t-2], h[t-3], x[t-1], x[t-2]")
            && text.contains("h [2, 3], m [2, 4], h[t-2] [2, 3]")
            && text.contains("x[t-2] [2, 2]"),
        "{text}"
    );
    let mut twice = views.clone();
    twice.push(("h[t-1]", entries[0].1.view()));
    let text = States::from_named(&cell, &twice).unwrap_err().to_string();
    assert!(text.contains("`h[t-1]` given twice"), "{text}");
    let text = States::from_named(&cell, &[]).unwrap_err().to_string();
    assert!(
        text.contains("found none") && text.contains("h [0, 3]"),
        "{text}"
    );
    let three = random2((3, 4), 1);
    let mut batch = views.clone();
    batch[1] = ("m", three.view());
    let text = States::from_named(&cell, &batch).unwrap_err().to_string();
    assert!(
        text.contains("`m`") && text.contains("[2, 4]") && text.contains("[3, 4]"),
        "{text}"
    );

    // The NARX cell: its input history is named after its input.
    let narx = Narx::<f64>::new(NarxDims { I: 2, H: 3 }, &mut recurrent::seeded_rng(1));
    assert_eq!(narx.zero_states(1).entry_names(), ["h", "h[t-2]", "x[t-1]"]);
    let (h, h2, x1) = (random2((1, 3), 1), random2((1, 3), 2), random2((1, 2), 3));
    let s = States::from_named(
        &narx,
        &[
            ("x[t-1]", x1.view()),
            ("h[t-2]", h2.view()),
            ("h", h.view()),
        ],
    )
    .unwrap();
    let v = NarxStates::of(&s).unwrap();
    assert_eq!((v.h.value, &v.h.history[0]), (h.view(), &h2));
    assert_eq!(s.input_history()[0], x1);
}

fn transposed(x: &Array3<f64>) -> Array3<f64> {
    x.view()
        .permuted_axes([1, 0, 2])
        .as_standard_layout()
        .into_owned()
}

fn batch_first_equals_time_major<C: Cell<f64>>(cell: &C, input: usize, seed: u64) {
    let (t, b) = (5, 3);
    let x = random3((t, b, input), seed); // time-major
    let xb = transposed(&x); // [B, T, I]
    let lengths = [5, 2, 0];
    let init = {
        let mut s = cell.zero_states(b);
        for a in s.arrays_mut() {
            a.mapv_inplace(|_| 0.0);
            a.iter_mut()
                .enumerate()
                .for_each(|(k, v)| *v = 0.1 * k as f64);
        }
        s
    };
    let tm = cell.forward(x.view(), Some(&init), Some(&lengths)).unwrap();
    let bf = cell
        .forward_batch_first(xb.view(), Some(&init), Some(&lengths))
        .unwrap();
    assert_eq!(bf.outputs, transposed(&tm.outputs), "outputs [B, T, O]");
    assert_eq!(bf.final_states, tm.final_states);
    let name = C::spec().states[0].name;
    assert_eq!(
        bf.states(name).unwrap(),
        transposed(&tm.states(name).unwrap())
    );
    let inf = cell
        .infer_batch_first(xb.view(), Some(&init), Some(&lengths))
        .unwrap();
    assert_eq!(inf.outputs, bf.outputs);
    assert_eq!(inf.final_states, bf.final_states);

    let d = random3(tm.outputs.dim(), seed + 1);
    let d_final = {
        let mut s = cell.zero_states(b);
        s.arrays_mut().for_each(|a| a.fill(0.3));
        s
    };
    let g_tm = cell.backward(&tm, d.view(), Some(&d_final)).unwrap();
    let g_bf = cell
        .backward_batch_first(&bf, transposed(&d).view(), Some(&d_final))
        .unwrap();
    assert_eq!(
        g_bf.inputs,
        transposed(&g_tm.inputs),
        "input gradient [B, T, I]"
    );
    assert_eq!(g_bf.params, g_tm.params);
    assert_eq!(g_bf.initial_states, g_tm.initial_states);

    // A gradient in the wrong layout is an error naming both shapes.
    let text = cell
        .backward_batch_first(&bf, d.view(), None)
        .unwrap_err()
        .to_string();
    let o = tm.outputs.dim().2;
    assert!(
        text.contains(&format!("[{b}, {t}, {o}]")) && text.contains(&format!("[{t}, {b}, {o}]")),
        "{text}"
    );
    // A batch-first input of the wrong size is named in its own layout.
    let bad = Array3::<f64>::zeros((b, t, input + 1));
    let text = cell
        .forward_batch_first(bad.view(), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(&format!("[B, T, {input}]"))
            && text.contains(&format!("[{b}, {t}, {}]", input + 1)),
        "{text}"
    );
    assert!(cell.infer_batch_first(bad.view(), None, None).is_err());
}

#[test]
fn batch_first_cells_give_the_time_major_numbers_exactly() {
    batch_first_equals_time_major(
        &Lstm::<f64>::new(LstmDims { I: 3, H: 4 }, &mut recurrent::seeded_rng(1)),
        3,
        10,
    );
    batch_first_equals_time_major(
        &Odd::<f64>::new(OddDims { I: 2, H: 3, M: 2 }, &mut recurrent::seeded_rng(2)),
        2,
        20,
    );
    assert_eq!(Layout::default(), Layout::TimeMajor);
    let x = random3((2, 3, 4), 1);
    assert_eq!(
        Layout::BatchFirst.to_time_major(x.view()).shape(),
        &[3, 2, 4]
    );
    assert_eq!(Layout::TimeMajor.arrange(x.view()), x);
}
