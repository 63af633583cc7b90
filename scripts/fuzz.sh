#!/usr/bin/env bash
# Run every cargo-fuzz target in fuzz/ for a given time, one at a time, at the lowest priority,
# and print executions, coverage, corpus size and crashes per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default: 600 s, every target)
#
# Needs `cargo install cargo-fuzz`. cargo-fuzz uses nightly-only compiler flags; on the stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks them. Builds go to fuzz/target (not the workspace's
# target/: other flags). No sanitizer (-s none): the code under test is safe Rust, and
# libFuzzer still catches panics, stack overflows, timeouts (-timeout) and memory blow-ups
# (-rss_limit_mb). The corpus grows in fuzz/corpus/<target> (git-ignored), seeded from
# fuzz/seeds/<target>; crashing inputs land in fuzz/artifacts/<target>/, logs in
# fuzz/artifacts/<target>.log. Replay one input: `fuzz/target/<host>/release/TARGET FILE`.
set -euo pipefail

seconds="${1:-600}"
shift || true
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
fi
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "building ${#targets[@]} target(s) in fuzz/target ..."
nice -n 19 cargo fuzz build -s none --features model 2>&1 | tail -n 3
# Run the binaries just built (a `cargo fuzz run` would rebuild whenever a source changes).
bin_dir="target/$(rustc -vV | sed -n 's/^host: //p')/release"

mkdir -p artifacts
summary=()
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus" "artifacts/$target"
    log="artifacts/$target.log"
    before=$(find "artifacts/$target" -type f | wc -l)
    touch "artifacts/$target.start"
    echo "== $target: ${seconds}s"
    set +e
    nice -n 19 "$bin_dir/$target" -artifact_prefix="artifacts/$target/" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        "$corpus" "seeds/$target" >"$log" 2>&1
    status=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
    files=$(find "$corpus" -type f | wc -l)
    bytes=$(du -sb "$corpus" | cut -f1)
    after=$(find "artifacts/$target" -type f | wc -l)
    crashes=$((after - before))
    line=$(printf '%-20s %12s %8s %8s %8s %10s %8s %6s' "$target" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
        "$files" "$bytes" "$crashes" "$status")
    echo "$line"
    if [ "$crashes" -gt 0 ]; then
        find "artifacts/$target" -type f -newer "artifacts/$target.start" | sed 's/^/    new artifact: fuzz\//'
        grep -m 3 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | sed 's/^/    /' || true
    fi
    summary+=("$line")
done

echo
printf '%-20s %12s %8s %8s %8s %10s %8s %6s\n' target executions cov ft corpus bytes crashes exit
printf '%s\n' "${summary[@]}"
