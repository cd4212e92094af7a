//! Data helpers: variable-length sequences to padded time-major batches (and back), seeded
//! shuffled batching, and a token vocabulary.

use std::collections::{BTreeSet, HashMap};

use ndarray::{s, Array2, Array3, ArrayView3, Axis};
use rand::seq::SliceRandom;
use rand::RngExt;

use crate::core::error::{Error, Result};
use crate::kernels::float::Float;

/// Checks per-example `lengths` against a batch of `n_batch` sequences of `n_time` steps.
pub fn check_lengths(lengths: &[usize], n_time: usize, n_batch: usize) -> Result<()> {
    if lengths.len() != n_batch {
        return Err(Error::Invalid(format!(
            "lengths: expected {n_batch} (one per example), found {}",
            lengths.len()
        )));
    }
    if let Some((b, &len)) = lengths.iter().enumerate().find(|(_, &l)| l > n_time) {
        return Err(Error::Invalid(format!(
            "lengths[{b}]: expected at most T = {n_time}, found {len}"
        )));
    }
    Ok(())
}

/// Pads sequences `seqs[b]: [len_b, I]` into a time-major batch `[T, B, I]` (`T` = the longest,
/// zeros after each end) and returns it with the lengths. All sequences need the same `I`.
pub fn pad_sequences<F: Float>(seqs: &[Array2<F>]) -> Result<(Array3<F>, Vec<usize>)> {
    let features = seqs.first().map_or(0, |s| s.ncols());
    if let Some((b, bad)) = seqs.iter().enumerate().find(|(_, s)| s.ncols() != features) {
        return Err(Error::shape(
            format!("sequence {b}"),
            format!("[len, I={features}] (the size of sequence 0)"),
            bad.shape(),
        ));
    }
    let lengths: Vec<usize> = seqs.iter().map(|s| s.nrows()).collect();
    let steps = lengths.iter().copied().max().unwrap_or(0);
    let mut batch = Array3::zeros((steps, seqs.len(), features));
    for (b, seq) in seqs.iter().enumerate() {
        batch.slice_mut(s![..seq.nrows(), b, ..]).assign(seq);
    }
    Ok((batch, lengths))
}

/// The inverse of [`pad_sequences`]: cuts `x: [T, B, O]` into `B` sequences `[len_b, O]`.
pub fn unpad<F: Float>(x: ArrayView3<'_, F>, lengths: &[usize]) -> Result<Vec<Array2<F>>> {
    check_lengths(lengths, x.dim().0, x.dim().1)?;
    Ok(lengths
        .iter()
        .enumerate()
        .map(|(b, &len)| x.slice(s![..len, b, ..]).to_owned())
        .collect())
}

/// Pads token sequences into a time-major `[T, B]` array of ids, `pad` after each end, and
/// returns it with the lengths.
pub fn pad_tokens(seqs: &[Vec<usize>], pad: usize) -> (Array2<usize>, Vec<usize>) {
    let lengths: Vec<usize> = seqs.iter().map(Vec::len).collect();
    let steps = lengths.iter().copied().max().unwrap_or(0);
    let mut batch = Array2::from_elem((steps, seqs.len()), pad);
    for (b, seq) in seqs.iter().enumerate() {
        for (t, &id) in seq.iter().enumerate() {
            batch[[t, b]] = id;
        }
    }
    (batch, lengths)
}

/// Splits `0..n` into batches of `batch_size` indices (the last may be smaller), shuffled with
/// `rng` when `shuffle` (the same seed gives the same batches).
pub fn batch_indices(
    n: usize,
    batch_size: usize,
    shuffle: bool,
    rng: &mut impl RngExt,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        order.shuffle(rng);
    }
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// Process `rank`'s share of a batch of `len` examples split over `ranks` processes
/// (data-parallel training): contiguous blocks in rank order, the first `len % ranks` ranks one
/// example more, so the shares in rank order are exactly `0..len`. A rank gets no example when
/// `len < ranks` and `rank >= len`.
///
/// Errors: `ranks` is 0 or `rank` is not below it.
pub fn shard_range(len: usize, rank: usize, ranks: usize) -> Result<std::ops::Range<usize>> {
    if rank >= ranks {
        return Err(Error::Invalid(format!(
            "shard: expected a rank below the number of ranks {ranks}, found {rank}"
        )));
    }
    let (base, extra) = (len / ranks, len % ranks);
    let start = rank * base + rank.min(extra);
    Ok(start..start + base + usize::from(rank < extra))
}

/// The time-major one-hot encoding `[T, B, V]` of token ids `[T, B]` (ids at or past `V`
/// are an error).
pub fn one_hot<F: Float>(
    tokens: ndarray::ArrayView2<'_, usize>,
    vocab: usize,
) -> Result<Array3<F>> {
    let (t, b) = tokens.dim();
    let mut x = Array3::zeros((t, b, vocab));
    for ((i, j), &id) in tokens.indexed_iter() {
        if id >= vocab {
            return Err(Error::Invalid(format!(
                "token at step {i} of example {j}: expected an id below {vocab}, found {id}"
            )));
        }
        x[[i, j, id]] = F::one();
    }
    Ok(x)
}

