//! The fusion plan (hoisted input products, packed per-step products, fused passes), checked on the structure it must have.

use rnn_compiler::plan::Lhs;

fn plan_of(spec: &str) -> rnn_compiler::plan::Plan {
    match rnn_compiler::compile_text(spec) {
        Ok(c) => c.plan,
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn lstm_hoists_input_products_and_packs_recurrent_ones() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/lstm.rnn")).unwrap();
    let plan = plan_of(&text);
    assert_eq!(plan.groups.len(), 2);
    assert_eq!(plan.groups[0].lhs, Lhs::Input);
    assert_eq!(plan.groups[0].products.len(), 4);
    assert_eq!(plan.groups[1].lhs, Lhs::State { state: 0, delay: 1 });
    assert_eq!(plan.groups[1].products.len(), 4);
    assert_eq!(plan.n_stages, 1, "one fused elementwise pass per step");
}

#[test]
fn textbook_gru_has_a_second_gemm_after_the_reset_gate() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/gru.rnn")).unwrap();
    let plan = plan_of(&text);
    assert_eq!(plan.n_stages, 2);
    let stages: Vec<Option<usize>> = plan.groups.iter().map(|g| g.stage).collect();
    assert_eq!(stages, [None, Some(0), Some(1)]);
    assert!(matches!(plan.groups[2].lhs, Lhs::Node(_)));
}

#[test]
fn concat_products_are_split_into_hoisted_and_recurrent_parts() {
    let plan = plan_of(
        "cell C { input x: [I]; state h: [H]; param W_z, W_h: [I + H, H];
          z = sigmoid(concat(x[t], h[t-1]) @ W_z);
          h[t] = (1 - z) * h[t-1] + z * tanh(concat(x[t], z * h[t-1]) @ W_h); }",
    );
    let hoisted = &plan.groups[0];
    assert_eq!(hoisted.lhs, Lhs::Input);
    assert_eq!(
        hoisted.products.len(),
        2,
        "both input parts hoisted into one GEMM"
    );
    assert!(hoisted
        .products
        .iter()
        .all(|p| p.row_start.to_string() == "0"));
    let recurrent = &plan.groups[1];
    assert_eq!(recurrent.lhs, Lhs::State { state: 0, delay: 1 });
    assert_eq!(recurrent.products.len(), 1);
    assert_eq!(recurrent.products[0].row_start.to_string(), "I");
    assert_eq!(plan.groups[2].products[0].row_start.to_string(), "I");
}

#[test]
fn a_reduction_splits_the_pass() {
    let plan = plan_of(
        "cell N { input x: [I]; state h: [H]; param W: [I, H];
          a = x[t] @ W; d = a - mean(a); h[t] = tanh(d / sqrt(mean(d * d) + 1e-5)); }",
    );
    assert_eq!(plan.reductions.len(), 2);
    assert_eq!(
        plan.reductions[0].stage, 0,
        "mean(a) of a product runs right after the GEMM"
    );
    assert_eq!(plan.reductions[1].stage, 1);
    assert_eq!(plan.n_stages, 2);
}

/// A product whose left operand is itself a product (`x[t] @ W @ V`, through an intermediate,
/// `h[t-1] @ U @ V`) multiplies a value that an elementwise pass computed and saved: every
/// computed left operand of a group is saved, and runs after the GEMM that produced it.
#[test]
fn chained_products_multiply_a_saved_value() {
    for (params, body) in [
        (
            "param W: [I, H]; param V: [H, H];",
            "h[t] = tanh(x[t] @ W @ V);",
        ),
        (
            "param W: [I, H]; param V: [H, H];",
            "a = x[t] @ W; h[t] = tanh(a @ V);",
        ),
        (
            "param W: [I, H]; param U, V: [H, H];",
            "h[t] = tanh(h[t-1] @ U @ V + x[t] @ W);",
        ),
        (
            "param W: [I, H]; param U: [H, H]; param C: [2*H, H];",
            "h[t] = tanh(concat(h[t-1] @ U, x[t] @ W) @ C);",
        ),
    ] {
        let spec = format!("cell P {{ input x: [I]; state h: [H]; {params} {body} }}");
        let compiled = rnn_compiler::compile_text(&spec).unwrap_or_else(|e| panic!("{e:?}"));
        let (graph, plan) = (&compiled.cell.graph, &compiled.plan);
        let mut computed_lhs = 0;
        for group in &plan.groups {
            if let Lhs::Node(n) = group.lhs {
                computed_lhs += 1;
                assert!(graph.nodes[n].op.is_elementwise(), "{body}: {group:?}");
                assert!(
                    plan.saved.contains(&n),
                    "{body}: left operand {n} not saved"
                );
                assert!(group.stage >= Some(1), "{body}: {group:?}");
            }
        }
        assert!(computed_lhs >= 1, "{body}: {:?}", plan.groups);
        assert_eq!(plan.n_stages, 2, "{body}");
    }
}
