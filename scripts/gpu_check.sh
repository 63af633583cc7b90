#!/usr/bin/env bash
# The GPU check of issue 16, for one H100 / H200 machine, in under 8 minutes:
#   1. build xtask with `--features cuda` (or take a prebuilt one: --xtask PATH);
#   2. fixture parity with transformers on CUDA in f32 and bf16
#      (crates/spec-actions-qwen3/tests/cuda_parity.rs; built by cargo, or prebuilt: --parity-test;
#      skipped with a note with neither);
#   3. N LoRA steps of the qwen3 preset's Qwen3-1.7B-shaped (cheap) and Qwen3-8B-shaped (strong)
#      random-weight models in bf16 at the preset's batch x sequence, through `xtask dry-run`
#      (one recording step too), with the peak GPU memory sampled from nvidia-smi;
#   4. the same step with PyTorch + PEFT on the same GPU (scripts/bench_gpu_lora_step.py),
#      and one table: tokens/s and peak GPU memory of both, and the ratio.
#
# Usage: scripts/gpu_check.sh [--xtask PATH] [--parity-test PATH] [--python PATH] [--steps N]
#                             [--out DIR] [--skip-parity] [--skip-pytorch] [--check] [--help]
#   --xtask PATH    a prebuilt `xtask` built with `--features cuda` (default: cargo builds it)
#   --parity-test PATH
#                   the prebuilt parity test (`cargo test --release -p spec-actions-qwen3
#                   --features cuda --test cuda_parity --no-run` prints its path), for a GPU
#                   machine without cargo; it reads the fixtures of the checkout it was built in
#   --python PATH   Python with torch, transformers and peft (default: /work/venv/bin/python,
#                   else python3)
#   --steps N       LoRA steps per model (default 3; the rate is over steps 2 onwards, step 1
#                   — kernel compilation and autotuning — reported apart)
#   --out DIR       where the JSON, logs and the table go (default: target/gpu-check)
#   --check         validate the arguments and the environment and print the plan; runs
#                   nothing on a GPU (what CI runs, on a machine without one)
# Exit status: 0 done, 1 a step failed, 2 bad arguments or an unusable environment.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "gpu_check: $*" >&2; exit 2; }

XTASK="" PARITY_TEST="" PYTHON="" STEPS=3 OUT=target/gpu-check CHECK=0 PARITY=1 PYTORCH=1
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --xtask) [ $# -ge 2 ] || die "--xtask needs a path"; XTASK=$2; shift 2 ;;
        --parity-test) [ $# -ge 2 ] || die "--parity-test needs a path"; PARITY_TEST=$2; shift 2 ;;
        --python) [ $# -ge 2 ] || die "--python needs a path"; PYTHON=$2; shift 2 ;;
        --steps) [ $# -ge 2 ] || die "--steps needs a number"; STEPS=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a folder"; OUT=$2; shift 2 ;;
        --check|--dry-run) CHECK=1; shift ;;
        --skip-parity) PARITY=0; shift ;;
        --skip-pytorch) PYTORCH=0; shift ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case "$STEPS" in ''|*[!0-9]*|0) die "--steps must be a positive integer, not '$STEPS'" ;; esac
if [ -n "$XTASK" ] && [ ! -x "$XTASK" ]; then die "--xtask $XTASK is not an executable file"; fi
if [ -n "$PARITY_TEST" ] && [ ! -x "$PARITY_TEST" ]; then
    die "--parity-test $PARITY_TEST is not an executable file"
fi
if [ -z "$PYTHON" ]; then
    if [ -x /work/venv/bin/python ]; then PYTHON=/work/venv/bin/python; else PYTHON=python3; fi
fi

# The environment: what is there, what is missing.
problems=()
have() { command -v "$1" >/dev/null 2>&1; }
if [ -z "$XTASK" ] && ! have cargo; then problems+=("no cargo and no --xtask: nothing to run"); fi
if ! have nvidia-smi; then problems+=("no nvidia-smi: no NVIDIA GPU driver here"); fi
if [ "$PYTORCH" = 1 ] && ! "$PYTHON" -c 'import torch, transformers, peft' >/dev/null 2>&1; then
    problems+=("$PYTHON cannot import torch, transformers and peft (use --python or --skip-pytorch)")
fi
if [ "$PARITY" = 1 ] && [ -z "$PARITY_TEST" ] && ! have cargo; then
    echo "gpu_check: no cargo: the CUDA parity tests will be skipped (they are built by cargo)" >&2
    PARITY=0
fi

BIN=${XTASK:-${CARGO_TARGET_DIR:-target}/debug/xtask}
cat <<PLAN
gpu_check plan (steps $STEPS, output $OUT):
  build:   ${XTASK:+prebuilt $XTASK}${XTASK:-cargo build -p xtask --features cuda}
  parity:  $([ "$PARITY" = 1 ] && echo "${PARITY_TEST:-cargo test -p spec-actions-qwen3 --features cuda --test cuda_parity}" || echo skipped)
  burn:    $BIN dry-run --backend cuda --preset qwen3 --role cheap|strong --dtype bf16 --steps $STEPS (nvidia-smi sampled)
  pytorch: $([ "$PYTORCH" = 1 ] && echo "$PYTHON scripts/bench_gpu_lora_step.py --model 1.7b|8b --steps $STEPS" || echo skipped)
