//! [`CellAst`] -> [`CellIr`]: resolves names, orders the equations by their dependencies,
//! builds the step's DAG (sharing equal subexpressions) and checks every shape on the way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use crate::ast::*;
use crate::check::{self, Operand};
use crate::diagnostic::{Diagnostic, Diagnostics, Pos};
use crate::ir::*;
use crate::shape::{Dim, Shape};

/// Lowers a parsed spec, reporting every error found.
pub fn lower(ast: &CellAst) -> Result<CellIr, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let decls = Declarations::collect(ast, &mut diags);
    let equations = Equations::collect(ast, &decls, &mut diags);
    let mut lowerer = Lowerer {
        ast,
        decls: &decls,
        equations: &equations,
        graph: Graph::default(),
        interned: HashMap::new(),
        texts: vec![],
        intermediates: HashMap::new(),
        updates: HashMap::new(),
        visiting: vec![],
        referenced: HashSet::new(),
        param_used: vec![false; decls.params.len()],
        mask_used: vec![false; decls.masks.len()],
        param_fits: vec![false; decls.params.len()],
        transposed: vec![],
        delays: vec![1; decls.states.len()],
        functions: HashMap::new(),
        bound: Scope::default(),
        bound_used: HashSet::new(),
        calling: vec![],
        called: HashSet::new(),
        expanded: HashSet::new(),
        expansions: 0,
        diags: &mut diags,
    };
    lowerer.collect_functions();

    // Lower every equation (also unused ones, so their errors are reported), states first.
    let mut state_nodes = vec![None; decls.states.len()];
    for (s, node) in state_nodes.iter_mut().enumerate() {
        if equations.updates.contains_key(&s) {
            *node = Some(lowerer.state_update(s, None));
        }
    }
    let output = ast.outputs.first().map(|e| (lowerer.expr(e), e));
    for name in equations.intermediates.keys() {
        lowerer.intermediate(name, None);
    }
    for &i in &equations.rejected {
        lowerer.expr(&ast.equations[i].expr);
    }
    lowerer.report_unused_functions();
    let Lowerer {
        graph,
        param_used,
        mask_used,
        param_fits,
        transposed,
        delays,
        texts,
        referenced,
        intermediates,
        ..
    } = lowerer;

    // A product whose matrix would fit transposed: the hint that it looks transposed is given
    // unless another product uses the matrix as declared.
    for t in &transposed {
        let param = &decls.params[t.param];
        check::inner_mismatch(
            &Operand {
                shape: &t.lhs_shape,
                text: &t.lhs_text,
                pos: t.lhs_pos,
                param: None,
            },
            &Operand {
                shape: &param.shape,
                text: &param.name,
                pos: t.pos,
                param: Some(&param.name),
            },
            t.pos,
            !param_fits[t.param],
            &mut diags,
        );
    }
    let mut graph = graph;

    for (s, st) in decls.states.iter().enumerate() {
        if state_nodes[s].is_none() && !equations.attempted.contains(&s) {
            diags.error(
                st.pos,
                format!(
                    "state `{0}` has no update equation; expected one equation `{0}[t] = ...`",
                    st.name
                ),
            );
        }
    }
    for (p, used) in param_used.iter().enumerate() {
        if !used {
            let param = &decls.params[p];
            diags.error(
                param.pos,
                format!(
                    "unused parameter `{}`: it appears in no equation; remove it or use it",
                    param.name
                ),
            );
        }
    }
    for (m, used) in mask_used.iter().enumerate() {
        if !used {
            let (mask, pos) = &decls.masks[m];
            diags.error(
                *pos,
                format!(
                    "unused mask `{}`: it appears in no equation; remove it or multiply a value by it",
                    mask.name
                ),
            );
        }
    }
    for extra in ast.outputs.iter().skip(1) {
        diags.error(
            extra.pos,
            "a second `output`: a cell emits one value per step; expected one `output` statement",
        );
    }

    // States and the output are materialized values: a leaf or a product gets a copy node.
    let materialize = |graph: &mut Graph, n: NodeId| {
        if graph.nodes[n].op.is_elementwise() || graph.nodes[n].shape == Shape::Error {
            n
        } else {
            let node = Node {
                op: Op::Copy(n),
                shape: graph.nodes[n].shape.clone(),
                pos: graph.nodes[n].pos,
                text: graph.nodes[n].text.clone(),
            };
            graph.nodes.push(node);
            graph.nodes.len() - 1
        }
    };
    let mut states = vec![];
    for (s, st) in decls.states.iter().enumerate() {
        let update = state_nodes[s].unwrap_or(0);
        if let Some(n) = state_nodes[s] {
            let eq = &ast.equations[equations.updates[&s]];
            check::state_update(
                &st.name,
                &st.shape,
                &graph.nodes[n].shape,
                eq.expr.pos,
                &mut diags,
            );
        }
        let update = if state_nodes[s].is_some() {
            materialize(&mut graph, update)
        } else {
            0
        };
        states.push(StateIr {
            name: st.name.clone(),
            dim: match &st.shape {
                Shape::Vector(d) => d.clone(),
                _ => Dim::default(),
            },
            delay: delays[s],
            update,
            docs: st.docs.clone(),
        });
    }
    let (output, output_text) = match output {
        Some((n, e)) => {
            if !matches!(graph.nodes[n].shape, Shape::Vector(_) | Shape::Error) {
                diags.error(
                    e.pos,
                    format!(
                        "the output must be a per-example vector, found `{e}` ({})",
                        graph.nodes[n].shape
                    ),
                );
            }
            (materialize(&mut graph, n), e.to_string())
        }
        None => match states.first() {
            Some(s) => (s.update, format!("{}[t]", s.name)),
            None => {
                diags.error(
                    ast.name.pos,
                    "a cell needs at least one state; expected a declaration `state h: [H];`",
                );
                (0, String::new())
            }
        },
    };

    // An intermediate that no equation reads is almost always a typo in a later equation.
    for (name, &i) in &equations.intermediates {
        if !referenced.contains(name) {
            let eq = &ast.equations[i];
            diags.error(
                eq.target.pos,
                format!("intermediate `{name}` is never used by a state update, another equation or the output"),
            );
        }
    }
    drop(texts);

    let input = decls.input.clone().unwrap_or(InputIr {
        name: String::new(),
        dim: Dim::default(),
    });
    let params = decls
        .params
        .iter()
        .map(|p| ParamIr {
            name: p.name.clone(),
            shape: p.shape.clone(),
            init: p.init,
            docs: p.docs.clone(),
        })
        .collect();
    // The user functions first, as written, then the equations.
    let equations_text = ast
        .functions
        .iter()
        .map(FunctionDef::text)
        .chain(ast.equations.iter().map(|e| match &e.time {
            Some(t) => format!("{}[{}] = {};", e.target.text, t.text(), e.expr),
            None => format!("{} = {};", e.target.text, e.expr),
        }))
        .collect();
    let mut names: BTreeMap<NodeId, String> =
        intermediates.iter().map(|(k, &n)| (n, k.clone())).collect();
    for st in &states {
        names.insert(st.update, format!("{}[t]", st.name));
    }
    let ir = CellIr {
        names,
        name: ast.name.text.clone(),
        vis: ast.vis,
        docs: ast.docs.clone(),
        dims: decls.dim_names.clone(),
        input,
        states,
        params,
        masks: decls.masks.iter().map(|(m, _)| m.clone()).collect(),
        output,
        output_text,
        equations: equations_text,
        graph,
    };
    diags.finish(ir)
}

/// The largest coefficient or constant in a dimension expression (sizes are `usize` at run time).
const MAX_DIM: i64 = 1 << 31;