/// A token vocabulary: ids `0..len` for a set of tokens (characters or words), with optional
/// special tokens (`<pad>`, `<s>`, `</s>`, `<unk>`, ...) first.
///
/// With the feature `serde`, a vocabulary serializes as its tokens by id and the id of the
/// unknown token (`{"tokens": ["<pad>", "a", "b"], "unknown": null}`), so that a model's
/// token ids survive a save; deserializing refuses a token listed twice and an unknown id out of
/// range.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "VocabRepr", into = "VocabRepr")
)]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, usize>,
    unknown: Option<usize>,
}

impl Vocab {
    /// A vocabulary of `specials` (ids `0..specials.len()`, in order) followed by `tokens`
    /// (duplicates dropped, first occurrence wins). If `unknown` names one of the specials,
    /// encoding maps unseen tokens to it; otherwise an unseen token is an error.
    pub fn new<I, S>(specials: &[&str], tokens: I, unknown: Option<&str>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut vocab = Vocab {
            tokens: Vec::new(),
            index: HashMap::new(),
            unknown: None,
        };
        for token in specials
            .iter()
            .map(|s| s.to_string())
            .chain(tokens.into_iter().map(Into::into))
        {
            if !vocab.index.contains_key(&token) {
                vocab.index.insert(token.clone(), vocab.tokens.len());
                vocab.tokens.push(token);
            }
        }
        vocab.unknown = unknown.and_then(|u| vocab.index.get(u).copied());
        vocab
    }

    /// The characters of `text`, sorted, after `specials`.
    pub fn from_chars(text: &str, specials: &[&str], unknown: Option<&str>) -> Self {
        let chars: BTreeSet<char> = text.chars().collect();
        Vocab::new(specials, chars.into_iter().map(String::from), unknown)
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token`.
    pub fn id(&self, token: &str) -> Result<usize> {
        self.index
            .get(token)
            .copied()
            .or(self.unknown)
            .ok_or_else(|| Error::Invalid(format!("token {token:?} is not in the vocabulary")))
    }

    /// The token of `id`.
    pub fn token(&self, id: usize) -> Result<&str> {
        self.tokens.get(id).map(String::as_str).ok_or_else(|| {
            Error::Invalid(format!(
                "token id: expected below {}, found {id}",
                self.tokens.len()
            ))
        })
    }

    /// The ids of the characters of `text`.
    pub fn encode_chars(&self, text: &str) -> Result<Vec<usize>> {
        let mut buf = [0u8; 4];
        text.chars()
            .map(|c| self.id(c.encode_utf8(&mut buf)))
            .collect()
    }

    /// The tokens of `ids`, concatenated.
    pub fn decode(&self, ids: &[usize]) -> Result<String> {
        ids.iter().map(|&id| self.token(id)).collect()
    }

    /// Every token, by id.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }
}

/// What a [`Vocab`] serializes as: its tokens by id and the id of the unknown token.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct VocabRepr {
    tokens: Vec<String>,
    unknown: Option<usize>,
}

#[cfg(feature = "serde")]
impl From<Vocab> for VocabRepr {
    fn from(v: Vocab) -> Self {
        VocabRepr {
            tokens: v.tokens,
            unknown: v.unknown,
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<VocabRepr> for Vocab {
    type Error = Error;

    fn try_from(repr: VocabRepr) -> Result<Self> {
        let mut index = HashMap::with_capacity(repr.tokens.len());
        for (id, token) in repr.tokens.iter().enumerate() {
            if let Some(first) = index.insert(token.clone(), id) {
                return Err(Error::Invalid(format!(
                    "vocabulary: expected unique tokens, found {token:?} at ids {first} and {id}"
                )));
            }
        }
        if let Some(u) = repr.unknown.filter(|&u| u >= repr.tokens.len()) {
            return Err(Error::Invalid(format!(
                "vocabulary: expected the unknown token's id below {}, found {u}",
                repr.tokens.len()
            )));
        }
        Ok(Vocab {
            tokens: repr.tokens,
            index,
            unknown: repr.unknown,
        })
    }
}

/// Selects the examples `indices` (axis 1) of a time-major batch `[T, B, ...]`.
pub fn select_examples<A: Clone, D: ndarray::RemoveAxis>(
    x: &ndarray::Array<A, D>,
    indices: &[usize],
) -> ndarray::Array<A, D> {
    x.select(Axis(1), indices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_rank_order() {
        for len in 0..12 {
            for ranks in 1..5 {
                let mut next = 0;
                for rank in 0..ranks {
                    let r = shard_range(len, rank, ranks).unwrap();
                    assert_eq!(r.start, next);
                    assert!(r.len() == len / ranks || r.len() == len / ranks + 1);
                    next = r.end;
                }
                assert_eq!(next, len);
            }
        }
        assert!(shard_range(4, 2, 2).is_err());
        assert!(shard_range(4, 0, 0).is_err());
    }
}
