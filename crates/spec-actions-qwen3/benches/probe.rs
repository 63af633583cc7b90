use std::time::Instant;
use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::model::{KvCache, Qwen3, StepContext};
type B = Flex;
fn main() {
    let device = Default::default();
    let config = Qwen3Config::qwen3_0_6b();
    let model: Qwen3<B> = config.init(&device);
    let p = 128;
    let mut cache = KvCache::new(&config, 1, p, &device);
    let ctx = StepContext::new(&model.rotary, &[vec![true; p]], &[(0..p).collect()], 0, &device);
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new((0..p as i64).collect::<Vec<_>>(), [1, p]), &device);
    let t = Instant::now();
    let h = model.forward_hidden(input, &ctx, Some(&mut cache), None);
    let _ = h.into_data();
    eprintln!("prefill {:?}", t.elapsed());
    let (n, steps) = (9, 3);
    let t = Instant::now();
    let mut c2 = cache.expand_rows(n, steps);
    eprintln!("expand {:?}", t.elapsed());
    let ctx = StepContext::new(&model.rotary, &vec![vec![true; p + steps]; n], &vec![(p..p + steps).collect(); n], p, &device);
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![5i64; n * steps], [n, steps]), &device);
    let t = Instant::now();
    let h = model.forward_hidden(input, &ctx, Some(&mut c2), None);
    let h = Tensor::<B, 3>::from_data(h.into_data(), &device);
    eprintln!("cand forward {:?}", t.elapsed());
    let t = Instant::now();
    let l = model.logits(h);
    let l = Tensor::<B, 3>::from_data(l.into_data(), &device);
    eprintln!("logits {:?}", t.elapsed());
    let t = Instant::now();
    let _ = log_softmax(l, 2).into_data();
    eprintln!("log_softmax {:?}", t.elapsed());
    // decode breakdown
    let mut c3 = KvCache::new(&config, 1, p + 40, &device);
    let ctx = StepContext::new(&model.rotary, &[vec![true; p]], &[(0..p).collect()], 0, &device);
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new((0..p as i64).collect::<Vec<_>>(), [1, p]), &device);
    let _ = model.forward_hidden(input, &ctx, Some(&mut c3), None).into_data();
    let t = Instant::now();
    for i in 0..10 {
        let ctx = StepContext::new(&model.rotary, &[vec![true; p + i + 1]], &[vec![p + i]], p + i, &device);
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![5i64], [1, 1]), &device);
        let _ = model.forward_hidden(input, &ctx, Some(&mut c3), None).into_data();
    }
    eprintln!("decode body per step {:?}", t.elapsed() / 10);
    let h = Tensor::<B, 3>::zeros([1, 1, 1024], &device);
    let t = Instant::now();
    for _ in 0..10 { let _ = model.logits(h.clone()).into_data(); }
    eprintln!("lm_head per step {:?}", t.elapsed() / 10);
}
