//! The fusion plan: which products are hoisted out of the time loop, which share
//! a left operand and become one packed GEMM per step, how the elementwise work splits into
//! fused passes between the products, and which values the backward pass keeps.
//!
//! A step runs as: stage-0 GEMMs (recurrent products), pass 0 (every elementwise node that needs
//! only those), stage-1 GEMMs (products whose left operand pass 0 computed), pass 1, ...
//! Backward mirrors it in reverse.

use std::collections::{BTreeMap, BTreeSet};

use crate::diff::Partial;
use crate::ir::{CellIr, Graph, NodeId, Op};
use crate::shape::{Dim, Shape};

/// What a group of products multiplies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lhs {
    /// The input at any delay: one GEMM over all `T * B` rows before the time loop.
    Input,
    /// `h[t-delay]`: one packed GEMM per step at the start of the step.
    State {
        /// Index of the state.
        state: usize,
        /// The delay.
        delay: usize,
    },
    /// A value computed inside the step: one packed GEMM per step after the pass computing it.
    Node(NodeId),
}

/// Products that share a left operand, computed as one GEMM with their weights packed side by
/// side (once per sequence).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The shared left operand.
    pub lhs: Lhs,
    /// The stage whose GEMMs compute it (`None` for the hoisted input group).
    pub stage: Option<usize>,
    /// Size of the left operand (rows of every weight).
    pub inner: Dim,
    /// The products, in the order their weights are packed.
    pub products: Vec<Product>,
}

/// One product `lhs @ W` of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// The product's node.
    pub node: NodeId,
    /// The matrix parameter.
    pub param: usize,
    /// For the input group: `k` in `x[t-k] @ W` (the product for step `t` is row `t - k` of the
    /// hoisted GEMM).
    pub delay: usize,
    /// Columns of `W`.
    pub width: Dim,
    /// The first row of `W` used (non-zero for the parts of `concat(..) @ W`); of `W^T` for
    /// a transposed product.
    pub row_start: Dim,
    /// `v @ W^T`: `W` is stored `[out, in]` and packed transposed.
    pub transposed: bool,
}

/// A reduction computed between passes: `r[b] = scale * sum_j arg[b, j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReductionStep {
    /// The reduction's node.
    pub node: NodeId,
    /// The stage before whose loops it runs (after the stage's GEMMs).
    pub stage: usize,
}

/// One fused elementwise loop: every node of one stage with one feature size.
#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    /// The pass.
    pub stage: usize,
    /// Feature size of every node in the loop.
    pub dim: Dim,
    /// The nodes, in topological order.
    pub nodes: Vec<NodeId>,
}

/// The plan of a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Nodes that contribute to a state or the output.
    pub live: Vec<bool>,
    /// Number of elementwise passes per step.
    pub n_stages: usize,
    /// Product groups: the hoisted input group first, then by stage.
    pub groups: Vec<Group>,
    /// For each product node: (group, index in the group).
    pub product_of: BTreeMap<NodeId, (usize, usize)>,
    /// The fused loops, by stage then feature size.
    pub loops: Vec<Loop>,
    /// Reductions over the feature axis, in topological order.
    pub reductions: Vec<ReductionStep>,
    /// For each elementwise node: its loop.
    pub loop_of: BTreeMap<NodeId, usize>,
    /// For each node that updates states: those states.
    pub state_of: BTreeMap<NodeId, Vec<usize>>,
    /// Elementwise nodes (not state updates) stored at every step, `[T, B, D]`: read by a
    /// later pass, a product, or the backward pass.
    pub saved: BTreeSet<NodeId>,
    /// Elementwise nodes whose adjoint crosses a loop boundary (a later pass or a product reads
    /// them): they get a `[B, D]` adjoint buffer per step.
    pub adjoint_buffers: BTreeSet<NodeId>,
    /// Vector parameters read elementwise (they get gradient accumulators).
    pub vector_params: BTreeSet<usize>,
    /// Values the backward pass reads that are functions of random masks and literals alone
    /// (`1 - z`): recomputed from the masks (kept anyway) instead of stored at every step.
    pub recomputed: BTreeSet<NodeId>,
}

/// Marks the nodes the roots depend on.
pub fn live_nodes(graph: &Graph, roots: impl IntoIterator<Item = NodeId>) -> Vec<bool> {
    let mut live = vec![false; graph.nodes.len()];
    let mut stack: Vec<NodeId> = roots.into_iter().filter(|&r| r < live.len()).collect();
    while let Some(n) = stack.pop() {
        if !live[n] {
            live[n] = true;
            stack.extend(graph.nodes[n].op.operands());
        }
    }
    live
}

