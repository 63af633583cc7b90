#!/usr/bin/env bash
# Forces the CPU fallback paths of the run-time SIMD dispatch and checks that they compute what
# the fast path computes (issue 19: "the build still runs on a CPU without AVX-512").
#
# The matmul kernels (the `gemm` crate behind burn's Flex backend, built with its AVX-512
# kernels by the workspace's `x86-v4` feature) are chosen at run time from CPUID. Under
# `qemu-x86_64 -cpu MODEL` (Debian package `qemu-user`) a test binary sees the emulated CPU's
# CPUID, so the same binaries run:
#   Haswell  - AVX2 + FMA, no AVX-512  -> gemm's AVX2+FMA kernels, Flex's 256-bit (AVX2) f32 and bf16 decode kernels
#   Nehalem  - SSE4.2 only             -> gemm's portable kernels, Flex's portable f32 and bf16 loops
# For each, the `machine` example must report the expected kernels of both, and the Qwen3 parity tests
# (logits, padded logits, greedy output, LoRA / merged logits, loss and every LoRA gradient
# against transformers + PEFT, and the bf16 / f16 mixed-precision checks) must pass at the
# tolerances they use natively, and so must the vendored Flex's vectorised `exp` (`flex_exp`:
# 2 ulp of `f64::exp`, dispatched by `macerator` to the emulated CPU's SIMD level).
#
# Usage: scripts/cpu_fallback.sh [MODEL=MATMUL_KERNELS,DECODE_KERNELS ...]
#   default: Haswell=AVX2+FMA,AVX2 Nehalem=portable,portable
set -euo pipefail
cd "$(dirname "$0")/.."
command -v qemu-x86_64 >/dev/null || { echo "cpu_fallback: qemu-x86_64 not found (apt-get install qemu-user)" >&2; exit 2; }
[ "$(uname -m)" = x86_64 ] || { echo "cpu_fallback: x86_64 only" >&2; exit 2; }

cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(Haswell=AVX2+FMA,AVX2 Nehalem=portable,portable)

# Build once, natively (the runner does not change what is built). `--workspace` keeps the
# feature set of `cargo test --workspace`, so nothing is built a second time.
cargo build -q -p spec-actions-core --example machine
cargo test -q --workspace --test parity --test lora_parity --test mixed_precision --test flex_exp --test flex_gemv --no-run
echo "native: $(cargo run -q -p spec-actions-core --example machine)"

for case in "${cases[@]}"; do
    model=${case%%=*}
    expected=${case#*=}
    matmul=${expected%%,*}
    decode=${expected#*,}
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="qemu-x86_64 -cpu $model"
    seen=$(cargo run -q -p spec-actions-core --example machine)
    echo "qemu -cpu $model: $seen"
    case "$seen" in
        # A prefix: where a CPU has more than one kernel, the report goes on to say how one is chosen.
        *"matmul kernels: $matmul · decode kernels: $decode"*) ;;
        *) echo "cpu_fallback: under -cpu $model expected matmul kernels '$matmul', decode kernels '$decode'" >&2; exit 1 ;;
    esac
    cargo test -q --workspace --test parity --test lora_parity --test mixed_precision --test flex_exp --test flex_gemv
    unset CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER
done
echo "cpu_fallback: every fallback path passed"
