#!/usr/bin/env python3
"""The f32 matrix products of a Qwen3-0.6B prefill in PyTorch (MKL / oneDNN) and NumPy (its BLAS,
OpenBLAS in the PyPI wheels): the 196 projection products `[tokens, d_in] × [d_in, d_out]` of a
128-token pass, on N threads. Beside `cargo run --release -p spec-actions-qwen3 --example
prefill_passes`, which times the same products on burn's Flex (the `gemm` crate) and prints
their GFLOP/s, it says on one machine which library's kernels are fastest there.

Prints one line per library: time (best of 5 after a warm-up) and GFLOP/s.

Usage: python scripts/bench_prefill_matmuls.py [--threads 2] [--tokens 128]
"""

import argparse
import os
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and the BLAS (default 2)")
    parser.add_argument("--tokens", type=int, default=128, help="prompt tokens (default 128)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    try:
        import numpy as np
        import torch
    except ImportError as err:
        sys.exit(f"bench_prefill_matmuls: needs numpy and torch ({err})")
    torch.set_num_threads(args.threads)

    # Qwen3-0.6B: hidden 1024, 16 query heads and 8 kv heads of 128, intermediate 3072, 28 layers
    h, q, kv, i = 1024, 16 * 128, 8 * 128, 3072
    shapes = [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)] * 28
    rng = np.random.default_rng(0)
    xs = {k: rng.standard_normal((args.tokens, k), dtype=np.float32) for k in {k for k, _ in shapes}}
    ws = [rng.standard_normal((k, n), dtype=np.float32) * 0.02 for k, n in shapes]
    flops = sum(2 * args.tokens * k * n for k, n in shapes)

    def best(run, repeats=5):
        run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    txs = {k: torch.from_numpy(x) for k, x in xs.items()}
    tws = [torch.from_numpy(w) for w in ws]
    blas = "?"
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
    except (AttributeError, KeyError, TypeError):
        pass
    print(f"{len(shapes)} products, {flops / 1e9:.1f} GFLOP, {args.threads} threads")
    for name, run in [
        (f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})", lambda: [txs[w.shape[0]] @ w for w in tws]),
        (f"numpy {np.__version__} ({blas})", lambda: [xs[w.shape[0]] @ w for w in ws]),
    ]:
        s = best(run)
        print(f"{name}: {s * 1e3:.1f} ms, {flops / s / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
