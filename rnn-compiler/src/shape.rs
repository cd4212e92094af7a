//! Symbolic dimensions and shapes: `H`, `I + H`, `4*H`, compared in canonical form.

use std::collections::BTreeMap;
use std::fmt;

/// A dimension: a sum of named dimensions with positive coefficients plus a constant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Dim {
    /// Coefficient of each dimension name.
    pub terms: BTreeMap<String, i64>,
    /// The constant part.
    pub constant: i64,
}

impl Dim {
    /// The dimension called `name`.
    pub fn named(name: &str) -> Self {
        Dim {
            terms: BTreeMap::from([(name.to_string(), 1)]),
            constant: 0,
        }
    }

    /// The constant dimension `n`.
    pub fn constant(n: i64) -> Self {
        Dim {
            terms: BTreeMap::new(),
            constant: n,
        }
    }

    /// Whether this is the constant 1 (a per-example scalar, which broadcasts).
    pub fn is_one(&self) -> bool {
        self.terms.is_empty() && self.constant == 1
    }

    /// `self + other`.
    pub fn plus(&self, other: &Dim) -> Dim {
        let mut d = self.clone();
        for (k, v) in &other.terms {
            *d.terms.entry(k.clone()).or_insert(0) += v;
        }
        d.terms.retain(|_, v| *v != 0);
        d.constant += other.constant;
        d
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .terms
            .iter()
            .map(|(k, &c)| {
                if c == 1 {
                    k.clone()
                } else {
                    format!("{c}*{k}")
                }
            })
            .collect();
        if self.constant != 0 || parts.is_empty() {
            parts.push(self.constant.to_string());
        }
        f.write_str(&parts.join(" + "))
    }
}

/// The shape of a value, per example (the batch dimension is implicit).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A number that does not depend on the example (a literal).
    Scalar,
    /// A vector `[D]`: per example for inputs, states and intermediates; shared over the batch
    /// for a parameter.
    Vector(Dim),
    /// A matrix parameter `[D, E]`.
    Matrix(Dim, Dim),
    /// The shape of an expression that already has an error (suppresses follow-up errors).
    Error,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Scalar => f.write_str("a scalar"),
            Shape::Vector(d) => write!(f, "[{d}]"),
            Shape::Matrix(a, b) => write!(f, "[{a}, {b}]"),
            Shape::Error => f.write_str("<error>"),
        }
    }
}
