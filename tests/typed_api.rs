//! The API without string lookups: dimensions from names (`CellDims`), for built-in cells and a
//! cell defined here.

use recurrent::cells::{Lstm, LstmDims, Narx, NarxDims};
use recurrent::{rnn_cell, Cell, CellDims, Error};

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
