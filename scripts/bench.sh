#!/usr/bin/env bash
# The benchmark, in one run on a local PostgreSQL, printed as a table and written into docs/performance.md
# (between <!-- bench:start --> and <!-- bench:end -->):
#   - every benchmarked route at concurrency 1 and 4, called in-process on the routers (release
#     example xtask/examples/bench_inprocess/) and through `cargo lambda watch --release`
#     (wrk when installed, else a Python asyncio client), fixed duration after a warm-up, no errors;
#   - the same in-process calls with DATABASE_STATEMENT_CACHE=true (no password hashing ones);
#   - the database floor: the exact statements of each operation replayed by `pgbench -M extended`;
#   - database round trips per operation (counted on the wire by a proxy in the in-process bench);
#   - cold start of each release function binary (scripts/coldstart.py), with and without DB_WARMUP;
#   - peak RSS (VmHWM) of each function process under load; the arm64 zip of each function;
#   - argon2id hash and verify, ours beside the C reference (argon2-cffi) at identical parameters;
#   - instructions per request of every route, counted by callgrind (scripts/instructions.sh).
#
#   scripts/bench.sh            # full run (9 min 7 s once built on 2026-11-30, before the callgrind and Secrets Manager phases)
#   scripts/bench.sh --quick    # 1-second phases, to try it out (zips only if already built)
#   scripts/bench.sh --no-readme   # print only; docs/performance.md is left as it is
#   scripts/bench.sh --instructions-only   # only the instructions per request (scripts/instructions.sh)
#   BENCH_DRIVER=python scripts/bench.sh   # the Python client even when wrk is installed
#
# The in-process bench makes (and drops) its own database from the test template; the emulator and
# cold-start phases use the database `tasks_bench`, dropped and re-created each run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
started=$(date +%s)
build_seconds=0
# Builds are timed apart from measuring, so docs/performance.md says what a clean clone pays for each.
timed_build() {
    local from=$(date +%s)
    "$@"
    build_seconds=$(( build_seconds + $(date +%s) - from ))
}

# The instructions alone (seconds to minutes, not the whole run): the rest goes to that script.
if [ "${1:-}" = "--instructions-only" ]; then
    shift
    exec "$ROOT/scripts/instructions.sh" "$@"
fi
quick=false
write_readme=true
for arg in "$@"; do
    case $arg in
        --quick) quick=true ;;
        --no-readme) write_readme=false ;;
        *) die "unknown argument: $arg (use --quick, --no-readme; or --instructions-only first, then scripts/instructions.sh's arguments)" ;;
    esac
done
if $quick; then
    duration=1 warmup=0.5 hash_calls=6 hash_seconds=1 floor_seconds=1 cold_n=5 argon_n=3
    instructions_args=(--requests 20 --hash-requests 2 --warmup 5)
    command_line="scripts/bench.sh --quick"
else
    duration=5 warmup=1 hash_calls=40 hash_seconds=3 floor_seconds=5 cold_n=20 argon_n=10
    instructions_args=()
    command_line="scripts/bench.sh"
fi

ensure_venv
# moto and PyJWT: the cold-start runs with Secrets Manager (scripts/coldstart.py).
ensure_test_tools
ensure_python_tools scripts/bench/requirements.txt
server=$(find_or_start_pg "${BENCH_SERVER_URL:-}")
# The in-process bench's own database is made on this server (test_support::TestDb).
export TEST_DATABASE_URL=$server
unset TEST_POOLER_URL

pgbench=""
if bindir=$(pg_bindir) && [ -x "$bindir/pgbench" ]; then pgbench="$bindir/pgbench"; fi
[ -n "$pgbench" ] || pgbench=$(command -v pgbench || true)
[ -n "$pgbench" ] || die "pgbench not found (it comes with the PostgreSQL server package)"
psql_bin="$(dirname "$pgbench")/psql"
[ -x "$psql_bin" ] || psql_bin=$(command -v psql || true)
[ -n "$psql_bin" ] || die "psql not found"

if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing wrk (apt-get)"
    { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; } >/dev/null 2>&1 \
        || say "wrk could not be installed; the emulator load comes from the Python client"
fi

work="$LOCAL/bench"
rm -rf "$work"
mkdir -p "$work"

say "building the release binaries and the in-process bench"
timed_build cargo build --quiet --release --bin auth --bin tasks --bin health
timed_build cargo build --quiet --release -p xtask --example bench_inprocess
bench_bin="$ROOT/target/release/examples/bench_inprocess"

if $quick; then
    say "--quick: arm64 zips only if they were built before"
else
    say "building the arm64 zips (cargo lambda build --release --arm64 --output-format zip)"
    ensure_zig
    timed_build cargo lambda build --quiet --release --arm64 --output-format zip --bin auth --bin tasks --bin health
fi
"$VENV/bin/python" - "$ROOT/target/lambda" > "$work/zips.jsonl" <<'PY'
import json, os, sys
for function in ("health", "auth", "tasks"):
    path = os.path.join(sys.argv[1], function, "bootstrap.zip")
    size = os.path.getsize(path) if os.path.exists(path) else None
    print(json.dumps({"kind": "zip", "function": function, "bytes": size}))
PY

say "in-process: every route at c=1 and c=4, round trips, database floor (pgbench)"
"$bench_bin" run --out "$work/inprocess.jsonl" --duration "$duration" --warmup "$warmup" \
    --hash-iterations "$hash_calls" --pgbench "$pgbench" --floor-duration "$floor_seconds" \
    --work "$work/floor" > "$work/inprocess-functions.log"

