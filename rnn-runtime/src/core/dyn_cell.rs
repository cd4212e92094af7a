//! [`DynCell`]: any [`Cell`] behind a trait object, so that one model can stack layers of
//! different cell types, user-defined ones included.

use ndarray::ArrayView3;

use crate::core::cell::{Cell, CellSpec, Forward, Gradients, Inference};
use crate::core::error::Result;
use crate::core::masks::Masks;
use crate::core::params::ParamSet;
use crate::core::states::States;
use crate::kernels::float::Float;
use rand::Rng;

/// Declares [`DynCell`] and its blanket implementation from one list of methods, so that each
/// signature is written once: every method forwards to the [`Cell`] method of the same name.
macro_rules! object_safe_face {
    ($(
        $(#[$doc:meta])*
        fn $name:ident(&$self:ident $(, $arg:ident: $ty:ty)*) -> $ret:ty;
    )*) => {
        /// The object-safe face of a [`Cell`]: implemented for every cell type, so a model holds
        /// `Box<dyn DynCell<F>>` layers. The methods are those of [`Cell`]; see there for shapes.
        pub trait DynCell<F: Float>: Send + Sync {
            /// The cell's static description.
            fn cell_spec(&self) -> &'static CellSpec;
            /// The dimensions, as written by `Debug` (`LstmDims { I: 3, H: 4 }`).
            fn dims_text(&self) -> String;
            /// A boxed copy.
            fn clone_box(&self) -> Box<dyn DynCell<F>>;
            /// The dimensions by name (`[("I", 3), ("H", 4)]`), as `CellDims::sizes`.
            fn dim_sizes(&self) -> Vec<(&'static str, usize)>;
            /// The parameters, mutably.
            fn params_mut(&mut self) -> &mut ParamSet<F>;
            $($(#[$doc])* fn $name(&$self $(, $arg: $ty)*) -> $ret;)*
        }

        impl<F: Float, C: Cell<F> + Send + Sync + 'static> DynCell<F> for C {
            fn cell_spec(&self) -> &'static CellSpec {
                C::spec()
            }
            fn dims_text(&self) -> String {
                format!("{:?}", self.dims())
            }
            fn clone_box(&self) -> Box<dyn DynCell<F>> {
                Box::new(self.clone())
            }
            fn dim_sizes(&self) -> Vec<(&'static str, usize)> {
                crate::core::cell::CellDims::sizes(&self.dims())
            }
            fn params_mut(&mut self) -> &mut ParamSet<F> {
                Cell::params_mut(self)
            }
            $(fn $name(&$self $(, $arg: $ty)*) -> $ret {
                Cell::$name($self $(, $arg)*)
            })*
        }
    };
}

object_safe_face! {
    /// Input size `I`.
    fn input_size(&self) -> usize;
    /// Output size `O`.
    fn output_size(&self) -> usize;
    /// The parameters.
    fn params(&self) -> &ParamSet<F>;
    /// Zero states for `batch` examples.
    fn zero_states(&self, batch: usize) -> States<F>;
    /// [`Cell::forward`].
    fn forward(&self, x: ArrayView3<'_, F>, init: Option<&States<F>>, lengths: Option<&[usize]>) -> Result<Forward<F>>;
    /// [`Cell::forward_train`].
    fn forward_train(&self, x: ArrayView3<'_, F>, init: Option<&States<F>>, lengths: Option<&[usize]>, rng: &mut dyn Rng) -> Result<Forward<F>>;
    /// [`Cell::forward_masked`].
    fn forward_masked(&self, x: ArrayView3<'_, F>, init: Option<&States<F>>, lengths: Option<&[usize]>, masks: Masks<'_, F>) -> Result<Forward<F>>;
    /// [`Cell::infer`].
    fn infer(&self, x: ArrayView3<'_, F>, init: Option<&States<F>>, lengths: Option<&[usize]>) -> Result<Inference<F>>;
    /// [`Cell::backward`].
    fn backward(&self, forward: &Forward<F>, d_outputs: ArrayView3<'_, F>, d_final: Option<&States<F>>) -> Result<Gradients<F>>;
}

impl<F: Float> Clone for Box<dyn DynCell<F>> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

impl<F: Float> std::fmt::Debug for dyn DynCell<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.cell_spec().name, self.dims_text())
    }
}

impl CellSpec {
    /// A stable 64-bit hash (FNV-1a) of everything that defines the cell: its name, dimensions,
    /// input, states, parameters (names, shapes, initializers) and equations. Stored in
    /// checkpoints so that weights are never loaded into a different cell of the same name.
    pub fn fingerprint(&self) -> u64 {
        let mut text = format!(
            "{}|{:?}|{:?}|{}|",
            self.name, self.dims, self.input, self.output
        );
        for s in self.states {
            text += &format!("{}:{}:{};", s.name, s.shape, s.delay);
        }
        for p in self.params {
            text += &format!("{}:{}:{:?};", p.name, p.shape, p.init);
        }
        // Masks only when there are some: the fingerprints of cells without masks (in
        // checkpoints saved before masks existed) stay what they were.
        for m in self.masks {
            text += &format!("mask {}:{}:{:?}:{};", m.name, m.shape, m.p, m.per_step);
        }
        text += self.equations;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }
}
