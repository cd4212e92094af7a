//! [`Seq2Seq`]: the asynchronous sequence-to-sequence mode (encoder–decoder, Sutskever et al.
//! 2014): the encoder's final states initialize a decoder that emits the target one token at a
//! time; teacher forcing in training, greedy decoding and sampling in inference.

use ndarray::{s, Array2, ArrayView2};
use rand::Rng;

use crate::core::dropout::{reborrow, DropoutRng, MaskSource};
use crate::core::error::{Error, Result};
use crate::core::states::States;
use crate::core::tensors::{NamedTensors, Parameters};
use crate::kernels::float::Float;
use crate::nn::layer::LayerStates;
use crate::nn::model::{Input, SequenceModel};
use crate::nn::modes::{check_temperature, sample_logits, TrainStep};
use crate::training::loss::sequence_cross_entropy;

/// An encoder–decoder over token sequences.
///
/// The encoder reads the source (it needs an embedding; a head is not used); the decoder (an
/// embedding and a head, unidirectional layers) starts from the encoder's final states, layer
/// by layer, so both need the same number of layers with the same cells and state sizes (for a
/// bidirectional encoder layer, the forward direction's states are passed). Parameter names:
/// `encoder.*` then `decoder.*` (see [`SequenceModel`]).
#[derive(Debug, Clone)]
pub struct Seq2Seq<F: Float> {
    /// Reads the source sequence.
    pub encoder: SequenceModel<F>,
    /// Emits the target sequence.
    pub decoder: SequenceModel<F>,
    /// The token that starts every decoder input.
    pub start: usize,
    /// The token that ends a target sequence.
    pub end: usize,
}

impl<F: Float> Seq2Seq<F> {
    /// Checks that the decoder can start from the encoder's states.
    pub fn new(
        encoder: SequenceModel<F>,
        decoder: SequenceModel<F>,
        start: usize,
        end: usize,
    ) -> Result<Self> {
        if encoder.embedding.is_none() || decoder.embedding.is_none() || decoder.head.is_none() {
            return Err(Error::Invalid(
                "encoder–decoder: the encoder needs an embedding, the decoder an embedding and a head".into(),
            ));
        }
        if encoder.layers.len() != decoder.layers.len() {
            return Err(Error::Invalid(format!(
                "encoder–decoder: expected as many decoder layers as encoder layers ({}), found {}",
                encoder.layers.len(),
                decoder.layers.len()
            )));
        }
        for (l, (e, d)) in encoder.layers.iter().zip(&decoder.layers).enumerate() {
            if d.reverse.is_some() || d.reversed {
                return Err(Error::Invalid(format!(
                    "decoder layer {l}: expected a unidirectional layer, found {:?}",
                    d.direction()
                )));
            }
            let (es, ds) = (e.forward.cell_spec(), d.forward.cell_spec());
            let (ez, dz) = (e.forward.zero_states(1), d.forward.zero_states(1));
            let sizes = |s: &States<F>| s.values.iter().map(|v| v.ncols()).collect::<Vec<_>>();
            if es.name != ds.name || sizes(&ez) != sizes(&dz) {
                return Err(Error::Invalid(format!(
                    "layer {l}: the decoder starts from the encoder's states, expected a {} with state sizes {:?}, found a {} with {:?}",
                    es.name,
                    sizes(&ez),
                    ds.name,
                    sizes(&dz)
                )));
            }
        }
        let vocab = decoder.embedding.as_ref().map_or(0, |e| e.vocab());
        if start >= vocab || end >= vocab {
            return Err(Error::Invalid(format!(
                "encoder–decoder: start and end tokens must be below the decoder's vocabulary size {vocab}, found {start} and {end}"
            )));
        }
        Ok(Seq2Seq {
            encoder,
            decoder,
            start,
            end,
        })
    }

    fn decoder_init(states: &[LayerStates<F>]) -> Vec<LayerStates<F>> {
        states
            .iter()
            .map(|s| LayerStates {
                forward: s.forward.clone(),
                reverse: None,
            })
            .collect()
    }