say "in-process again with DATABASE_STATEMENT_CACHE=true (the operations without password hashing)"
"$bench_bin" run --out "$work/inprocess-cached.jsonl" --duration "$duration" --warmup "$warmup" \
    --statement-cache true > "$work/inprocess-cached-functions.log"

say "instructions per request (callgrind)"
timed_build cargo build --quiet --profile profiling -p xtask --example bench_inprocess
"$ROOT/scripts/instructions.sh" --no-readme --profile "" --work "$work/instructions" "${instructions_args[@]}"

say "argon2id: ours and the C reference (argon2-cffi)"
"$bench_bin" argon2 --out "$work/argon2-rust.jsonl" -n "$argon_n" > /dev/null
"$VENV/bin/python" scripts/bench/argon2_ref.py --rust "$work/argon2-rust.jsonl" -n "$argon_n" > "$work/argon2-c.jsonl"

say "emulator: cargo lambda watch --release"
database_url="$(with_database "$server" tasks_bench)?sslmode=disable"
"$bench_bin" prepare-db "$database_url"
jwt_secret=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp functions/health/tests/fixtures/events/http-api-v2-get-health.json "$work/health-event.json"
watch_pid=""
stop_watch() {
    if [ -n "$watch_pid" ]; then
        kill -TERM -- "-$watch_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 -- "-$watch_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$watch_pid" 2>/dev/null || true
        watch_pid=""
    fi
}
trap stop_watch EXIT
# Its own process group, so that stopping it stops the function processes too.
DATABASE_URL=$database_url JWT_SECRET=$jwt_secret THROTTLE_REGISTRATIONS_PER_IP_HOUR=1000000 \
    RUST_LOG=info setsid cargo lambda watch --release --ignore-changes --concurrency 4 \
    --invoke-address 127.0.0.1 --invoke-port "$port" > "$work/watch.log" 2>&1 &
watch_pid=$!
"$VENV/bin/python" scripts/bench/emulator.py --url "http://127.0.0.1:$port" \
    --database-url "$database_url" --jwt-secret "$jwt_secret" --psql "$psql_bin" \
    --watch-pid "$watch_pid" --release-dir "$ROOT/target/release" \
    --duration "$duration" --warmup "$warmup" --hash-duration "$hash_seconds" \
    --driver "${BENCH_DRIVER:-auto}" --out "$work/emulator.jsonl" --work "$work" \
    || { tail -n 20 "$work/watch.log" >&2; die "the emulator run failed"; }
stop_watch

say "cold start: spawn to first answered invocation, with and without DB_WARMUP (n=$cold_n)"
for function in health auth tasks; do
    for warm in true false; do
        line=$(DATABASE_URL=$database_url JWT_SECRET=$jwt_secret DB_WARMUP=$warm \
            "$VENV/bin/python" scripts/coldstart.py "target/release/$function" \
            --event "$work/$function-event.json" -n "$cold_n")
        echo "    $line (DB_WARMUP=$warm)" >&2
        "$VENV/bin/python" - "$function" "$warm" "$line" >> "$work/coldstart.jsonl" <<'PY'
import json, re, sys
function, warm, line = sys.argv[1:]
m = re.search(r"n=(\d+) min=([\d.]+) ms median=([\d.]+) ms max=([\d.]+) ms statuses=\[([^\]]*)\]", line)
if not m or m.group(5).strip() != "200":
    sys.exit(f"cold start of {function}: unexpected answer: {line}")
print(json.dumps({"kind": "coldstart", "function": function, "warmup": warm == "true", "n": int(m.group(1)),
                  "min_ms": float(m.group(2)), "median_ms": float(m.group(3)), "max_ms": float(m.group(4))}))
PY
    done
done

say "cold start with Secrets Manager (moto on 127.0.0.1), EdDSA configuration: secrets one by one vs one BatchGetSecretValue (n=$cold_n)"
for function in health auth tasks; do
    DATABASE_URL=$database_url JWT_SECRET=$jwt_secret DB_WARMUP=true PATH="$VENV/bin:$PATH" \
        "$VENV/bin/python" scripts/coldstart.py "target/release/$function" \
        --event "$work/$function-event.json" -n "$cold_n" --secrets-manager --eddsa \
        | sed 's/^/    /' | tee -a "$work/coldstart-secrets.txt" >&2
done

elapsed=$(( $(date +%s) - started ))
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
memory=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
"$VENV/bin/python" - "$work/meta.json" <<PY
import json, sys
json.dump({
    "date": "$(date -u +%Y-%m-%d)",
    "command": "$command_line",
    "elapsed": "whole run $((elapsed / 60)) min $((elapsed % 60)) s, of which builds $((build_seconds / 60)) min $((build_seconds % 60)) s",
    "machine": "$(nproc) vCPU ($cpu), $memory RAM, $(uname -sr) $(uname -m)",
    "postgres": "$("$psql_bin" -X -tA -d "$server" -c 'show server_version' | awk '{print $1}')",
    "rustc": "$(rustc --version | awk '{print $1, $2}')",
    "duration": "$duration", "warmup": "$warmup", "hash_calls": "$hash_calls", "hash_seconds": "$hash_seconds",
}, open(sys.argv[1], "w"))
PY
readme_args=()
$write_readme && readme_args=(--readme docs/performance.md)
"$VENV/bin/python" scripts/bench/report.py --work "$work" --meta "$work/meta.json" "${readme_args[@]}"
