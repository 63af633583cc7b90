//! [`KvCache`]: pre-allocated key/value buffers of every layer, written in place.

use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::config::Qwen3Config;
use crate::huge_pages::{in_huge_pages, zeros_in_huge_pages};

/// Keys and values of one layer: `[batch, kv_heads, capacity, head_dim]` buffers of which the
/// first `len` positions (held by [`KvCache`]) are valid.
#[derive(Debug, Clone)]
pub struct LayerKv<B: Backend> {
    keys: Tensor<B, 4>,
    values: Tensor<B, 4>,
}

/// The key/value cache of all layers for one batch.
///
/// Buffers are allocated once at `capacity` positions; each forward call writes its new keys
/// and values into them with `slice_assign` (in place when the buffer is not shared) and
/// attends over a zero-copy slice of the valid prefix. Exceeding the capacity grows the
/// buffers (a copy), so callers should size it for prompt + new tokens.
///
/// A decode step reads every cached key and value once, as the weights are read: on Flex a
/// buffer of at least [`HUGE_PAGE_BYTES`](crate::huge_pages::HUGE_PAGE_BYTES) (512 positions
/// of Qwen3-0.6B's 8 kv heads × 128 per batch row) lives in huge-page memory
/// ([`zeros_in_huge_pages`]; again after a cast or a growth), where the attention of a long
/// context reads it faster than from the heap's 4 KiB pages (`ARCHITECTURE.md`,
/// `spec_actions_qwen3::model::direct_attention`).
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<LayerKv<B>>,
    len: usize,
}

impl<B: Backend> LayerKv<B> {
    fn zeros(batch: usize, kv_heads: usize, capacity: usize, head_dim: usize, device: &B::Device) -> Self {
        let shape = [batch, kv_heads, capacity, head_dim];
        Self {
            keys: zeros_in_huge_pages(shape, FloatDType::F32, device),
            values: zeros_in_huge_pages(shape, FloatDType::F32, device),
        }
    }

    /// Writes `keys`/`values` at positions `offset..offset+seq` and returns the valid prefix
    /// `0..offset+seq` of both buffers.
    ///
    /// # Shapes
    /// - `keys`, `values`: `[batch, kv_heads, seq, head_dim]`
    /// - returns two `[batch, kv_heads, offset + seq, head_dim]`
    pub fn append(
        &mut self,
        keys: Tensor<B, 4>,
        values: Tensor<B, 4>,
        offset: usize,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [b, h, s, d] = keys.dims();
        // The buffers take the dtype of what is written into them (the model's compute dtype).
        let dtype = keys.dtype();
        if self.keys.dtype() != dtype {
            self.keys = in_huge_pages(self.keys.clone().cast(dtype));
            self.values = in_huge_pages(self.values.clone().cast(dtype));
        }
        let end = offset + s;
        let capacity = self.keys.dims()[2];
        if end > capacity {
            self.keys = grown(&self.keys, end.max(capacity * 2));
            self.values = grown(&self.values, end.max(capacity * 2));
        }
        // Move the buffers out so that they are uniquely owned and written in place.
        let device = self.keys.device();
        let placeholder = || Tensor::<B, 4>::empty([0, 0, 0, 0], &device);
        let k_buf = std::mem::replace(&mut self.keys, placeholder());
        let v_buf = std::mem::replace(&mut self.values, placeholder());
        self.keys = k_buf.slice_assign([0..b, 0..h, offset..end, 0..d], keys);
        self.values = v_buf.slice_assign([0..b, 0..h, offset..end, 0..d], values);
        (
            self.keys.clone().slice([0..b, 0..h, 0..end, 0..d]),
            self.values.clone().slice([0..b, 0..h, 0..end, 0..d]),
        )
    }
}

/// `buffer` with room for `capacity` positions: a new zero buffer ([`zeros_in_huge_pages`])
/// with the old positions copied to its start — one copy, written where it will stay.
///
/// # Shapes
/// - `buffer`: `[batch, kv_heads, old capacity, head_dim]`
/// - returns `[batch, kv_heads, capacity, head_dim]`
fn grown<B: Backend>(buffer: &Tensor<B, 4>, capacity: usize) -> Tensor<B, 4> {
    let [b, h, old, d] = buffer.dims();
    let zeros = zeros_in_huge_pages([b, h, capacity, d], buffer.dtype().into(), &buffer.device());
    zeros.slice_assign([0..b, 0..h, 0..old, 0..d], buffer.clone())
}

