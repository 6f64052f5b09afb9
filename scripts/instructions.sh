#!/usr/bin/env bash
# Instructions per request of every benchmarked route, counted by callgrind: the in-process path
# as Lambda runs it (API Gateway event in, response envelope out, through lambda_http's adapter and
# the function's router; `bench_inprocess instructions`), tokio's current-thread runtime as in every
# function's main, warm, averaged over a fixed number of requests. Only the block that answers those
# requests is instrumented (callgrind client requests around it; `--instr-atstart=no`), so the
# count is everything this process executes for them, on every thread, and nothing of the
# PostgreSQL server, which is another process; waiting for it costs no instructions. The figures
# do not move with the machine's load, unlike wall-clock times.
#
# Token kinds: the routes that carry a token are counted with each kind the functions meet in the
# deployed configuration, and for each, on the first request of a token (its signature checked)
# and on a repeated one (the cache of verified tokens answers): our EdDSA tokens (the template's
# default; every route is counted with these), our HS256 ones, and a Better Auth JWT plugin token
# signed with ES256 (the tasks routes). One callgrind run per kind and mode, in DIR/<kind>-<mode>/.
#
#   scripts/instructions.sh                      # every route; the table goes into docs/performance.md
#   scripts/instructions.sh --ops list,get --requests 20 --no-readme   # a quick look
#   scripts/instructions.sh --kinds eddsa --no-readme   # EdDSA only (first and repeated)
#   scripts/instructions.sh --profile list,create   # per-function totals of those (default: list)
#   scripts/bench.sh --instructions-only         # the same as the first line
#
# Results in .local/instructions/ (or --work DIR): instructions.jsonl, callgrind's dumps
# (callgrind.out.N, one per route), profile-<route>.txt (callgrind_annotate, inclusive and self).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

requests=100 hash_requests=5 warmup=20 ops="" profile="list" write_readme=true work="$LOCAL/instructions"
kinds="eddsa,hs256,es256"
while [ $# -gt 0 ]; do
    case $1 in
        --requests) requests=$2; shift ;;
        --hash-requests) hash_requests=$2; shift ;;
        --warmup) warmup=$2; shift ;;
        --ops) ops=$2; shift ;;
        --kinds) kinds=$2; shift ;;
        --profile) profile=$2; shift ;;
        --work) work=$2; shift ;;
        --no-readme) write_readme=false ;;
        *) die "unknown argument: $1 (use --requests N, --hash-requests N, --warmup N, --ops a,b, --kinds eddsa,hs256,es256, --profile a,b, --work DIR, --no-readme)" ;;
    esac
    shift
done

command -v valgrind >/dev/null 2>&1 || apt_install valgrind
ensure_venv
server=$(find_or_start_pg "${BENCH_SERVER_URL:-}")
# The bench makes (and drops) its own database on this server (test_support::TestDb).
export TEST_DATABASE_URL=$server
unset TEST_POOLER_URL

say "building the in-process bench (profile \"profiling\": release with symbols)"
cargo build --quiet --profile profiling -p xtask --example bench_inprocess
bench_bin="${CARGO_TARGET_DIR:-$ROOT/target}/profiling/examples/bench_inprocess"

rm -rf "$work"
mkdir -p "$work"
token_ops="me,create,list,get,update,delete"
for kind in ${kinds//,/ }; do
    case $kind in eddsa|hs256|es256) ;; *) die "unknown token kind: $kind (eddsa, hs256, es256)" ;; esac
    for mode in repeated first; do
        run="$work/$kind-$mode"
        mkdir -p "$run"
        args=(instructions --out "$run/blocks.jsonl" --requests "$requests" --hash-requests "$hash_requests"
              --warmup "$warmup" --tokens "$kind")
        [ "$mode" = first ] && args+=(--fresh-tokens)
        # Every route with EdDSA tokens repeated (the deployed default); the others, the token routes.
        if [ -n "$ops" ]; then
            args+=(--ops "$ops")
        elif [ "$kind-$mode" != eddsa-repeated ]; then
            args+=(--ops "$token_ops")
        fi
        say "$kind tokens, $mode: counting under callgrind, $requests requests per route after $warmup warm-up ones (register and login: $hash_requests after 2)"
        # JSON log lines, as in AWS; the functions' log goes to a file.
        LOG_FORMAT=json RUST_LOG=info valgrind --tool=callgrind --instr-atstart=no \
            --callgrind-out-file="$run/callgrind.out" "$bench_bin" "${args[@]}" \
            > "$run/functions.log" 2> "$run/valgrind.log" \
            || { tail -n 30 "$run/valgrind.log" >&2; die "the instructions run failed (log: $run/valgrind.log)"; }
    done
done

report_args=(--instructions "$work")
$write_readme && report_args+=(--readme docs/performance.md)
"$VENV/bin/python" scripts/bench/report.py "${report_args[@]}" --profile "$profile"
