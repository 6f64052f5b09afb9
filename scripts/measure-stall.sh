#!/usr/bin/env bash
# PgBouncer's waiting clients during a database stall (issue 27): 64 execution environments insert
# through PgBouncer (transaction mode, a pool of 20 server connections) while a lock stalls the
# table for 20 s; prints `SHOW POOLS` (cl_waiting, maxwait, sv_active) and the statements still
# running at the server every second, once with the connection only closed at the 4 s limit (the
# pool before issue 27) and once with the pool (cancel request, then close). Not a test: a
# measurement, on a database of its own (`tasks_measure_stall`). Figures in docs/operations.md.
#
#   scripts/measure-stall.sh [clients, default 64] [stall seconds, default 20]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
clients=${1:-64}
stall=${2:-20}

ensure_venv
server=$(find_or_start_pg "${TEST_DATABASE_URL:-}")
direct=$(with_database "$server" tasks_measure_stall)
psql_bin=$(command -v psql || echo "$(pg_bindir)/psql")
"$psql_bin" -q "$server" -c "drop database if exists tasks_measure_stall" -c "create database tasks_measure_stall"
trap stop_pgbouncer EXIT
PGBOUNCER_POOL_SIZE=20 start_pgbouncer "$server" >/dev/null
port=${PGBOUNCER_PORT:-6432}
cargo build --quiet -p xtask --example stall
for mode in drop cancel; do
    say "mode $mode: $clients environments, a ${stall} s stall"
    STALL_POOLER_URL="postgres://postgres@127.0.0.1:$port/tasks_measure_stall" \
    STALL_ADMIN_URL="postgres://postgres@127.0.0.1:$port/pgbouncer" \
    STALL_DIRECT_URL="$direct" STALL_DATABASE=tasks_measure_stall STALL_MODE=$mode \
    STALL_CLIENTS=$clients STALL_SECS=$stall \
        "${CARGO_TARGET_DIR:-target}/debug/examples/stall"
    sleep 2
done
"$psql_bin" -q "$server" -c "drop database if exists tasks_measure_stall with (force)"