/// Plans the step of a checked cell.
pub fn plan(cell: &CellIr, partials: &[Vec<Partial>]) -> Plan {
    let graph = &cell.graph;
    let live = live_nodes(
        graph,
        cell.states.iter().map(|s| s.update).chain([cell.output]),
    );
    let dim = |n: NodeId| match &graph.nodes[n].shape {
        Shape::Vector(d) => d.clone(),
        _ => Dim::default(),
    };

    // Stages: a product whose left operand is computed in pass s runs after it, feeding pass s+1.
    // A reduction needs its whole argument, so it runs after the pass computing it, as a
    // product does; what it feeds runs in the next pass.
    let computed = |n: NodeId| graph.nodes[n].op.is_elementwise();
    let mut stage = vec![0usize; graph.nodes.len()];
    for (n, node) in graph.nodes.iter().enumerate() {
        stage[n] = match &node.op {
            Op::MatMul { lhs, .. }
                if computed(*lhs) || matches!(graph.nodes[*lhs].op, Op::Reduce(..)) =>
            {
                stage[*lhs] + 1
            }
            Op::Reduce(_, a) if computed(*a) => stage[*a] + 1,
            Op::Reduce(_, a) => stage[*a],
            op if op.is_elementwise() => op.operands().iter().map(|&a| stage[a]).max().unwrap_or(0),
            _ => 0,
        };
    }
    let elementwise: Vec<NodeId> = (0..graph.nodes.len())
        .filter(|&n| live[n] && graph.nodes[n].op.is_elementwise())
        .collect();
    let n_stages = (0..graph.nodes.len())
        .filter(|&n| {
            live[n]
                && !matches!(
                    graph.nodes[n].op,
                    Op::Input { .. }
                        | Op::StatePrev { .. }
                        | Op::Param(_)
                        | Op::Mask(_)
                        | Op::Const(_)
                )
        })
        .map(|n| stage[n] + 1)
        .max()
        .unwrap_or(0);
    let reductions: Vec<ReductionStep> = (0..graph.nodes.len())
        .filter(|&n| live[n] && matches!(graph.nodes[n].op, Op::Reduce(..)))
        .map(|n| ReductionStep {
            node: n,
            stage: stage[n],
        })
        .collect();

    // Groups.
    let mut by_lhs: BTreeMap<Lhs, Vec<Product>> = BTreeMap::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        if let (
            true,
            Op::MatMul {
                lhs,
                param,
                row_start,
                transposed,
            },
        ) = (live[n], &node.op)
        {
            let (key, delay) = match graph.nodes[*lhs].op {
                Op::Input { delay } => (Lhs::Input, delay),
                Op::StatePrev { state, delay } => (Lhs::State { state, delay }, 0),
                _ => (Lhs::Node(*lhs), 0),
            };
            by_lhs.entry(key).or_default().push(Product {
                node: n,
                param: *param,
                delay,
                width: dim(n),
                row_start: row_start.clone(),
                transposed: *transposed,
            });
        }
    }
    let mut groups: Vec<Group> = by_lhs
        .into_iter()
        .map(|(lhs, mut products)| {
            products.sort_by_key(|p| (p.param, p.row_start.clone(), p.delay, p.node));
            let (inner, stage) = match &lhs {
                Lhs::Input => (cell.input.dim.clone(), None),
                Lhs::State { state, .. } => (cell.states[*state].dim.clone(), Some(0)),
                Lhs::Node(n) => (dim(*n), Some(stage[products[0].node])),
            };
            Group {
                lhs,
                stage,
                inner,
                products,
            }
        })
        .collect();
    groups.sort_by_key(|g| (g.stage, g.lhs.clone()));
    let mut product_of = BTreeMap::new();
    for (g, group) in groups.iter().enumerate() {
        for (i, p) in group.products.iter().enumerate() {
            product_of.insert(p.node, (g, i));
        }
    }

    // Loops.
    let mut loop_keys: BTreeMap<(usize, Dim), Vec<NodeId>> = BTreeMap::new();
    for &n in &elementwise {
        loop_keys.entry((stage[n], dim(n))).or_default().push(n);
    }
    let loops: Vec<Loop> = loop_keys
        .into_iter()
        .map(|((stage, dim), nodes)| Loop { stage, dim, nodes })
        .collect();
    let mut loop_of = BTreeMap::new();
    for (l, lp) in loops.iter().enumerate() {
        for &n in &lp.nodes {
            loop_of.insert(n, l);
        }
    }

    let mut state_of: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
    for (s, st) in cell.states.iter().enumerate() {
        state_of.entry(st.update).or_default().push(s);
    }

    // What crosses a loop boundary, and what the backward pass reads.
    let mut saved = BTreeSet::new();
    let mut adjoint_buffers = BTreeSet::new();
    let mut vector_params = BTreeSet::new();
    for (c, node) in graph.nodes.iter().enumerate() {
        if !live[c] {
            continue;
        }
        for a in node.op.operands() {
            if !graph.nodes[a].op.is_elementwise() {
                if let Op::Param(p) = graph.nodes[a].op {
                    vector_params.insert(p);
                }
                continue;
            }
            let crosses = match node.op {
                Op::MatMul { .. } | Op::Reduce(..) => true,
                _ => loop_of.get(&a) != loop_of.get(&c),
            };
            if crosses {
                saved.insert(a);
                adjoint_buffers.insert(a);
            }
        }
        if node.op.is_elementwise() {
            let mut values = vec![];
            for p in &partials[c] {
                p.factor.values(&mut values);
            }
            saved.extend(
                values
                    .into_iter()
                    .filter(|&v| graph.nodes[v].op.is_elementwise()),
            );
        }
    }
    saved.retain(|n| !state_of.contains_key(n));
    // A function of masks and literals that only the backward pass reads is recomputed there.
    let constant = crate::simplify::constants(graph);
    let recomputed: BTreeSet<NodeId> = saved
        .iter()
        .copied()
        .filter(|&n| {
            constant[n]
                && graph.nodes[n].op.is_elementwise()
                && !adjoint_buffers.contains(&n)
                && n != cell.output
                && !dim(n).is_one()
        })
        .collect();
    saved.retain(|n| !recomputed.contains(n));
    // A reduction's value lives in its own `[T, B, 1]` buffer, its adjoint in a `[B, 1]` one.
    for r in &reductions {
        saved.insert(r.node);
        adjoint_buffers.insert(r.node);
    }

    Plan {
        live,
        n_stages,
        groups,
        product_of,
        loops,
        reductions,
        loop_of,
        state_of,
        saved,
        adjoint_buffers,
        vector_params,
        recomputed,
    }
}
