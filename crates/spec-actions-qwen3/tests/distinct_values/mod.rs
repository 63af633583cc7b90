//! Inputs shared by the Flex op tests (`flex_binary.rs`, `flex_unzeroed.rs`).

/// `n` distinct, non-trivial f32 values (none zero, so that a division is defined).
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
            (x as f32 / (1u32 << 24) as f32 - 0.5) * 3.0 + if i % 2 == 0 { 0.25 } else { -0.25 }
        })
        .collect()
}
