#!/usr/bin/env bash
# Fuzzes what the API parses from untrusted input (fuzz: token_verify, body_parse,
# path_query) with cargo-fuzz/libFuzzer, each target for a bounded time, and reports per target
# the number of executions and whether it crashed. Exits non-zero on any crash.
#
#   scripts/fuzz.sh [seconds-per-target]     default 60
#
# Too slow for every CI run (the first, instrumented build alone takes about 25 minutes on two
# cores); run it after changing a parser, the token checks or a body type.
# The corpus grows in fuzz/corpus/<target> (not in git) from the committed seeds in
# fuzz/seeds/<target>, with the dictionary fuzz/dicts/<target>.dict. A crashing input
# is saved in fuzz/artifacts/<target>/; replay it from the root with
#   PATH=../.local/cargo/bin:$PATH RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --debug-assertions <target> <file>
# FUZZ_SANITIZER=none skips AddressSanitizer (faster; all the code fuzzed is safe Rust).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seconds=${1:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/fuzz.sh [seconds-per-target] (a positive whole number)"
sanitizer=${FUZZ_SANITIZER:-address}

# cargo-fuzz hands rustc nightly-only flags (-Z sanitizer, -C passes=sancov-module, --cfg fuzzing
# with -Z options); the project uses the stable toolchain only, and RUSTC_BOOTSTRAP=1 lets stable
# rustc and cargo accept them.
export RUSTC_BOOTSTRAP=1

CARGO_FUZZ_VERSION=0.13.2
CARGO_ROOT="$LOCAL/cargo"
if ! "$CARGO_ROOT/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_ROOT"
    cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$CARGO_ROOT" \
        || die "cargo install cargo-fuzz failed"
fi
export PATH="$CARGO_ROOT/bin:$PATH"

# A cargo workspace of its own (fuzz/Cargo.lock), run from the root with --fuzz-dir.
cd "$ROOT"
fuzz=(--fuzz-dir fuzz --sanitizer "$sanitizer" --debug-assertions)
mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
[ "${#targets[@]}" -gt 0 ] || die "no fuzz targets in fuzz"

say "building ${targets[*]} (sanitizer: $sanitizer, debug assertions on)"
cargo fuzz build "${fuzz[@]}" || die "building the fuzz targets failed"

logs="$ROOT/fuzz/target/logs"
mkdir -p "$logs"
crashed=()
summary=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    dirs=("$corpus")
    [ -d "fuzz/seeds/$target" ] && dirs+=("fuzz/seeds/$target")
    options=(-max_total_time="$seconds" -print_final_stats=1)
    [ -f "fuzz/dicts/$target.dict" ] && options+=(-dict="fuzz/dicts/$target.dict")
    log="$logs/$target.log"
    say "fuzzing $target for ${seconds}s (log: $log)"
    status=0
    cargo fuzz run "${fuzz[@]}" "$target" "${dirs[@]}" -- "${options[@]}" >"$log" 2>&1 || status=$?
    execs=$(sed -n -E 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    if [ "$status" -eq 0 ]; then
        summary+=("$(printf '%-14s %12s executions in %ss, no crash' "$target" "${execs:-?}" "$seconds")")
    else
        crashed+=("$target")
        artifact=$(sed -n -E 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)
        summary+=("$(printf '%-14s %12s executions, CRASHED (exit %s)%s' "$target" "${execs:-?}" "$status" \
            "${artifact:+; input: $artifact}")")
        grep -E -m 5 "panicked at|ERROR: |SUMMARY: " "$log" >&2 || tail -n 20 "$log" >&2
    fi
done

say "fuzzing summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#crashed[@]}" -gt 0 ]; then
    die "crashed: ${crashed[*]}; see $logs"
fi
