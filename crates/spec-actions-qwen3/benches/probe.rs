use std::time::Instant;
use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::FloatDType;
type B = Flex;
fn t<T>(name: &str, f: impl Fn() -> T) { let _ = f(); let s = Instant::now(); for _ in 0..20 { let _ = std::hint::black_box(f()); } eprintln!("{name:<24} {:>8.1} µs", s.elapsed().as_secs_f64() * 1e6 / 20.0); }
fn main() {
    let d = Default::default();
    let x = Tensor::<B, 3>::random([1, 128, 1024], burn::tensor::Distribution::Default, &d);
    let w = Tensor::<B, 1>::random([1024], burn::tensor::Distribution::Default, &d);
    let v = Tensor::<B, 3>::random([1, 128, 1], burn::tensor::Distribution::Default, &d);
    t("clone+add scalar", || x.clone().add_scalar(1.0));
    t("cast f32", || x.clone().cast(FloatDType::F32));
    t("powi_scalar 2", || x.clone().powi_scalar(2));
    t("x*x", || x.clone() * x.clone());
    t("mean_dim 2", || x.clone().mean_dim(2));
    t("sum_dim 2", || x.clone().sum_dim(2));
    t("mul bcast [1,128,1]", || x.clone() * v.clone());
    t("mul bcast w [1,1,1024]", || x.clone() * w.clone().unsqueeze::<3>());
    t("mul expand [1,128,1]", || x.clone() * v.clone().expand([1, 128, 1024]));
    t("mul expand w", || x.clone() * w.clone().unsqueeze::<3>().expand([1, 128, 1024]));
    t("x+1 then mul expand w", || x.clone().add_scalar(1.0) * w.clone().unsqueeze::<3>().expand([1, 128, 1024]));
    t("sqrt small", || v.clone().sqrt().recip());
    let q = Tensor::<B, 4>::random([1, 128, 16, 128], burn::tensor::Distribution::Default, &d);
    t("swap_dims(1,2)+add", || q.clone().swap_dims(1, 2).add_scalar(1.0));
    t("slice half", || q.clone().slice([0..1, 0..128, 0..16, 0..64]).add_scalar(1.0));
    t("cat halves", || Tensor::cat(vec![q.clone().slice([0..1, 0..128, 0..16, 64..128]), q.clone().slice([0..1, 0..128, 0..16, 0..64])], 3));
    t("silu", || burn::tensor::activation::silu(x.clone()));
    t("reshape noncontig", || q.clone().swap_dims(1, 2).reshape([1, 16 * 128, 128]));
}
