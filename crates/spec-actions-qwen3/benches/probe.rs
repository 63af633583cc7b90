use std::time::{Duration, Instant};
use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::model::{KvCache, Qwen3, StepContext};
type B = Flex;
fn main() {
    let device = Default::default();
    let mut config = Qwen3Config::qwen3_0_6b();
    config.num_hidden_layers = 2;
    let model: Qwen3<B> = config.init(&device);
    let layer = &model.layers[0];
    let a = &layer.self_attn;
    for s in [1usize, 128] {
        let mut t: Vec<(&str, Duration)> = Vec::new();
        let reps = if s == 1 { 200 } else { 5 };
        let x = Tensor::<B, 3>::random([1, s, 1024], burn::tensor::Distribution::Default, &device);
        let mut cache = KvCache::<B>::new(&config, 1, 300, &device);
        let mut clock = Instant::now();
        let mut lap = |name: &'static str, t: &mut Vec<(&str, Duration)>| {
            let e = clock.elapsed();
            match t.iter_mut().find(|(n, _)| *n == name) { Some(p) => p.1 += e, None => t.push((name, e)) }
            clock = Instant::now();
        };
        for r in 0..reps {
            let past = if s == 1 { 100 + r % 50 } else { 0 };
            let _ = &mut cache;
            lap("(start)", &mut t);
            let ctx = StepContext::<B>::new(&model.rotary, &[vec![true; past + s]], &[(past..past + s).collect()], past, &device);
            lap("context", &mut t);
            let h = layer.input_layernorm.forward(x.clone());
            lap("norm", &mut t);
            let q = a.q_proj.forward(h.clone()).reshape([1, s, 16, 128]);
            let k = a.k_proj.forward(h.clone()).reshape([1, s, 8, 128]);
            let v = a.v_proj.forward(h).reshape([1, s, 8, 128]).swap_dims(1, 2);
            lap("qkv proj", &mut t);
            let q = a.q_norm.forward(q).swap_dims(1, 2);
            let k = a.k_norm.forward(k).swap_dims(1, 2);
            lap("qk norm", &mut t);
            let q = ctx.rope.apply(q);
            let k = ctx.rope.apply(k);
            lap("rope", &mut t);
            let kk = Tensor::<B, 4>::zeros([1, 8, past + s, 128], &device);
            let vv = Tensor::<B, 4>::zeros([1, 8, past + s, 128], &device);
            let _ = (k, v);
            lap("(zeros kv)", &mut t);
            let q = q.reshape([1, 8, 2 * s, 128]);
            let scores = q.matmul(kk.swap_dims(2, 3)).mul_scalar(0.088).reshape([1, 8, 2, s, past + s]);
            lap("qk matmul", &mut t);
            let scores = match &ctx.bias { Some(b) => scores + b.clone(), None => scores };
            lap("bias", &mut t);
            let p = softmax(scores, 4);
            lap("softmax", &mut t);
            let o = p.reshape([1, 8, 2 * s, past + s]).matmul(vv);
            lap("pv matmul", &mut t);
            let o = o.reshape([1, 16, s, 128]).swap_dims(1, 2).reshape([1, s, 2048]);
            lap("merge heads", &mut t);
            let o = a.o_proj.forward(o);
            lap("o proj", &mut t);
            let h = x.clone() + o;
            lap("residual", &mut t);
            let n = layer.post_attention_layernorm.forward(h.clone());
            lap("norm", &mut t);
            let g = layer.mlp.gate_proj.forward(n.clone());
            let u = layer.mlp.up_proj.forward(n);
            lap("gate/up proj", &mut t);
            let m = burn::tensor::activation::silu(g) * u;
            lap("silu*up", &mut t);
            let d = layer.mlp.down_proj.forward(m);
            lap("down proj", &mut t);
            let out = h + d;
            let _ = out.into_data();
            lap("residual+sync", &mut t);
        }
        let total: Duration = t.iter().map(|p| p.1).sum();
        eprintln!("seq {s}: per layer {:?}", total / reps as u32);
        for (n, d) in &t {
            eprintln!("  {n:<14} {:>10.1} µs", d.as_secs_f64() * 1e6 / reps as f64);
        }
    }
    let _ = model;
}
