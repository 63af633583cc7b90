#!/usr/bin/env bash
# Issue 19's CPU benches on N cores of a larger machine (a GPU host's CPU, say), so that its
# figures compare with a small N-core machine's: every process (ours and the PyTorch anchors)
# runs under `taskset` on N CPUs of distinct physical cores, rayon and torch on N threads.
#   1. the CPU: model, SIMD flags, the CPUs chosen (lscpu);
#   2. `qwen3_forward` (its headline table: prefill, decode f32 / bf16, copy and read bandwidth,
#      PyTorch eager anchor), run as the bench binary with `--bench nomatch`;
#   3. `lora_step` (criterion group + its PyTorch + PEFT anchor);
#   4. `decode_products` on N threads and on one (each product's time and GB/s);
#   5. where the time goes, for a machine without `perf`: `decode_steps` f32 and bf16 (a step
#      and its parts: projections, products alone, head, the rest), `prefill_passes` (a pass and
#      its projection products alone), `bf16_row_kernels` (variants of the bf16 decode kernel),
#      and the same products in PyTorch and NumPy's BLAS (`scripts/bench_prefill_matmuls.py`).
#
# Usage: scripts/bench_pinned.sh [--cores N] [--bin-dir DIR] [--python PATH] [--out DIR] [--help]
#   --cores N       CPUs to run on, each on its own physical core (default 2)
#   --bin-dir DIR   prebuilt binaries `qwen3_forward`, `lora_step`, `decode_products`, `decode_steps`,
#                   `prefill_passes`, `bf16_row_kernels` (built here by `cargo bench --no-run` /
#                   `cargo build --release --example`, for a machine without cargo); default:
#                   cargo builds and runs them
#   --python PATH   Python with torch, transformers and peft for the anchors (default: python3)
#   --out DIR       where the logs go (default: target/bench-pinned)
# Exit status: 0 done, 1 a bench failed, 2 bad arguments or an unusable environment.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "bench_pinned: $*" >&2; exit 2; }

CORES=2 BIN_DIR="" PYTHON=python3 OUT=target/bench-pinned
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --cores) [ $# -ge 2 ] || die "--cores needs a number"; CORES=$2; shift 2 ;;
        --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a folder"; BIN_DIR=$2; shift 2 ;;
        --python) [ $# -ge 2 ] || die "--python needs a path"; PYTHON=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a folder"; OUT=$2; shift 2 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case "$CORES" in ''|*[!0-9]*|0) die "--cores must be a positive integer, not '$CORES'" ;; esac
command -v taskset >/dev/null || die "no taskset (util-linux) here"
command -v lscpu >/dev/null || die "no lscpu (util-linux) here"
if [ -n "$BIN_DIR" ]; then
    for b in qwen3_forward lora_step decode_products decode_steps prefill_passes bf16_row_kernels; do
        [ -x "$BIN_DIR/$b" ] || die "--bin-dir $BIN_DIR has no executable '$b'"
    done
elif ! command -v cargo >/dev/null; then
    die "no cargo and no --bin-dir: nothing to run"
fi

# N CPUs, the first of each physical core (socket 0 first), so no two share a core's caches.
cpus=$(lscpu -p=CPU,CORE,SOCKET | grep -v '^#' | sort -t, -k3,3n -k2,2n -k1,1n \
    | awk -F, '!seen[$3 "," $2]++ {print $1}' | head -n "$CORES" | paste -sd, -)
[ "$(echo "$cpus" | tr ',' '\n' | grep -c .)" -eq "$CORES" ] \
    || die "this machine has fewer than $CORES physical cores ($cpus)"
mkdir -p "$OUT"
export RAYON_NUM_THREADS=$CORES OMP_NUM_THREADS=$CORES SPEC_ACTIONS_PYTHON=$PYTHON
pin() { taskset -c "$cpus" "$@"; }
started=$SECONDS
stamp() { printf '\n=== [%3d s] %s ===\n' $((SECONDS - started)) "$*"; }

stamp "cpu"
{ lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L2|L3|NUMA node\(s\))'
  echo "pinned to CPUs $cpus ($CORES physical cores), RAYON_NUM_THREADS=$CORES"
  grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_vnni|avx512_fp16|amx_bf16|amx_tile)$' | paste -sd' ' -
} | tee "$OUT/cpu.txt"

failed=0
run() { # run NAME COMMAND...: log to $OUT/NAME.log, remember a failure
    local name=$1; shift
    stamp "$name"
    pin "$@" >"$OUT/$name.log" 2>&1 || { echo "bench_pinned: $name failed (see $OUT/$name.log)" >&2; failed=1; }
    grep -v -E '^(Benchmarking|Gnuplot|Found|  [0-9]+ \()' "$OUT/$name.log" | tail -40
}
if [ -n "$BIN_DIR" ]; then
    run qwen3_forward "$BIN_DIR/qwen3_forward" --bench nomatch
    run lora_step "$BIN_DIR/lora_step" --bench
    run decode_products "$BIN_DIR/decode_products"
    RAYON_NUM_THREADS=1 run decode_products_1thread "$BIN_DIR/decode_products"
    run decode_steps_f32 "$BIN_DIR/decode_steps" f32 32
    run decode_steps_bf16 "$BIN_DIR/decode_steps" bf16 32
    run prefill_passes "$BIN_DIR/prefill_passes" 128 6
    run bf16_row_kernels "$BIN_DIR/bf16_row_kernels"
else
    run qwen3_forward cargo bench -p spec-actions-qwen3 --bench qwen3_forward -- nomatch
    run lora_step cargo bench -p spec-actions-train --bench lora_step
    run decode_products cargo run --release -p spec-actions-qwen3 --example decode_products
    RAYON_NUM_THREADS=1 run decode_products_1thread cargo run --release -p spec-actions-qwen3 --example decode_products
    run decode_steps_f32 cargo run --release -p spec-actions-qwen3 --example decode_steps -- f32 32
    run decode_steps_bf16 cargo run --release -p spec-actions-qwen3 --example decode_steps -- bf16 32
    run prefill_passes cargo run --release -p spec-actions-qwen3 --example prefill_passes -- 128 6
    run bf16_row_kernels cargo run --release -p spec-actions-qwen3 --example bf16_row_kernels
fi
run prefill_matmuls "$PYTHON" scripts/bench_prefill_matmuls.py --threads "$CORES"
echo "bench_pinned: done in $((SECONDS - started)) s; logs in $OUT"
exit $failed
