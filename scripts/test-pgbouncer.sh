#!/usr/bin/env bash
# The whole test suite with every application connection going through PgBouncer 1.18 in
# transaction mode — the strictest pooler (no prepared statement may outlive a transaction, no
# session state), as Neon's `-pooler` endpoint runs. Installs pgbouncer from the OS packages when
# missing (Debian/Ubuntu, as root), starts a throwaway one on 127.0.0.1:6432, runs scripts/test.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
server=$(find_or_start_pg "${TEST_DATABASE_URL:-}")
if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
    say "installing pgbouncer"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; else sudo apt-get install -y pgbouncer; fi
fi
bouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

host_port=$("$VENV/bin/python" -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432)' "$server")
read -r pg_host pg_port <<<"$host_port"
dir="$LOCAL/pgbouncer"
mkdir -p "$dir"
cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=$pg_host port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${PGBOUNCER_PORT:-6432}
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
max_db_connections = 0
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
echo '"postgres" ""' > "$dir/users.txt"
run=()
if [ "$(id -u)" = 0 ]; then
    owner=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
    chown -R "$owner" "$dir"
    run=(runuser -u "$owner" --)
fi
[ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null && sleep 1
"${run[@]}" "$bouncer" -d "$dir/pgbouncer.ini"
trap '[ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null' EXIT

export TEST_DATABASE_URL=$server
export TEST_POOLER_URL="postgres://postgres@127.0.0.1:${PGBOUNCER_PORT:-6432}/postgres"
say "every application connection goes through PgBouncer (transaction mode) at $TEST_POOLER_URL"
scripts/test.sh "$@"