/// The largest delay `k` in `x[t-k]`, `h[t-k]`: a state keeps `k` rows of history per example.
const MAX_DELAY: i64 = 1 << 16;

/// A declared state or parameter.
struct Declared {
    name: String,
    shape: Shape,
    pos: Pos,
    init: InitIr,
    docs: Vec<String>,
}

/// The declarations of a cell, with every name's kind.
struct Declarations {
    input: Option<InputIr>,
    input_pos: Pos,
    states: Vec<Declared>,
    params: Vec<Declared>,
    /// The masks, with where each was declared.
    masks: Vec<(MaskIr, Pos)>,
    kinds: HashMap<String, (DeclKind, usize)>,
    dim_names: Vec<String>,
    /// Names of refused second inputs: their uses are not reported again as unknown names.
    refused_inputs: HashSet<String>,
}

impl Declarations {
    fn collect(ast: &CellAst, diags: &mut Diagnostics) -> Self {
        let mut d = Declarations {
            input: None,
            input_pos: Pos::default(),
            states: vec![],
            params: vec![],
            masks: vec![],
            kinds: HashMap::new(),
            dim_names: vec![],
            refused_inputs: HashSet::new(),
        };
        if check::rust_identifier(&ast.name.text, "cell", ast.name.pos, diags) {
            check::cell_name(&ast.name.text, ast.name.pos, diags);
        }
        for decl in &ast.decls {
            let name = &decl.name.text;
            if decl.kind == DeclKind::Param
                && check::rust_identifier(name, "parameter", decl.name.pos, diags)
            {
                check::parameter_accessors(name, decl.name.pos, diags);
            }
            // A state names a field of the generated `<Name>States` views.
            if decl.kind == DeclKind::State {
                check::rust_identifier(name, "state", decl.name.pos, diags);
            }
            for dim in &decl.shape.dims {
                for (_, sym) in &dim.terms {
                    if let Some(sym) = sym {
                        check::rust_identifier(sym, "dimension", dim.pos, diags);
                    }
                }
            }
            if let Some((kind, _)) = d.kinds.get(name) {
                diags.error(
                    decl.name.pos,
                    format!(
                        "duplicate name `{name}`: already declared as {}; expected a new name",
                        kind_word(*kind)
                    ),
                );
                continue;
            }
            let shape = d.shape(&decl.shape, diags);
            match decl.kind {
                DeclKind::Input => {
                    if let Some(first) = &d.input {
                        let combined = match &shape {
                            Shape::Vector(dim) => first.dim.plus(dim).to_string(),
                            _ => format!("{} + ...", first.dim),
                        };
                        diags.error(
                            decl.name.pos,
                            format!(
                                "a second input `{name}`: a cell has one input; concatenate the \
                                 inputs into one, `input {0}: [{combined}];` (each row the \
                                 features of `{0}`, then those of `{name}`), whose product \
                                 `{0}[t] @ W` with `W: [{combined}, out]` is the sum of the two \
                                 inputs' products",
                                first.name
                            ),
                        );
                        d.refused_inputs.insert(name.clone());
                        continue;
                    }
                    let dim = vector_dim(&shape, "an input", &decl.shape, diags);
                    d.input = Some(InputIr {
                        name: name.clone(),
                        dim,
                    });
                    d.input_pos = decl.name.pos;
                    d.kinds.insert(name.clone(), (DeclKind::Input, 0));
                }
                DeclKind::State => {
                    vector_dim(&shape, "a state", &decl.shape, diags);
                    d.kinds
                        .insert(name.clone(), (DeclKind::State, d.states.len()));
                    d.states.push(Declared {
                        name: name.clone(),
                        shape,
                        pos: decl.name.pos,
                        init: InitIr::Zeros,
                        docs: decl.docs.clone(),
                    });
                }
                DeclKind::Mask => {
                    let dim = vector_dim(&shape, "a mask", &decl.shape, diags);
                    let (p, per_step) = distribution(&decl.name, decl.init.as_ref(), diags);
                    d.kinds
                        .insert(name.clone(), (DeclKind::Mask, d.masks.len()));
                    d.masks.push((
                        MaskIr {
                            name: name.clone(),
                            dim,
                            p,
                            per_step,
                            docs: decl.docs.clone(),
                        },
                        decl.name.pos,
                    ));
                }
                DeclKind::Param => {
                    if !matches!(shape, Shape::Vector(_) | Shape::Matrix(..) | Shape::Error) {
                        diags.error(
                            decl.shape.pos,
                            format!("parameter `{name}` has shape {}: expected a vector [D] or a matrix [D, E]", shape_text(&decl.shape)),
                        );
                    }
                    let init = initializer(decl.init.as_ref(), &shape, diags);
                    d.kinds
                        .insert(name.clone(), (DeclKind::Param, d.params.len()));
                    d.params.push(Declared {
                        name: name.clone(),
                        shape,
                        pos: decl.name.pos,
                        init,
                        docs: decl.docs.clone(),
                    });
                }
            }
        }
        let params: Vec<(&str, Pos)> = d.params.iter().map(|p| (p.name.as_str(), p.pos)).collect();
        check::parameter_accessor_clash(&params, diags);
        if d.input.is_none() {
            diags.error(
                ast.name.pos,
                format!(
                    "cell `{}` has no input; expected a declaration `input x: [I];`",
                    ast.name.text
                ),
            );
        }
        d
    }

    fn shape(&mut self, shape: &ShapeAst, diags: &mut Diagnostics) -> Shape {
        let mut dims = vec![];
        for dim in &shape.dims {
            let mut out = Dim::default();
            let mut ok = true;
            for (k, (coef, sym)) in dim.terms.iter().enumerate() {
                if *coef > MAX_DIM {
                    let written = dim.literals.get(k).map_or("", String::as_str);
                    diags.error(
                        dim.pos,
                        format!(
                            "dimension coefficient {written} is too large: expected at most {MAX_DIM}"
                        ),
                    );
                    ok = false;
                    continue;
                }
                if *coef <= 0 {
                    diags.error(dim.pos, "dimension expressions add positive terms (`I + H`, `2*H`); found a subtraction or a zero");
                    ok = false;
                    continue;
                }
                match sym {
                    Some(s) => {
                        if !self.dim_names.contains(s) {
                            self.dim_names.push(s.clone());
                        }
                        let term = out.terms.entry(s.clone()).or_insert(0);
                        *term = term.saturating_add(*coef).min(MAX_DIM);
                    }
                    None => out.constant = out.constant.saturating_add(*coef).min(MAX_DIM),
                }
            }
            if !ok {
                return Shape::Error;
            }
            dims.push(out);
        }
        match dims.len() {
            0 => Shape::Scalar,
            1 => Shape::Vector(dims.remove(0)),
            2 => {
                let b = dims.remove(1);
                Shape::Matrix(dims.remove(0), b)
            }
            _ => {
                diags.error(
                    shape.pos,
                    format!(
                        "shape {} has {} dimensions: expected [D] or [D, E]",
                        shape_text(shape),
                        dims.len()
                    ),
                );
                Shape::Error
            }
        }
    }
}