impl<B: Backend> KvCache<B> {
    /// Zero buffers for `batch` rows and `capacity` positions.
    pub fn new(config: &Qwen3Config, batch: usize, capacity: usize, device: &B::Device) -> Self {
        let layers = (0..config.num_hidden_layers)
            .map(|_| {
                LayerKv::zeros(
                    batch,
                    config.num_key_value_heads,
                    capacity,
                    config.head_dim,
                    device,
                )
            })
            .collect();
        Self { layers, len: 0 }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` before the first forward call.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Allocated positions per row.
    pub fn capacity(&self) -> usize {
        self.layers.first().map_or(0, |l| l.keys.dims()[2])
    }

    /// Batch rows.
    pub fn batch_size(&self) -> usize {
        self.layers.first().map_or(0, |l| l.keys.dims()[0])
    }

    pub(crate) fn layer_mut(&mut self, index: usize) -> &mut LayerKv<B> {
        &mut self.layers[index]
    }

    pub(crate) fn advance(&mut self, positions: usize) {
        self.len += positions;
    }

    /// The caches of several batches (of one length and capacity) stacked into one batch, in
    /// order: the caches of prompts prefilled in groups, joined for decoding.
    ///
    /// # Shapes
    /// - each part's buffers: `[batch_i, kv_heads, capacity, head_dim]`
    /// - returns buffers `[Σ batch_i, kv_heads, capacity, head_dim]`
    pub fn cat_rows(mut parts: Vec<Self>) -> Self {
        if parts.len() <= 1 {
            return parts.pop().unwrap_or(Self {
                layers: Vec::new(),
                len: 0,
            });
        }
        let len = parts[0].len;
        let layers = (0..parts[0].layers.len())
            .map(|i| {
                let (keys, values): (Vec<_>, Vec<_>) = parts
                    .iter()
                    .map(|p| {
                        let layer = &p.layers[i];
                        (layer.keys.clone(), layer.values.clone())
                    })
                    .unzip();
                LayerKv {
                    keys: Tensor::cat(keys, 0),
                    values: Tensor::cat(values, 0),
                }
            })
            .collect();
        Self { layers, len }
    }

    /// A new cache whose row `i` is row `rows[i]` of this one (rows may repeat): a prompt's
    /// cache shared by several continuations, or the rows still decoding.
    ///
    /// # Shapes
    /// - returns buffers `[rows.len(), kv_heads, capacity, head_dim]`
    pub fn select_rows(&self, rows: &[usize]) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let device = layer.keys.device();
                let index = Tensor::<B, 1, Int>::from_data(
                    TensorData::new(rows.iter().map(|&r| r as i64).collect::<Vec<_>>(), [rows.len()]),
                    &device,
                );
                LayerKv {
                    keys: layer.keys.clone().select(0, index.clone()),
                    values: layer.values.clone().select(0, index),
                }
            })
            .collect();
        Self {
            layers,
            len: self.len,
        }
    }

    /// A new cache whose `rows` rows all hold this (single-row) cache's valid prefix, with
    /// room for `extra` more positions: the prompt's cache shared by a batch of candidates.
    pub fn expand_rows(&self, rows: usize, extra: usize) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let [_, h, _, d] = layer.keys.dims();
                let device = layer.keys.device();
                let grow = |buf: &Tensor<B, 4>| {
                    let valid = buf
                        .clone()
                        .slice([0..1, 0..h, 0..self.len, 0..d])
                        .repeat_dim(0, rows);
                    let zeros = Tensor::<B, 4>::zeros([rows, h, extra, d], &device).cast(buf.dtype());
                    Tensor::cat(vec![valid, zeros], 2)
                };
                LayerKv {
                    keys: grow(&layer.keys),
                    values: grow(&layer.values),
                }
            })
            .collect();
        Self {
            layers,
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::FloatDType;

    use super::*;

    fn buffer_address(t: &Tensor<Flex, 4>) -> usize {
        t.clone().into_primitive().tensor().storage::<f32>().as_ptr() as usize
    }

    /// Decode steps write into the buffers allocated once (no copy of the cache a step, once
    /// the previous step's prefix views are dropped), and the prefix holds every step's values.
    #[test]
    fn appends_write_into_the_buffers_allocated_once() {
        let device = Default::default();
        let (heads, capacity, head_dim) = (2, 4, 3);
        let mut layer = LayerKv::<Flex>::zeros(1, heads, capacity, head_dim, &device);
        let addresses = |l: &LayerKv<Flex>| (buffer_address(&l.keys), buffer_address(&l.values));
        let allocated = addresses(&layer);
        for step in 0..capacity {
            let value = step as f32 + 1.0;
            let k = Tensor::<Flex, 4>::full([1, heads, 1, head_dim], value, &device);
            let (keys, values) = layer.append(k.clone(), k.neg(), step);
            assert_eq!(addresses(&layer), allocated, "step {step} copied the cache");
            let expected: Vec<f32> = (0..heads)
                .flat_map(|_| (0..=step).flat_map(|p| std::iter::repeat_n(p as f32 + 1.0, head_dim)))
                .collect();
            assert_eq!(keys.into_data().to_vec::<f32>().unwrap(), expected);
            let negated: Vec<f32> = expected.iter().map(|x| -x).collect();
            assert_eq!(values.into_data().to_vec::<f32>().unwrap(), negated);
        }
    }

    /// A buffer of at least a huge page starts in huge-page memory, is written there in place
    /// step after step, and returns there after a growth and a cast (what a decode step reads
    /// whole); the values are those written, the rest zeros. A smaller buffer stays in the heap.
    #[test]
    fn a_long_cache_lives_in_huge_pages_through_appends_growth_and_casts() {
        use crate::huge_pages::{HUGE_PAGE_BYTES, advised_huge_pages};
        let linux = cfg!(target_os = "linux");
        let device = Default::default();
        let (heads, head_dim) = (2, 64);
        // f32 positions filling one huge page exactly, and one position fewer
        let capacity = HUGE_PAGE_BYTES / (heads * head_dim * 4);
        let small = LayerKv::<Flex>::zeros(1, heads, capacity - 1, head_dim, &device);
        assert!(!advised_huge_pages(&small.keys) && !advised_huge_pages(&small.values));
        let mut layer = LayerKv::<Flex>::zeros(1, heads, capacity, head_dim, &device);
        assert_eq!(advised_huge_pages(&layer.keys), linux);
        assert_eq!(advised_huge_pages(&layer.values), linux);
        assert_eq!(layer.keys.clone().abs().max().into_scalar(), 0.0, "zeros");
        let allocated = buffer_address(&layer.keys);
        let row = |step: usize| Tensor::<Flex, 4>::full([1, heads, 1, head_dim], step as f32 + 1.0, &device);
        for step in 0..3 {
            let (keys, _) = layer.append(row(step), row(step).neg(), step);
            assert_eq!(keys.dims(), [1, heads, step + 1, head_dim]);
        }
        assert_eq!(buffer_address(&layer.keys), allocated, "written in place");
        assert_eq!(advised_huge_pages(&layer.keys), linux);
        // past the capacity: the grown buffers go back into huge pages, the prefix kept
        let (keys, values) = layer.append(row(capacity), row(capacity).neg(), capacity);
        assert_eq!(layer.keys.dims()[2], 2 * capacity);
        assert_eq!(advised_huge_pages(&layer.keys), linux);
        assert_eq!(advised_huge_pages(&layer.values), linux);
        let sums = |t: Tensor<Flex, 4>| t.sum_dim(3).sum_dim(1).into_data().to_vec::<f32>().unwrap();
        let per_position = |p: usize| match p {
            0..3 => (p as f32 + 1.0) * (heads * head_dim) as f32,
            p if p == capacity => (capacity as f32 + 1.0) * (heads * head_dim) as f32,
            _ => 0.0,
        };
        let expected: Vec<f32> = (0..=capacity).map(per_position).collect();
        assert_eq!(sums(keys), expected);
        assert_eq!(sums(values.neg()), expected);
        // a cast to the compute dtype of what is written: bf16 of twice the positions is a
        // huge page again
        let mut wide = LayerKv::<Flex>::zeros(1, heads, 2 * capacity, head_dim, &device);
        let (keys, _) = wide.append(row(0).cast(FloatDType::BF16), row(0).cast(FloatDType::BF16), 0);
        assert_eq!(keys.dtype(), burn::tensor::DType::BF16);
        assert_eq!(advised_huge_pages(&wide.keys), linux);
        assert_eq!(advised_huge_pages(&wide.values), linux);
        // and a bf16 buffer grows in bf16, in huge pages, its prefix kept
        let end = 2 * capacity;
        // (2 at `end`: a value bf16 holds exactly)
        let (keys, _) = wide.append(row(1).cast(FloatDType::BF16), row(1).cast(FloatDType::BF16), end);
        assert_eq!(wide.keys.dims()[2], 4 * capacity);
        assert_eq!(wide.keys.dtype(), burn::tensor::DType::BF16);
        assert_eq!(advised_huge_pages(&wide.keys), linux);
        let sums = sums(keys.cast(FloatDType::F32));
        let one_position = (heads * head_dim) as f32;
        assert_eq!(
            (sums[0], sums[1], sums[end]),
            (one_position, 0.0, 2.0 * one_position)
        );
    }
}
