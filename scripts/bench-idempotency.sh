#!/usr/bin/env bash
# What an Idempotency-Key costs a create, at the database: the exact statements of each path
# (shared/src/idempotency.rs, functions/tasks/src/sql.rs and routes/create.rs) replayed by
# `pgbench -M extended` (one Parse/Bind/Execute per statement, as the functions send them), one
# client, fixed duration, on a database of its own (`tasks_bench_idempotency`, dropped and
# re-created):
#   - create without a key: 1 statement;
#   - create with a new key: claim, create, store the answer (3 statements);
#   - replay of a stored answer: claim attempt, read, session check (3 statements).
#
#   scripts/bench-idempotency.sh            # 10 s per path
#   scripts/bench-idempotency.sh 3          # 3 s per path
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
seconds=${1:-10}

ensure_venv
server=$(find_or_start_pg "${BENCH_SERVER_URL:-}")
bindir=$(pg_bindir || true)
pgbench="${bindir:+$bindir/}pgbench"; command -v "$pgbench" >/dev/null || pgbench=$(command -v pgbench) \
    || die "pgbench not found (it comes with the PostgreSQL server package)"
psql_bin="$(dirname "$(command -v "$pgbench")")/psql"; [ -x "$psql_bin" ] || psql_bin=$(command -v psql)

url=$(with_database "$server" tasks_bench_idempotency)
cargo build --quiet -p schema --bin migrate
DATABASE_URL=$url DATABASE_DIRECT_URL='' "${CARGO_TARGET_DIR:-target}/debug/migrate" up >/dev/null
"$psql_bin" -q "$url" -c "set client_min_messages = warning; truncate users, idempotency_keys cascade"
read -r user session < <("$psql_bin" -At -F ' ' "$url" -c "
    with u as (insert into users (email, email_key, password_hash)
               values ('bench@example.com', 'bench@example.com', 'unused') returning id)
    insert into sessions (user_id, expires_at) select id, now() + interval '1 day' from u
    returning user_id, id")
"$psql_bin" -q "$url" -c "
    insert into idempotency_keys (operation, caller, key, fingerprint, claim_id, lease_until, expires_at, status, location, body)
    values ('createTask', sha256('bench'), 'stored', sha256('same request'), gen_random_uuid(), now(),
            now() + interval '1 day', 201, '/api/x/tasks/1', convert_to(repeat('x', 240), 'UTF8'))"

work="$LOCAL/bench-idempotency"
mkdir -p "$work"
caller="with caller as (select '$session'::uuid is null or exists (
    select 1 from live_sessions where id = '$session' and user_id = '$user') as live)"
create="$caller, created as (
    insert into tasks (issuer, user_id, owner_id, title, description, completed)
    select '', '$user', '$user', 'Buy milk', null, false from caller where live
    returning id, user_id, title, description, completed, created_at, updated_at)
    select caller.live, created.* from caller left join created on true;"
claim() {  # $1: the key expression
    echo "with swept as (
    delete from idempotency_keys where ctid in (select ctid from idempotency_keys
     where expires_at <= now() and not (operation = 'createTask' and caller = sha256('bench') and key = $1)
     limit 8 for update skip locked)
 ), claimed as (
    insert into idempotency_keys as k (operation, caller, key, fingerprint, claim_id, lease_until, expires_at)
    values ('createTask', sha256('bench'), $1, sha256('same request'), gen_random_uuid(),
            now() + make_interval(secs => 60), now() + make_interval(hours => 24))
    on conflict (operation, caller, key) do update
       set fingerprint = excluded.fingerprint, claim_id = excluded.claim_id,
           lease_until = excluded.lease_until, expires_at = excluded.expires_at, created_at = now(),
           secret_hash = null, user_id = null, status = null, location = null, body = null
     where k.expires_at <= now()
        or (k.status is null and k.lease_until <= now() and k.fingerprint = excluded.fingerprint)
    returning 1)
 select exists (select 1 from claimed);"
}
echo "$create" > "$work/plain.sql"
{
    echo '\set k random(1, 2000000000)'
    claim ":k::text"
    echo "$create"
    echo "update idempotency_keys set status = 201, location = '/api/x/tasks/1',
    body = convert_to(repeat('x', 240), 'UTF8'), user_id = '$user', secret_hash = null
    where operation = 'createTask' and caller = sha256('bench') and key = :k::text;"
} > "$work/keyed.sql"
{
    claim "'stored'"
    echo "select fingerprint, status, location, body, secret_hash from idempotency_keys
    where operation = 'createTask' and caller = sha256('bench') and key = 'stored';"
    echo "$caller select live from caller;"
} > "$work/replay.sql"

say "pgbench -M extended, 1 client, ${seconds} s per path, on $(redact "$url")"
declare -A latency
for path in plain keyed replay; do
    out=$("$pgbench" -n -M extended -c 1 -T "$seconds" -f "$work/$path.sql" "$url" 2>&1) \
        || die "pgbench failed on $path: $out"
    latency[$path]=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' <<<"$out")
done
"$VENV/bin/python" - "${latency[plain]}" "${latency[keyed]}" "${latency[replay]}" <<'PY'
import sys
plain, keyed, replay = map(float, sys.argv[1:])
print("| path | statements | latency | vs. no key |")
print("|---|---|---|---|")
for name, statements, ms in (("create without a key", 1, plain),
                             ("create with a new key", 3, keyed),
                             ("replay of a stored answer", 3, replay)):
    print(f"| {name} | {statements} | {ms:.3f} ms | {ms / plain:.2f}× |")
PY