fn shape_text(shape: &ShapeAst) -> String {
    let dims: Vec<String> = shape
        .dims
        .iter()
        .map(|d| {
            d.terms
                .iter()
                .map(|(c, s)| match s {
                    Some(s) if *c == 1 => s.clone(),
                    Some(s) => format!("{c}*{s}"),
                    None => c.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    format!("[{}]", dims.join(", "))
}

fn vector_dim(shape: &Shape, what: &str, ast: &ShapeAst, diags: &mut Diagnostics) -> Dim {
    match shape {
        Shape::Vector(d) => d.clone(),
        Shape::Error => Dim::default(),
        _ => {
            diags.error(
                ast.pos,
                format!(
                    "{what} is a vector per example: expected a shape like [H], found {}",
                    shape_text(ast)
                ),
            );
            Dim::default()
        }
    }
}

fn kind_word(kind: DeclKind) -> &'static str {
    match kind {
        DeclKind::Input => "an input",
        DeclKind::State => "a state",
        DeclKind::Param => "a parameter",
        DeclKind::Mask => "a mask",
    }
}

/// The distribution of mask `name`: (probability of a 1, drawn at every step).
fn distribution(name: &Name, init: Option<&InitAst>, diags: &mut Diagnostics) -> (f64, bool) {
    const EXPECTED: &str = "`bernoulli(p)` (drawn once per sequence and example) or \
                            `bernoulli_per_step(p)` (drawn at every step), with 0 <= p <= 1 the \
                            probability of a 1";
    match init {
        None => diags.error(
            name.pos,
            format!(
                "mask `{0}` needs its distribution: expected `mask {0}: [H] = bernoulli(p);`, \
                 with {EXPECTED}",
                name.text
            ),
        ),
        Some(InitAst::Constant(_, pos)) => {
            diags.error(*pos, format!("a mask is random: expected {EXPECTED}"))
        }
        Some(InitAst::Named(f, arg)) => {
            let per_step = match f.text.as_str() {
                "bernoulli" => false,
                "bernoulli_per_step" => true,
                other => {
                    diags.error(
                        f.pos,
                        format!("unknown distribution `{other}`: expected {EXPECTED}"),
                    );
                    return (1.0, false);
                }
            };
            match arg {
                Some((p, _)) if (0.0..=1.0).contains(p) => return (*p, per_step),
                Some((p, pos)) => diags.error(
                    *pos,
                    format!("`{}({p})`: expected a probability 0 <= p <= 1", f.text),
                ),
                None => diags.error(
                    f.pos,
                    format!("`{}` needs its probability: expected {EXPECTED}", f.text),
                ),
            }
        }
    }
    (1.0, false)
}

fn initializer(init: Option<&InitAst>, shape: &Shape, diags: &mut Diagnostics) -> InitIr {
    const KNOWN: &str = "a number, `zeros`, `ones`, `uniform(a)`, `xavier` or `orthogonal`";
    match init {
        None => InitIr::Default,
        Some(InitAst::Constant(v, pos)) => {
            if !v.is_finite() {
                diags.error(
                    *pos,
                    format!("initial value {v} is not finite: expected a finite number"),
                );
            } else {
                check::f32_range(*v, "initial value", *pos, diags);
            }
            InitIr::Constant(*v)
        }
        Some(InitAst::Named(name, arg)) => {
            let ir = match (name.text.as_str(), arg) {
                ("zeros", None) => InitIr::Zeros,
                ("ones", None) => InitIr::Ones,
                ("xavier", None) => InitIr::Xavier,
                ("orthogonal", None) => InitIr::Orthogonal,
                ("uniform", Some((a, pos))) if a.is_finite() && *a > 0.0 => {
                    check::f32_range(*a, "the bound of `uniform`", *pos, diags);
                    InitIr::Uniform(*a)
                }
                ("uniform", Some((a, _))) => {
                    diags.error(name.pos, format!("`uniform({a})`: expected a finite positive bound a for uniform on [-a, a]"));
                    return InitIr::Default;
                }
                ("uniform", None) => {
                    diags.error(
                        name.pos,
                        "`uniform` needs its bound: expected `uniform(a)` for uniform on [-a, a]",
                    );
                    return InitIr::Default;
                }
                ("zeros" | "ones" | "xavier" | "orthogonal", Some(_)) => {
                    diags.error(
                        name.pos,
                        format!("initializer `{}` takes no argument", name.text),
                    );
                    return InitIr::Default;
                }
                ("bernoulli" | "bernoulli_per_step", _) => {
                    diags.error(
                        name.pos,
                        format!(
                            "`{}` is the distribution of a random mask, not an initializer: \
                             declare `mask m: [H] = {}(p);` and multiply a value by `m`; a \
                             parameter's initializer is {KNOWN}",
                            name.text, name.text
                        ),
                    );
                    return InitIr::Default;
                }
                _ => {
                    diags.error(
                        name.pos,
                        format!("unknown initializer `{}`: expected {KNOWN}", name.text),
                    );
                    return InitIr::Default;
                }
            };
            if ir == InitIr::Orthogonal && !matches!(shape, Shape::Matrix(..)) {
                diags.error(
                    name.pos,
                    "`orthogonal` initializes a matrix: expected a parameter of shape [D, E]",
                );
            }
            ir
        }
    }
}

/// The equations, by what they define.
struct Equations {
    intermediates: BTreeMap<String, usize>,
    updates: HashMap<usize, usize>,
    /// Equations whose target was rejected: their right-hand sides are still checked.
    rejected: Vec<usize>,
    /// States with at least one equation aimed at them (even a rejected one).
    attempted: HashSet<usize>,
}

impl Equations {
    fn collect(ast: &CellAst, decls: &Declarations, diags: &mut Diagnostics) -> Self {
        let mut e = Equations {
            intermediates: BTreeMap::new(),
            updates: HashMap::new(),
            rejected: vec![],
            attempted: HashSet::new(),
        };
        for (i, eq) in ast.equations.iter().enumerate() {
            let name = &eq.target.text;
            let pos = eq.target.pos;
            let before = diags.len();
            if let Some((DeclKind::State, s)) = decls.kinds.get(name) {
                e.attempted.insert(*s);
            }
            match (decls.kinds.get(name), &eq.time) {
                (Some((DeclKind::State, s)), Some(t)) => {
                    if t.offset != 0 {
                        diags.error(t.pos, format!("an update defines the state at step t: expected `{name}[t] = ...`, found `{name}[{}]`", t.text()));
                    } else if e.updates.contains_key(s) {
                        diags.error(pos, format!("state `{name}` has two update equations; expected exactly one `{name}[t] = ...`"));
                    } else {
                        e.updates.insert(*s, i);
                    }
                }
                (Some((DeclKind::State, _)), None) => diags.error(pos, format!("`{name}` is a state: its update is written `{name}[t] = ...`")),
                (Some((kind, _)), _) => diags.error(
                    pos,
                    format!("`{name}` is {} and cannot be assigned; expected a state update `h[t] = ...` or a new intermediate name", kind_word(*kind)),
                ),
                (None, Some(_)) => diags.error(
                    pos,
                    format!("`{name}[t]` is not a declared state; declare it (`state {name}: [H];`) or write `{name} = ...` for an intermediate"),
                ),
                (None, None) => {
                    if e.intermediates.contains_key(name) {
                        diags.error(pos, format!("duplicate name `{name}`: it is already defined by an earlier equation"));
                    } else {
                        e.intermediates.insert(name.clone(), i);
                    }
                }
            }
            if diags.len() > before {
                e.rejected.push(i);
            }
        }
        e
    }
}

/// Builds the DAG, resolving names on demand (so equations are order-free) and detecting cycles.
/// The names a call may have besides the functions of one argument ([`Func::UNARY`]): the
/// functions with literal arguments, `max`/`min`, the reductions and the forms of `@`. A user
/// function cannot take one of them.
const OTHER_CALLS: [&str; 10] = [
    "elu",
    "leaky_relu",
    "pow",
    "clamp",
    "max",
    "min",
    "mean",
    "sum",
    "concat",
    "transpose",
];

/// The most user-function bodies one cell may expand (a function calling another twice, nested
/// 30 deep, would otherwise expand a billion times).
const MAX_EXPANSIONS: usize = 20_000;

/// The longest argument text shown in the texts of a function's body (longer ones are
/// abbreviated as `(…)`).
const MAX_ARGUMENT_TEXT: usize = 80;

/// The arguments of the user function being expanded, by name.
type Scope = Rc<HashMap<String, Rc<Binding>>>;

/// One argument of a user function call: the expression passed, lowered the first time the
/// body reads it (in the caller's scope), so that the nodes come in the order a hand-expanded
/// spec would create them.
struct Binding {
    /// The function (its index in `ast.functions`) and the argument's position.
    def: usize,
    index: usize,
    /// The expression passed, as written by the caller.
    arg: Expr,
    /// The same with the caller's own arguments written out (for texts).
    written: Expr,
    /// The caller's scope and expansion depth, where `arg` is lowered.
    caller: Scope,
    depth: usize,
    /// The value, once lowered.
    value: std::cell::Cell<Option<NodeId>>,
}

struct Lowerer<'a> {
    ast: &'a CellAst,
    decls: &'a Declarations,
    equations: &'a Equations,
    graph: Graph,
    /// Structural key -> node, so `x[t] @ W` written twice is computed once.
    interned: HashMap<String, NodeId>,
    /// The text of each node, for messages.
    texts: Vec<String>,
    intermediates: HashMap<String, NodeId>,
    updates: HashMap<usize, NodeId>,
    /// Definitions being resolved, for cycle detection.
    visiting: Vec<String>,
    /// Intermediates read by some expression.
    referenced: HashSet<String>,
    param_used: Vec<bool>,
    mask_used: Vec<bool>,
    /// Matrix parameters used as declared by some product.
    param_fits: Vec<bool>,
    /// Products whose matrix looks transposed, reported after every product is checked.
    transposed: Vec<Transposed>,
    delays: Vec<usize>,
    /// User functions by name: their index in `ast.functions`.
    functions: HashMap<String, usize>,
    /// While a user function's body is lowered: its arguments by name.
    bound: Scope,
    /// (function, argument) pairs read by some body.
    bound_used: HashSet<(usize, usize)>,
    /// The user functions being expanded, innermost last (recursion is an error).
    calling: Vec<usize>,
    /// User functions called at least once.
    called: HashSet<usize>,
    /// User functions whose body was lowered at least once (called with the right arity).
    expanded: HashSet<usize>,
    /// Bodies lowered so far, against [`MAX_EXPANSIONS`].
    expansions: usize,
    diags: &'a mut Diagnostics,
}

/// `a @ W` where `W` would fit transposed (`a: [D]`, `W: [E, D]`), and `E` is not the input's
/// size (a product rarely yields one): likely a PyTorch-style `[out, in]` matrix.
struct Transposed {
    param: usize,
    lhs_shape: Shape,
    lhs_text: String,
    lhs_pos: Pos,
    pos: Pos,
}

impl Lowerer<'_> {
    fn node(&mut self, op: Op, shape: Shape, pos: Pos, text: String) -> NodeId {
        let key = format!("{op:?}|{shape:?}");
        if shape != Shape::Error {
            if let Some(&n) = self.interned.get(&key) {
                return n;
            }
        }
        self.graph.nodes.push(Node {
            op,
            shape,
            pos,
            text: text.clone(),
        });
        self.texts.push(text);
        let n = self.graph.nodes.len() - 1;
        self.interned.insert(key, n);
        n
    }

    /// A literal or a folded constant expression; it must be finite, since a constant
    /// infinity or NaN poisons every value that it touches.
    fn constant(&mut self, v: f64, pos: Pos, text: String) -> NodeId {
        if !v.is_finite() {
            self.diags.error(
                pos,
                format!("constant `{text}` evaluates to {v}: expected a finite number"),
            );
            return self.error_node(pos);
        }
        if !check::f32_range(v, "constant", pos, self.diags) {
            return self.error_node(pos);
        }
        self.node(Op::Const(v), Shape::Scalar, pos, text)
    }

    fn error_node(&mut self, pos: Pos) -> NodeId {
        self.node(Op::Const(0.0), Shape::Error, pos, "<error>".into())
    }

    fn operand(&self, n: NodeId, pos: Pos) -> (Shape, String, Pos, Option<String>) {
        let param = match self.graph.nodes[n].op {
            Op::Param(p) => Some(self.decls.params[p].name.clone()),
            _ => None,
        };
        (
            self.graph.nodes[n].shape.clone(),
            self.texts[n].clone(),
            pos,
            param,
        )
    }

    /// Resolves a definition (`name` for an intermediate, `name[t]` for a state update),
    /// reporting a cycle if it is already being resolved.
    fn enter(&mut self, key: String, pos: Pos) -> bool {
        if let Some(i) = self.visiting.iter().position(|k| *k == key) {
            let mut chain: Vec<&str> = self.visiting[i..].iter().map(String::as_str).collect();
            chain.push(&key);
            self.diags.error(
                pos,
                format!(
                    "cycle among the equations of one step: `{key}` depends on itself ({}); \
                     expected a reference to an earlier step such as `[t-1]`",
                    chain.join(" -> ")
                ),
            );
            return false;
        }
        self.visiting.push(key);
        true
    }

    /// An equation's right-hand side, lowered in the cell's scope even when it is first
    /// needed inside a user function's body (whose argument names must not leak into it).
    fn top_level_expr(&mut self, e: &Expr) -> NodeId {
        let outer = std::mem::take(&mut self.bound);
        let calling = std::mem::take(&mut self.calling);
        let n = self.expr(e);
        self.bound = outer;
        self.calling = calling;
        n
    }

    fn intermediate(&mut self, name: &str, pos: Option<Pos>) -> NodeId {
        if pos.is_some() {
            self.referenced.insert(name.to_string());
        }
        if let Some(&n) = self.intermediates.get(name) {
            return n;
        }
        let eq_index = self.equations.intermediates[name];
        let eq = self.ast.equations[eq_index].clone();
        if !self.enter(name.to_string(), pos.unwrap_or(eq.target.pos)) {
            return self.error_node(pos.unwrap_or(eq.target.pos));
        }
        let n = self.top_level_expr(&eq.expr);
        self.visiting.pop();
        self.intermediates.insert(name.to_string(), n);
        n
    }

    /// Resolves `h[t]`; `reference` is where it is read (a cycle is reported there).
    fn state_update(&mut self, s: usize, reference: Option<Pos>) -> NodeId {
        if let Some(&n) = self.updates.get(&s) {
            return n;
        }
        let eq = self.ast.equations[self.equations.updates[&s]].clone();
        let key = format!("{}[t]", self.decls.states[s].name);
        let at = reference.unwrap_or(eq.target.pos);
        if !self.enter(key, at) {
            return self.error_node(at);
        }
        let n = self.top_level_expr(&eq.expr);
        self.visiting.pop();
        self.updates.insert(s, n);
        n
    }

    fn expr(&mut self, e: &Expr) -> NodeId {
        // Inside a user function, shown with the arguments written out (`(h[t-1] @ U) -
        // mean(h[t-1] @ U)`, not `v - mean(v)`), so that messages and `explain` read in the
        // caller's terms.
        let text = if self.bound.is_empty() {
            e.to_string()
        } else {
            self.substitute(e).to_string()
        };
        match &e.kind {
            ExprKind::Number(v) => self.constant(*v, e.pos, text),
            ExprKind::Name(n) => self.name(n, e.pos),
            ExprKind::Indexed(n, t) => self.indexed(n, t, e.pos),
            ExprKind::Call(f, args) => self.call(f, args, e.pos, text),
            ExprKind::Neg(a) => {
                let a = self.expr(a);
                if let Op::Const(v) = self.graph.nodes[a].op {
                    if self.graph.nodes[a].shape == Shape::Scalar {
                        return self.constant(-v, e.pos, text);
                    }
                }
                let (shape, t, p, param) = self.operand(a, e.pos);
                let operand = Operand {
                    shape: &shape,
                    text: &t,
                    pos: p,
                    param: param.as_deref(),
                };
                let shape = if shape == Shape::Error
                    || !check::no_matrix_elementwise(&operand, "`-`", self.diags)
                {
                    Shape::Error
                } else {
                    shape
                };
                self.node(Op::Neg(a), shape, e.pos, text)
            }
            ExprKind::Binary(BinOp::MatMul, a, w) => self.matmul(a, w, e.pos, text),
            ExprKind::Binary(op, a, b) => {
                let an = self.expr(a);
                let bn = self.expr(b);
                if *op == BinOp::Div {
                    let zero = match (&self.graph.nodes[bn].op, &self.graph.nodes[bn].shape) {
                        (Op::Const(v), Shape::Scalar) => *v == 0.0,
                        _ => false,
                    };
                    let tb = self.texts[bn].clone();
                    if !check::nonzero_denominator(zero, &tb, b.pos, self.diags) {
                        return self.error_node(e.pos);
                    }
                }
                if let (Op::Const(x), Op::Const(y)) =
                    (&self.graph.nodes[an].op, &self.graph.nodes[bn].op)
                {
                    if self.graph.nodes[an].shape == Shape::Scalar
                        && self.graph.nodes[bn].shape == Shape::Scalar
                    {
                        let v = match op {
                            BinOp::Add => x + y,
                            BinOp::Sub => x - y,
                            BinOp::Mul => x * y,
                            _ => x / y,
                        };
                        return self.constant(v, e.pos, text);
                    }
                }
                let (sa, ta, _, pa) = self.operand(an, a.pos);
                let (sb, tb, _, pb) = self.operand(bn, b.pos);
                let shape = check::elementwise(
                    *op,
                    &Operand {
                        shape: &sa,
                        text: &ta,
                        pos: a.pos,
                        param: pa.as_deref(),
                    },
                    &Operand {
                        shape: &sb,
                        text: &tb,
                        pos: b.pos,
                        param: pb.as_deref(),
                    },
                    e.pos,
                    self.diags,
                );
                self.node(Op::Binary(*op, an, bn), shape, e.pos, text)
            }
        }
    }

    /// `mean(v)` or `sum(v)` over the features of a per-example vector: shape `[1]`.
    fn reduction(
        &mut self,
        kind: Reduction,
        f: &Name,
        args: &[Expr],
        pos: Pos,
        text: String,
    ) -> NodeId {
        if args.len() != 1 {
            self.diags.error(
                pos,
                format!("`{}` takes 1 argument, found {}", f.text, args.len()),
            );
            for a in args {
                self.expr(a);
            }
            return self.error_node(pos);
        }
        let a = self.expr(&args[0]);
        match self.graph.nodes[a].shape.clone() {
            Shape::Vector(_) => self.node(
                Op::Reduce(kind, a),
                Shape::Vector(Dim::constant(1)),
                pos,
                text,
            ),
            Shape::Error => self.error_node(pos),
            other => {
                let t = self.texts[a].clone();
                self.diags.error(
                    args[0].pos,
                    format!("`{}` reduces a per-example vector over its features; found `{t}` ({other})", f.text),
                );
                self.error_node(pos)
            }
        }
    }

    /// `a @ W`, and `concat(a, b, ...) @ W` as `a @ W[rows of a] + b @ W[rows of b] + ...`,
    /// so that each part is planned like any product (an input part is still hoisted out of
    /// the time loop, a recurrent part still packed with the step's other recurrent products).
    fn matmul(&mut self, a: &Expr, w: &Expr, pos: Pos, text: String) -> NodeId {
        let (parts, part_positions): (Vec<NodeId>, Vec<Pos>) = match &a.kind {
            ExprKind::Call(f, args) if f.text == "concat" && !args.is_empty() => {
                args.iter().map(|arg| (self.expr(arg), arg.pos)).unzip()
            }
            _ => (vec![self.expr(a)], vec![a.pos]),
        };
        let parts: Vec<NodeId> = parts.into_iter().map(|p| self.product_operand(p)).collect();
        // `a @ W^T` (or `transpose(W)`): the product with `W` read transposed.
        let (w, transposed) = match &w.kind {
            ExprKind::Call(f, args) if f.text == "transpose" && args.len() == 1 => (&args[0], true),
            _ => (w, false),
        };
        let wn = self.expr(w);
        let mut lhs_shape = Shape::Vector(Dim::default());
        let mut lhs_param = None;
        for (i, &part) in parts.iter().enumerate() {
            let (shape, part_text, part_pos, param) = self.operand(part, part_positions[i]);
            let shape = match (&lhs_shape, &shape) {
                (Shape::Error, _) | (_, Shape::Error) => Shape::Error,
                (Shape::Vector(sum), Shape::Vector(d)) if param.is_none() => {
                    Shape::Vector(sum.plus(d))
                }
                _ if parts.len() == 1 => shape.clone(),
                _ => {
                    let what = if param.is_some() {
                        "a parameter"
                    } else {
                        "not a per-example vector"
                    };
                    self.diags.error(
                        part_pos,
                        format!("part {} of `concat` is `{part_text}` ({shape}), {what}: expected per-example vectors such as `x[t]` or `h[t-1]`", i + 1),
                    );
                    Shape::Error
                }
            };
            lhs_shape = shape;
            if parts.len() == 1 {
                lhs_param = param;
            }
        }
        let (sw, tw, _, pw) = self.operand(wn, w.pos);
        let (sw, tw) = match (transposed, sw) {
            (false, sw) => (sw, tw),
            (true, Shape::Matrix(rows, cols)) if pw.is_some() => {
                (Shape::Matrix(cols, rows), format!("{tw}^T"))
            }
            (true, Shape::Error) => (Shape::Error, tw),
            (true, other) => {
                self.diags.error(
                    w.pos,
                    format!("`^T` transposes a matrix parameter; `{tw}` is {other}"),
                );
                (Shape::Error, tw)
            }
        };
        let lhs_text = a.to_string();
        if let (false, Op::Param(p), Shape::Matrix(rows, _), None) =
            (transposed, &self.graph.nodes[wn].op, &sw, &lhs_param)
        {
            let input = self.decls.input.as_ref().map(|i| &i.dim);
            if check::transposed_fits(&lhs_shape, &sw) && Some(rows) != input {
                self.transposed.push(Transposed {
                    param: *p,
                    lhs_shape,
                    lhs_text,
                    lhs_pos: a.pos,
                    pos,
                });
                return self.error_node(pos);
            }
        }
        let shape = check::matmul(
            &Operand {
                shape: &lhs_shape,
                text: &lhs_text,
                pos: a.pos,
                param: lhs_param.as_deref(),
            },
            &Operand {
                shape: &sw,
                text: &tw,
                pos: w.pos,
                param: pw.as_deref(),
            },
            pos,
            self.diags,
        );
        let param = match (&shape, &self.graph.nodes[wn].op) {
            (Shape::Error, _) => return self.error_node(pos),
            (_, &Op::Param(param)) => param,
            _ => return self.error_node(pos),
        };
        self.param_fits[param] = true;
        let mut row_start = Dim::default();
        let mut sum = None;
        for &part in &parts {
            let rows = self.graph.dim(part).cloned().unwrap_or_default();
            let op = Op::MatMul {
                lhs: part,
                param,
                row_start: row_start.clone(),
                transposed,
            };
            let product = self.node(op, shape.clone(), pos, text.clone());
            row_start = row_start.plus(&rows);
            sum = Some(match sum {
                None => product,
                Some(acc) => self.node(
                    Op::Binary(BinOp::Add, acc, product),
                    shape.clone(),
                    pos,
                    text.clone(),
                ),
            });
        }
        sum.unwrap_or_else(|| self.error_node(pos))
    }

    /// The left operand of a product as the planner needs it. A product whose left operand is
    /// itself a product (`x[t] @ W @ V`, `a @ V` with `a = x[t] @ W`) reads a value computed
    /// inside the step, and the planner stores only values that an elementwise pass computes
    /// (GEMM outputs are per-step scratch): the inner product goes through an elementwise copy
    /// so that it is saved for the backward pass and ordered like any computed value. So does a
    /// random mask (`m @ U`), whose values live in a per-sequence or per-step buffer of its own.
    fn product_operand(&mut self, part: NodeId) -> NodeId {
        let node = &self.graph.nodes[part];
        if !matches!(node.op, Op::MatMul { .. } | Op::Mask(_)) || node.shape == Shape::Error {
            return part;
        }
        let (shape, pos, text) = (node.shape.clone(), node.pos, node.text.clone());
        self.node(Op::Copy(part), shape, pos, text)
    }

    fn name(&mut self, n: &Name, pos: Pos) -> NodeId {
        if let Some(b) = self.bound.get(&n.text).cloned() {
            return self.argument(&b);
        }
        match self.decls.kinds.get(&n.text) {
            Some((DeclKind::Param, p)) => {
                self.param_used[*p] = true;
                let shape = self.decls.params[*p].shape.clone();
                self.node(Op::Param(*p), shape, pos, n.text.clone())
            }
            Some((DeclKind::Mask, m)) => {
                self.mask_used[*m] = true;
                let dim = self.decls.masks[*m].0.dim.clone();
                self.node(Op::Mask(*m), Shape::Vector(dim), pos, n.text.clone())
            }
            Some((DeclKind::State, _)) => {
                self.diags.error(
                    pos,
                    format!(
                        "state `{0}` needs a time index: expected `{0}[t]` or `{0}[t-1]`",
                        n.text
                    ),
                );
                self.error_node(pos)
            }
            Some((DeclKind::Input, _)) => {
                self.diags.error(
                    pos,
                    format!(
                        "input `{0}` needs a time index: expected `{0}[t]` or `{0}[t-k]`",
                        n.text
                    ),
                );
                self.error_node(pos)
            }
            None if self.equations.intermediates.contains_key(&n.text) => {
                self.intermediate(&n.text, Some(pos))
            }
            None => {
                if !self.decls.refused_inputs.contains(&n.text) {
                    let candidates = self
                        .decls
                        .params
                        .iter()
                        .map(|p| p.name.as_str())
                        .chain(self.decls.masks.iter().map(|(m, _)| m.name.as_str()))
                        .chain(self.equations.intermediates.keys().map(String::as_str));
                    let meant = check::similar_name(&n.text, candidates).map(str::to_string);
                    let hint = meant
                        .as_ref()
                        .map_or_else(String::new, |m| format!("; did you mean `{m}`?"));
                    self.diags.error(pos, format!("unknown name `{}`: expected a declared input, state, parameter or mask, or an intermediate defined by an equation{hint}", n.text));
                    // The name suggested is used here, as far as the user meant: it is not
                    // reported again as unused.
                    if let Some(m) = meant {
                        match self.decls.kinds.get(&m) {
                            Some((DeclKind::Param, p)) => self.param_used[*p] = true,
                            Some((DeclKind::Mask, m)) => self.mask_used[*m] = true,
                            _ => {
                                self.referenced.insert(m);
                            }
                        }
                    }
                }
                self.error_node(pos)
            }
        }
    }

    fn indexed(&mut self, n: &Name, t: &Time, pos: Pos) -> NodeId {
        let text = format!("{}[{}]", n.text, t.text());
        if let Some(b) = self.bound.get(&n.text).cloned() {
            let (f, i) = (b.def, b.index);
            self.bound_used.insert((f, i));
            self.diags.error(
                pos,
                format!(
                    "`{0}` is an argument of `{1}`, a value of the current step: write `{0}`, not `{text}`",
                    n.text, self.ast.functions[f].name.text
                ),
            );
            return self.error_node(pos);
        }
        let kind = self.decls.kinds.get(&n.text).copied();
        let is_intermediate = kind.is_none() && self.equations.intermediates.contains_key(&n.text);
        if is_intermediate {
            self.referenced.insert(n.text.clone());
        }
        if t.offset > 0
            && (is_intermediate || matches!(kind, Some((DeclKind::Input | DeclKind::State, _))))
        {
            self.diags.error(
                t.pos,
                format!("future reference `{text}`: a cell reads only the current and earlier steps; expected `{0}[t]` or `{0}[t-k]`", n.text),
            );
            return self.error_node(pos);
        }
        if t.offset < -MAX_DELAY {
            self.diags.error(
                t.pos,
                format!(
                    "delay {} in `{text}` is too large: expected at most {MAX_DELAY}",
                    &t.written[1..]
                ),
            );
            return self.error_node(pos);
        }
        let delay = (-t.offset) as usize;
        match kind {
            Some((DeclKind::Input, _)) => {
                let dim = self
                    .decls
                    .input
                    .as_ref()
                    .map_or_else(Dim::default, |i| i.dim.clone());
                self.node(Op::Input { delay }, Shape::Vector(dim), pos, text)
            }
            Some((DeclKind::State, s)) => {
                if delay == 0 {
                    if !self.equations.updates.contains_key(&s) {
                        return self.error_node(pos);
                    }
                    return self.state_update(s, Some(pos));
                }
                self.delays[s] = self.delays[s].max(delay);
                let shape = self.decls.states[s].shape.clone();
                self.node(Op::StatePrev { state: s, delay }, shape, pos, text)
            }
            Some((DeclKind::Mask, m)) => {
                self.mask_used[m] = true;
                let per_step = if self.decls.masks[m].0.per_step {
                    "a per-step mask is drawn anew at every step"
                } else {
                    "a mask is drawn once per sequence"
                };
                self.diags.error(
                    t.pos,
                    format!(
                        "mask `{0}` is not indexed by time ({per_step}): expected `{0}`",
                        n.text
                    ),
                );
                self.error_node(pos)
            }
            Some((DeclKind::Param, p)) => {
                self.param_used[p] = true;
                self.diags.error(
                    t.pos,
                    format!(
                        "parameter `{0}` is not indexed by time: expected `{0}`",
                        n.text
                    ),
                );
                self.error_node(pos)
            }
            None if self.equations.intermediates.contains_key(&n.text) => {
                if delay != 0 {
                    self.diags.error(
                        t.pos,
                        format!("intermediate `{0}` holds only the current step; to read `{text}`, declare `{0}` as a state and update it with `{0}[t] = ...`", n.text),
                    );
                    return self.error_node(pos);
                }
                self.intermediate(&n.text, Some(pos))
            }
            None => {
                if !self.decls.refused_inputs.contains(&n.text) {
                    let candidates = self
                        .decls
                        .input
                        .iter()
                        .map(|i| i.name.as_str())
                        .chain(self.decls.states.iter().map(|s| s.name.as_str()));
                    let hint = check::did_you_mean(&n.text, candidates);
                    self.diags.error(
                        n.pos,
                        format!(
                            "unknown name `{}`: expected a declared input or state{hint}",
                            n.text
                        ),
                    );
                }
                self.error_node(pos)
            }
        }
    }

    /// Registers the user functions, refusing a name that a built-in function has, a name
    /// defined twice and an argument named twice.
    fn collect_functions(&mut self) {
        let builtin: HashSet<&str> = Func::UNARY
            .iter()
            .map(|(n, _)| *n)
            .chain(OTHER_CALLS)
            .collect();
        for (i, def) in self.ast.functions.iter().enumerate() {
            let name = &def.name;
            if builtin.contains(name.text.as_str()) {
                self.diags.error(
                    name.pos,
                    format!(
                        "`{}` is a built-in function: give your function another name",
                        name.text
                    ),
                );
                continue;
            }
            if self.functions.contains_key(&name.text) {
                self.diags.error(
                    name.pos,
                    format!(
                        "function `{}` is defined twice: expected one definition",
                        name.text
                    ),
                );
                continue;
            }
            let mut seen = HashSet::new();
            for p in &def.params {
                if !seen.insert(p.text.as_str()) {
                    self.diags.error(
                        p.pos,
                        format!(
                            "argument `{}` of `{}` is named twice: expected distinct names",
                            p.text, name.text
                        ),
                    );
                }
            }
            self.functions.insert(name.text.clone(), i);
        }
    }

    /// A user function that is never called, or an argument its body never reads, is an error
    /// (as an unused parameter is): it is almost always a typo.
    fn report_unused_functions(&mut self) {
        for (i, def) in self.ast.functions.iter().enumerate() {
            if self.functions.get(&def.name.text) != Some(&i) {
                continue;
            }
            if !self.called.contains(&i) {
                self.diags.error(
                    def.name.pos,
                    format!(
                        "function `{}` is never called: remove it or use it",
                        def.name.text
                    ),
                );
                continue;
            }
            for (k, p) in def.params.iter().enumerate() {
                if self.expanded.contains(&i) && !self.bound_used.contains(&(i, k)) {
                    self.diags.error(
                        p.pos,
                        format!(
                            "argument `{}` of `{}` is not used in its body",
                            p.text, def.name.text
                        ),
                    );
                }
            }
        }
    }

    /// `f(args)` for a user function: the arguments are lowered once, in the caller's scope,
    /// and the body is lowered with its argument names bound to them (so `v` read three times
    /// is one value, and the body's nodes are shared with identical ones elsewhere). Errors in
    /// the body point at the body; the call gets one more, saying where the body was used.
    fn user_call(&mut self, def: usize, f: &Name, args: &[Expr], pos: Pos) -> NodeId {
        let d = &self.ast.functions[def];
        self.called.insert(def);
        let params: Vec<&str> = d.params.iter().map(|p| p.text.as_str()).collect();
        let form = format!("`{}({})`", d.name.text, params.join(", "));
        if args.len() != d.params.len() {
            self.diags.error(
                pos,
                format!(
                    "`{}` takes {} argument{}, as {form}; found {}",
                    f.text,
                    d.params.len(),
                    if d.params.len() == 1 { "" } else { "s" },
                    args.len()
                ),
            );
            for a in args {
                self.expr(a);
            }
            return self.error_node(pos);
        }
        if let Some(k) = self.calling.iter().position(|&c| c == def) {
            let chain: Vec<&str> = self.calling[k..]
                .iter()
                .map(|&c| self.ast.functions[c].name.text.as_str())
                .chain([f.text.as_str()])
                .collect();
            self.diags.error(
                f.pos,
                format!(
                    "`{}` calls itself ({}): functions are expanded where they are called, so they cannot be recursive",
                    f.text,
                    chain.join(" -> ")
                ),
            );
            // The arguments are still read (checked, and their names counted as used).
            for a in args {
                self.expr(a);
            }
            return self.error_node(pos);
        }
        self.expansions += 1;
        if self.expansions > MAX_EXPANSIONS {
            if self.expansions == MAX_EXPANSIONS + 1 {
                self.diags.error(
                    f.pos,
                    format!(
                        "user functions expand to more than {MAX_EXPANSIONS} calls (each call of a function that calls others twice doubles them): expected fewer nested calls"
                    ),
                );
            }
            return self.error_node(pos);
        }
        // Arguments as the caller wrote them, for texts; a long one is abbreviated, so that
        // nested calls cannot grow texts without bound.
        let written: Vec<Expr> = args
            .iter()
            .map(|a| {
                let w = self.substitute(a);
                if w.to_string().len() <= MAX_ARGUMENT_TEXT {
                    w
                } else {
                    Expr {
                        kind: ExprKind::Name(Name {
                            text: "(…)".into(),
                            pos: a.pos,
                        }),
                        pos: a.pos,
                    }
                }
            })
            .collect();
        let call_text = format!(
            "{}({})",
            f.text,
            written
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let scope: Scope = Rc::new(
            d.params
                .iter()
                .zip(args.iter().zip(written))
                .enumerate()
                .map(|(k, (p, (a, w)))| {
                    let binding = Binding {
                        def,
                        index: k,
                        arg: a.clone(),
                        written: w,
                        caller: self.bound.clone(),
                        depth: self.calling.len(),
                        value: std::cell::Cell::new(None),
                    };
                    (p.text.clone(), Rc::new(binding))
                })
                .collect(),
        );
        self.expanded.insert(def);
        let outer = std::mem::replace(&mut self.bound, scope);
        self.calling.push(def);
        let errors = self.diags.len();
        let before = self.graph.nodes.len();
        let body = self.expr(&d.body);
        // An argument the body never reads is still checked (and reported unused later).
        for b in scope_of(&self.bound) {
            if b.value.get().is_none() {
                self.argument(&b);
                self.bound_used.remove(&(b.def, b.index));
            }
        }
        // The call's value goes by the call as written, `norm(h[t-1] @ U)` (unless the body is
        // just one of its arguments, which keeps its own name).
        let is_argument = self.bound.values().any(|b| b.value.get() == Some(body));
        if body >= before && !is_argument {
            self.texts[body] = call_text.clone();
            self.graph.nodes[body].text = call_text;
        }
        self.calling.pop();
        self.bound = outer;
        if self.diags.len() > errors {
            self.diags.error(
                f.pos,
                format!(
                    "in this call of `{}`: its body has the errors reported at its definition",
                    f.text
                ),
            );
        }
        body
    }

    /// The value of a user function's argument: the expression passed, lowered once, the
    /// first time the body reads it, in the caller's scope.
    fn argument(&mut self, b: &Rc<Binding>) -> NodeId {
        self.bound_used.insert((b.def, b.index));
        if let Some(v) = b.value.get() {
            return v;
        }
        let inner = std::mem::replace(&mut self.bound, b.caller.clone());
        let calling = self.calling.split_off(b.depth);
        let v = self.expr(&b.arg);
        self.calling.extend(calling);
        self.bound = inner;
        b.value.set(Some(v));
        v
    }

    /// `e` with the current user function's argument names replaced by the expressions
    /// passed for them (as the caller wrote them).
    fn substitute(&self, e: &Expr) -> Expr {
        let kind = match &e.kind {
            ExprKind::Name(n) => match self.bound.get(&n.text) {
                Some(b) => return b.written.clone(),
                None => ExprKind::Name(n.clone()),
            },
            ExprKind::Call(f, args) => {
                ExprKind::Call(f.clone(), args.iter().map(|a| self.substitute(a)).collect())
            }
            ExprKind::Neg(a) => ExprKind::Neg(Box::new(self.substitute(a))),
            ExprKind::Binary(op, a, b) => ExprKind::Binary(
                *op,
                Box::new(self.substitute(a)),
                Box::new(self.substitute(b)),
            ),
            other => other.clone(),
        };
        Expr { kind, pos: e.pos }
    }

    /// Every function, reduction and form the language has, for the unknown-function message.
    fn known_functions() -> Vec<&'static str> {
        Func::UNARY
            .iter()
            .map(|(n, _)| *n)
            .chain(Func::WITH_LITERALS)
            .chain([
                "max(a, b)",
                "min(a, b)",
                "mean",
                "sum",
                "concat(...) @ W",
                "v @ W^T (or transpose(W))",
            ])
            .collect()
    }

    /// The function `f(args)` names, with its literal arguments (a slope, bounds, an exponent)
    /// read from `args[1..]`; `None` after reporting an unknown name, a wrong number of
    /// arguments or a literal argument that is not a number.
    fn function(&mut self, f: &Name, args: &[Expr], pos: Pos) -> Option<Func> {
        let unary = Func::UNARY
            .iter()
            .find(|(n, _)| *n == f.text)
            .map(|&(_, g)| g);
        let (least, most, form) = match f.text.as_str() {
            _ if unary.is_some() => (1, 1, format!("`{}(v)`", f.text)),
            "elu" => (1, 2, "`elu(v)` or `elu(v, alpha)`".to_string()),
            "leaky_relu" => (2, 2, "`leaky_relu(v, slope)`".to_string()),
            "pow" => (2, 2, "`pow(v, k)`".to_string()),
            "clamp" => (3, 3, "`clamp(v, lo, hi)`".to_string()),
            _ => {
                let known = Self::known_functions();
                let names = known.iter().map(|k| k.split('(').next().unwrap_or(k));
                // Names other libraries give the same functions.
                let aliases = [
                    ("swish", "silu"),
                    ("hardsigmoid", "hard_sigmoid"),
                    ("leakyrelu", "leaky_relu"),
                    ("maximum", "max"),
                    ("minimum", "min"),
                    ("clip", "clamp"),
                    ("power", "pow"),
                ];
                let hint = match aliases.iter().find(|(a, _)| *a == f.text) {
                    Some((a, ours)) => format!("; `{a}` is `{ours}` here"),
                    None => check::did_you_mean(&f.text, names),
                };
                self.diags.error(
                    f.pos,
                    format!(
                        "unknown function `{}`: expected one of {}{hint}",
                        f.text,
                        known.join(", ")
                    ),
                );
                return None;
            }
        };
        if args.len() < least || args.len() > most {
            let count = if least == most {
                format!("{least}")
            } else {
                format!("{least} or {most}")
            };
            self.diags.error(
                pos,
                format!(
                    "`{}` takes {count} argument{}, as {form}; found {}",
                    f.text,
                    if most == 1 { "" } else { "s" },
                    args.len()
                ),
            );
            return None;
        }
        let mut literals = vec![];
        for a in &args[1..] {
            match literal(a) {
                Some(v) => literals.push(v),
                None => {
                    self.diags.error(
                        a.pos,
                        format!(
                            "`{}` takes its value and then number literals, as {form}: expected a number such as `0.1` or `-1` here, found `{a}`",
                            f.text
                        ),
                    );
                    return None;
                }
            }
        }
        let lit = |i: usize| Literal::new(literals[i]);
        Some(match f.text.as_str() {
            "elu" => Func::Elu(Literal::new(literals.first().copied().unwrap_or(1.0))),
            "leaky_relu" => Func::LeakyRelu(lit(0)),
            "pow" => Func::Pow(lit(0)),
            "clamp" => {
                if literals[0] > literals[1] {
                    self.diags.error(
                        args[1].pos,
                        format!(
                            "the bounds of `clamp(v, lo, hi)` must satisfy lo <= hi; found lo = {} > hi = {}",
                            literals[0], literals[1]
                        ),
                    );
                    return None;
                }
                Func::Clamp(lit(0), lit(1))
            }
            _ => unary?,
        })
    }

    /// `max(a, b)` or `min(a, b)`: elementwise, with the shapes of `a + b`.
    fn pair(&mut self, op: BinOp, f: &Name, args: &[Expr], pos: Pos, text: String) -> NodeId {
        if args.len() != 2 {
            self.diags.error(
                pos,
                format!(
                    "`{0}` takes 2 arguments, as `{0}(a, b)`; found {1}",
                    f.text,
                    args.len()
                ),
            );
            for a in args {
                self.expr(a);
            }
            return self.error_node(pos);
        }
        let an = self.expr(&args[0]);
        let bn = self.expr(&args[1]);
        if let (Op::Const(x), Op::Const(y), Shape::Scalar, Shape::Scalar) = (
            &self.graph.nodes[an].op,
            &self.graph.nodes[bn].op,
            &self.graph.nodes[an].shape,
            &self.graph.nodes[bn].shape,
        ) {
            let v = if op == BinOp::Max {
                x.max(*y)
            } else {
                x.min(*y)
            };
            return self.constant(v, pos, text);
        }
        let (sa, ta, _, pa) = self.operand(an, args[0].pos);
        let (sb, tb, _, pb) = self.operand(bn, args[1].pos);
        let shape = check::elementwise(
            op,
            &Operand {
                shape: &sa,
                text: &ta,
                pos: args[0].pos,
                param: pa.as_deref(),
            },
            &Operand {
                shape: &sb,
                text: &tb,
                pos: args[1].pos,
                param: pb.as_deref(),
            },
            pos,
            self.diags,
        );
        self.node(Op::Binary(op, an, bn), shape, pos, text)
    }

    fn call(&mut self, f: &Name, args: &[Expr], pos: Pos, text: String) -> NodeId {
        let reduction = match f.text.as_str() {
            "mean" => Some(Reduction::Mean),
            "sum" => Some(Reduction::Sum),
            "concat" => {
                self.diags.error(
                    f.pos,
                    "`concat(...)` can only be the left operand of `@`, as in `concat(x[t], h[t-1]) @ W`",
                );
                for a in args {
                    self.expr(a);
                }
                return self.error_node(pos);
            }
            _ => None,
        };
        if let Some(kind) = reduction {
            return self.reduction(kind, f, args, pos, text);
        }
        if let Some(&def) = self.functions.get(&f.text) {
            return self.user_call(def, f, args, pos);
        }
        if f.text == "transpose" {
            self.diags.error(
                pos,
                "a transposed matrix `W^T` (or `transpose(W)`) can only be the right operand of `@`, as in `h[t-1] @ W^T`",
            );
            for a in args {
                self.expr(a);
            }
            return self.error_node(pos);
        }
        if let op @ ("max" | "min") = f.text.as_str() {
            let op = if op == "max" { BinOp::Max } else { BinOp::Min };
            return self.pair(op, f, args, pos, text);
        }
        let Some(func) = self.function(f, args, pos) else {
            for a in args {
                self.expr(a);
            }
            return self.error_node(pos);
        };
        let a = self.expr(&args[0]);
        let (shape, t, p, param) = self.operand(a, args[0].pos);
        if let (Op::Const(v), Shape::Scalar) = (&self.graph.nodes[a].op, &shape) {
            let v = func.eval(*v);
            return self.constant(v, pos, text);
        }
        let operand = Operand {
            shape: &shape,
            text: &t,
            pos: p,
            param: param.as_deref(),
        };
        let context = format!("`{}`", f.text);
        let shape = if shape == Shape::Error
            || !check::no_matrix_elementwise(&operand, &context, self.diags)
        {
            Shape::Error
        } else {
            shape
        };
        self.node(Op::Func(func, a), shape, pos, text)
    }
}

/// The value of a number literal argument: `0.01`, `-1`, `--2` (`None` for anything else).
fn literal(e: &Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Number(v) => Some(*v),
        ExprKind::Neg(a) => literal(a).map(|v| -v),
        _ => None,
    }
}

/// The bindings of a scope, in argument order.
fn scope_of(scope: &Scope) -> Vec<Rc<Binding>> {
    let mut all: Vec<Rc<Binding>> = scope.values().cloned().collect();
    all.sort_by_key(|b| b.index);
    all
}