PLAN
if [ "$CHECK" = 1 ]; then
    for p in "${problems[@]}"; do echo "  environment: $p"; done
    [ ${#problems[@]} -eq 0 ] && echo "  environment: ready"
    exit 0
fi
if [ ${#problems[@]} -gt 0 ]; then
    printf 'gpu_check: %s\n' "${problems[@]}" >&2
    exit 2
fi

mkdir -p "$OUT"
started=$SECONDS
stamp() { printf '\n=== [%3d s] %s ===\n' $((SECONDS - started)) "$*"; }

# Peak GPU memory of a command: nvidia-smi's memory.used (MiB) sampled every 0.2 s, minus the
# reading before it started. Writes the peak in MiB to $1, runs the rest.
with_peak() {
    local file=$1; shift
    local base; base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0)
    ( while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0; sleep 0.2; done ) >"$file.samples" &
    local sampler=$!
    local status=0
    "$@" || status=$?
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    sort -n "$file.samples" | tail -1 | awk -v b="$base" '{print $1 - b}' >"$file"
    return $status
}

if [ -z "$XTASK" ]; then
    stamp "build (cuda)"
    cargo build -p xtask --features cuda
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

if [ "$PARITY" = 1 ]; then
    stamp "parity on CUDA: fixtures in f32 and bf16"
    if [ -n "$PARITY_TEST" ]; then parity=("$PARITY_TEST"); else
        parity=(cargo test -p spec-actions-qwen3 --features cuda --test cuda_parity --); fi
    timeout 180 "${parity[@]}" --nocapture --test-threads 1 \
        2>&1 | tee "$OUT/parity.log" | grep -E "max\|Δ\||test result|panicked" || true
    grep -q "test result: ok" "$OUT/parity.log" || { echo "gpu_check: CUDA parity failed (see $OUT/parity.log)" >&2; exit 1; }
fi

declare -A MODEL=([cheap]=1.7b [strong]=8b)
for role in cheap strong; do
    stamp "burn: $role (Qwen3-${MODEL[$role]} shape), $STEPS LoRA steps in bf16"
    with_peak "$OUT/burn-$role.peak_mib" timeout 300 "$BIN" dry-run --backend cuda --preset qwen3 --role "$role" --dtype bf16 \
        --steps "$STEPS" --out "$OUT/dry-run-$role.json" | tee "$OUT/burn-$role.log"
    if [ "$PYTORCH" = 1 ]; then
        read -r batch seq < <("$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1]))["roles"][0]["measured"][0]["sizes"]; print(m["batch"], m["seq"])' "$OUT/dry-run-$role.json")
        stamp "pytorch + peft: Qwen3-${MODEL[$role]} shape, $batch x $seq"
        with_peak "$OUT/torch-$role.peak_mib" timeout 300 "$PYTHON" scripts/bench_gpu_lora_step.py \
            --model "${MODEL[$role]}" --batch "$batch" --seq "$seq" --steps "$STEPS" | tee "$OUT/torch-$role.log"
    fi
done

stamp "table"
"$PYTHON" - "$OUT" "$PYTORCH" <<'PY' | tee "$OUT/table.md"
import json, re, sys
out, pytorch = sys.argv[1], sys.argv[2] == "1"
print("| model | batch x seq | burn tok/s | burn peak GPU GiB | torch tok/s | torch peak GPU GiB | burn/torch tok/s |")
print("|---|---|---|---|---|---|---|")
for role, model in (("cheap", "Qwen3-1.7B"), ("strong", "Qwen3-8B")):
    m = json.load(open(f"{out}/dry-run-{role}.json"))["roles"][0]["measured"][0]
    burn_tok = m["train_tokens_per_s"]
    burn_gib = float(open(f"{out}/burn-{role}.peak_mib").read()) / 1024
    torch_tok = torch_gib = None
    if pytorch:
        line = [l for l in open(f"{out}/torch-{role}.log") if l.startswith("pytorch_peft")][-1]
        torch_tok = float(re.search(r"tok_s=([0-9.]+)", line).group(1))
        torch_gib = float(open(f"{out}/torch-{role}.peak_mib").read()) / 1024
    f = lambda v, p=1: "—" if v is None else f"{v:.{p}f}"
    ratio = None if torch_tok is None else burn_tok / torch_tok
    print(f"| {model} | {m['sizes']['batch']} x {m['sizes']['seq']} | {f(burn_tok)} | {f(burn_gib, 2)} | "
          f"{f(torch_tok)} | {f(torch_gib, 2)} | {f(ratio, 2)} |")
PY
echo "gpu_check: done in $((SECONDS - started)) s; files in $OUT"
