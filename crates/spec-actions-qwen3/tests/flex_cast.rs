//! Float casts on the Flex CPU backend as this workspace builds it: the vendored burn-flex
//! converts in one pass, on rayon's threads for large tensors (`vendor/README.md`, change 5),
//! where upstream went through an f64 vector. The reference is upstream's rule, written out
//! with the `half` crate: widen the source to f64 (exact), round that to the target. Every
//! pair of f32 / f64 / f16 / bf16, over bit patterns of every class (normals, subnormals,
//! ±0, ±∞, NaN, rounding ties), above and below the size at which the cast is threaded, and
//! from a transposed (non-contiguous) view.

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use half::{bf16, f16};

type B = Flex;

/// 600 Ki f32 bit patterns spread over the whole space, and the edges.
fn f32_patterns() -> Vec<f32> {
    let mut v: Vec<f32> = (0..600 * 1024u32)
        .map(|i| f32::from_bits(i.wrapping_mul(2_654_435_761)))
        .collect();
    v.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE / 3.0,
        65_504.0,
        65_520.0,
    ]);
    // bf16 and f16 ties: halfway between two representable values
    v.extend([
        f32::from_bits(0x3f80_8000),
        f32::from_bits(0x3f81_8000),
        1.0 + 2f32.powi(-11),
    ]);
    v
}

/// A value as upstream widened it (`to_f32() as f64` for the halves).
fn wide(data: &TensorData) -> Vec<f64> {
    match data.dtype {
        DType::F32 => data
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .map(|&v| f64::from(v))
            .collect(),
        DType::F64 => data.as_slice::<f64>().unwrap().to_vec(),
        DType::F16 => data
            .as_slice::<f16>()
            .unwrap()
            .iter()
            .map(|v| f64::from(v.to_f32()))
            .collect(),
        DType::BF16 => data
            .as_slice::<bf16>()
            .unwrap()
            .iter()
            .map(|v| f64::from(v.to_f32()))
            .collect(),
        other => panic!("not a float dtype: {other:?}"),
    }
}

/// The bytes of `values` rounded to `dtype` by upstream's rule.
fn expected_bytes(values: &[f64], dtype: FloatDType) -> Vec<u8> {
    match dtype {
        FloatDType::F32 => values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect(),
        FloatDType::F64 => values.iter().flat_map(|&v| v.to_le_bytes()).collect(),
        FloatDType::F16 => values
            .iter()
            .flat_map(|&v| f16::from_f64(v).to_le_bytes())
            .collect(),
        FloatDType::BF16 => values
            .iter()
            .flat_map(|&v| bf16::from_f64(v).to_le_bytes())
            .collect(),
        other => panic!("not tested: {other:?}"),
    }
}

const DTYPES: [FloatDType; 4] = [
    FloatDType::F32,
    FloatDType::F64,
    FloatDType::F16,
    FloatDType::BF16,
];

#[test]
fn every_cast_gives_upstreams_bits_serial_threaded_and_strided() {
    let device = Default::default();
    let patterns = f32_patterns();
    for len in [1_000, patterns.len()] {
        let base = Tensor::<B, 1>::from_data(TensorData::new(patterns[..len].to_vec(), [len]), &device);
        for from in DTYPES {
            // the source in `from`: f64 sources carry values no f32 holds
            let source = match from {
                FloatDType::F64 => base.clone().cast(FloatDType::F64).mul_scalar(1.000_000_1),
                _ => base.clone().cast(from),
            };
            let source_data = source.to_data();
            let values = wide(&source_data);
            for to in DTYPES {
                let got = source.clone().cast(to).into_data();
                assert_eq!(got.dtype, DType::from(to));
                // a cast to its own dtype returns the tensor unchanged (NaN payloads too)
                let expected = match from == to {
                    true => source_data.as_bytes().to_vec(),
                    false => expected_bytes(&values, to),
                };
                assert!(
                    got.as_bytes() == &expected[..],
                    "{from:?} → {to:?}, {len} elements: not upstream's bits"
                );
            }
        }
    }
    // a transposed view: the cast reads it in logical order
    let m = Tensor::<B, 2>::from_data(
        TensorData::new(patterns[..512 * 600].to_vec(), [512, 600]),
        &device,
    );
    let t = m.transpose();
    let values = wide(&t.to_data());
    for to in DTYPES.into_iter().filter(|&d| d != FloatDType::F32) {
        let got = t.clone().cast(to).into_data();
        assert!(
            got.as_bytes() == &expected_bytes(&values, to)[..],
            "transposed f32 → {to:?}"
        );
    }
}