    /// One training step with teacher forcing: the decoder reads `start, y_0, ..., y_{T-2}` and
    /// is trained to emit `y_0, ..., y_{T-1}` (`target: [T, B]`, which should end with the end
    /// token within each `target_lengths[b]`). Cross-entropy over the target steps; the
    /// gradient flows from the decoder's initial states into the encoder.
    pub fn train_step(
        &self,
        source: ArrayView2<'_, usize>,
        source_lengths: Option<&[usize]>,
        target: ArrayView2<'_, usize>,
        target_lengths: Option<&[usize]>,
        dropout_rng: Option<&mut dyn DropoutRng>,
    ) -> Result<TrainStep<F>> {
        let (n_target, batch) = target.dim();
        if source.dim().1 != batch {
            return Err(Error::shape(
                "source",
                format!("[T, B={batch}] (the target's batch)"),
                source.shape(),
            ));
        }
        // The encoder and the decoder draw from one RNG in turn, or from per-example streams
        // of their own (the decoder's in scope 1).
        let mut dropout_rng = dropout_rng;
        let mut seeds = dropout_rng.as_mut().and_then(|d| match d.source() {
            MaskSource::PerExample(s) => Some((s.clone(), s.in_scope(1))),
            MaskSource::Shared(_) => None,
        });
        let enc = self.encoder.forward(
            Input::Tokens(source),
            source_lengths,
            None,
            match &mut seeds {
                Some((encoder, _)) => Some(encoder),
                None => reborrow(&mut dropout_rng),
            },
        )?;
        let mut dec_in = Array2::from_elem((n_target, batch), self.start);
        if n_target > 1 {
            dec_in
                .slice_mut(s![1.., ..])
                .assign(&target.slice(s![..n_target - 1, ..]));
        }
        let init = Self::decoder_init(&enc.final_states);
        let dec = self.decoder.forward(
            Input::Tokens(dec_in.view()),
            target_lengths,
            Some(&init),
            match &mut seeds {
                Some((_, decoder)) => Some(decoder),
                None => reborrow(&mut dropout_rng),
            },
        )?;
        let head = self.decoder.head.as_ref().expect("checked in new");
        let (t, b, h) = dec.hidden.dim();
        let flat = dec
            .hidden
            .to_shape((t * b, h))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let logits = head.forward(flat.view())?;
        let c = logits.ncols();
        let logits = logits
            .into_shape_with_order((t, b, c))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let (loss, d_logits) = sequence_cross_entropy(logits.view(), target, Some(&dec.lengths))?;
        let d_flat = d_logits
            .to_shape((t * b, c))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let (d_hidden, head_grads) = head.backward(flat.view(), d_flat.view())?;
        let d_hidden = d_hidden
            .into_shape_with_order((t, b, h))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let dec_grads = self
            .decoder
            .backward(&dec, d_hidden.view(), None, Some(head_grads))?;
        let d_enc_final: Vec<LayerStates<F>> = dec_grads
            .initial_states
            .iter()
            .zip(&self.encoder.layers)
            .map(|(d, layer)| LayerStates {
                forward: d.forward.clone(),
                reverse: layer.reverse.as_ref().map(|r| r.zero_states(batch)),
            })
            .collect();
        let zeros = ndarray::Array3::zeros(enc.hidden.raw_dim());
        let enc_grads = self
            .encoder
            .backward(&enc, zeros.view(), Some(&d_enc_final), None)?;
        let mut grads = NamedTensors::new();
        for (name, v) in enc_grads.params.tensors {
            grads.tensors.push((format!("encoder.{name}"), v));
        }
        for (name, v) in dec_grads.params.tensors {
            grads.tensors.push((format!("decoder.{name}"), v));
        }
        Ok(TrainStep {
            loss,
            grads,
            final_states: dec.final_states,
        })
    }

    /// Decodes every source sequence: feeds `start`, then each emitted token, until the end
    /// token or `max_len` tokens; each token drawn at `temperature` (0: greedy; a negative or
    /// non-finite temperature is an error). Returns the emitted tokens of each example, without
    /// the end token.
    pub fn decode(
        &self,
        source: ArrayView2<'_, usize>,
        source_lengths: Option<&[usize]>,
        max_len: usize,
        temperature: f64,
        rng: &mut dyn Rng,
    ) -> Result<Vec<Vec<usize>>> {
        check_temperature(temperature)?;
        let batch = source.dim().1;
        let (_, enc_states) = self
            .encoder
            .infer(Input::Tokens(source), source_lengths, None)?;
        let mut states = Self::decoder_init(&enc_states);
        let head = self.decoder.head.as_ref().expect("checked in new");
        let mut tokens = Array2::from_elem((1, batch), self.start);
        let mut out = vec![Vec::new(); batch];
        let mut done = vec![false; batch];
        for _ in 0..max_len {
            let (hidden, next) =
                self.decoder
                    .infer(Input::Tokens(tokens.view()), None, Some(&states))?;
            states = next;
            let logits = head.forward(hidden.slice(s![0, .., ..]))?;
            for b in 0..batch {
                let row = logits.row(b).to_vec();
                let token = sample_logits(&row, temperature, rng)?;
                tokens[[0, b]] = token;
                if !done[b] {
                    if token == self.end {
                        done[b] = true;
                    } else {
                        out[b].push(token);
                    }
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }
}

impl<F: Float> Parameters<F> for Seq2Seq<F> {
    fn tensors(&self) -> Vec<(String, &[F])> {
        let mut out: Vec<(String, &[F])> = Vec::new();
        for (n, v) in self.encoder.tensors() {
            out.push((format!("encoder.{n}"), v));
        }
        for (n, v) in self.decoder.tensors() {
            out.push((format!("decoder.{n}"), v));
        }
        out
    }

    fn tensors_mut(&mut self) -> Vec<(String, &mut [F])> {
        let mut out: Vec<(String, &mut [F])> = Vec::new();
        for (n, v) in self.encoder.tensors_mut() {
            out.push((format!("encoder.{n}"), v));
        }
        for (n, v) in self.decoder.tensors_mut() {
            out.push((format!("decoder.{n}"), v));
        }
        out
    }
}
