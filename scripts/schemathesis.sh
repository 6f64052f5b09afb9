#!/usr/bin/env bash
# Property-based API tests: schemathesis (PyPI) reads our /openapi.json and attacks the API under
# `cargo lambda watch` with every check it has and every phase (examples, coverage, fuzzing,
# stateful), signed in as a real account. Fails on any check failure, including any 5xx.
# Runs on its own database (tasks_schemathesis, reset first) on the server scripts/test.sh uses.
# Extra arguments go to `schemathesis run` (for example --max-examples 20, or --phases fuzzing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_python_tools scripts/schemathesis/requirements.txt

server=$(find_or_start_pg "${TEST_DATABASE_URL:-}")
export DATABASE_URL
DATABASE_URL=$(with_database "$server" tasks_schemathesis)
# Give the URL a password if it has none (a trusting local server ignores it), so the log scan at
# the end has a database password to look for.
DATABASE_URL=$("$VENV/bin/python" - "$DATABASE_URL" <<'PY'
import secrets, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
if u.password is None and u.hostname:
    user = u.username or "postgres"
    port = f":{u.port}" if u.port else ""
    u = u._replace(netloc=f"{user}:{secrets.token_urlsafe(12)}@{u.hostname}{port}")
print(urllib.parse.urlunsplit(u))
PY
)
say "resetting $(redact "$DATABASE_URL")"
cargo build --quiet -p schema --bin migrate
migrate="${CARGO_TARGET_DIR:-target}/debug/migrate"   # a shared CARGO_TARGET_DIR is honoured
"$migrate" up >/dev/null
"$migrate" down 1000 >/dev/null
"$migrate" up >/dev/null

port=${PORT:-9100}
api="http://127.0.0.1:$port"
log="$LOCAL/schemathesis-watch.log"
mkdir -p "$LOCAL"
say "starting cargo lambda watch on $api (log: $log)"
export JWT_SECRET
JWT_SECRET=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
# The second-factor routes seal TOTP secrets with it (without one they answer 500 misconfigured).
export SECOND_FACTOR_KEY
SECOND_FACTOR_KEY=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
# Passkeys on: their routes are attacked too (a generated body never holds a real authenticator's
# answer, so it is refused; a 500 would be a bug).
export WEBAUTHN_RP_ID=localhost WEBAUTHN_RP_ORIGINS=http://localhost:3000
THROTTLE_FAILED_LOGINS_PER_IP=1000000 THROTTLE_REGISTRATIONS_PER_IP_HOUR=1000000 \
ADMIN_EMAIL=schemathesis@example.com \
    setsid cargo lambda watch --ignore-changes --disable-cors --invoke-address 127.0.0.1 --invoke-port "$port" \
    >"$log" 2>&1 &
watch_pid=$!
trap 'kill -INT -- -$watch_pid 2>/dev/null || true; sleep 1; kill -KILL -- -$watch_pid 2>/dev/null || true' EXIT

"$VENV/bin/python" - "$api" <<'PY' || die "the API did not come up; see $log"
import sys, time, urllib.request
deadline = time.time() + 900  # the first run compiles the functions
while time.time() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1] + "/health", timeout=5) as answer:
            if answer.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(1)
sys.exit(1)
PY

# The account the run signs in as; its password and every token it gets are looked for in the log.
export API_URL=$api API_EMAIL=schemathesis@example.com API_PASSWORD API_SECRETS_FILE="$LOCAL/schemathesis-secrets"
: >"$API_SECRETS_FILE"
API_PASSWORD=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))')
# Registered, then verified through the link the local mailer writes to the log: ADMIN_EMAIL makes
# an account admin only once its address is verified.
API_USER_ID=$("$VENV/bin/python" - "$log" <<'PY'
import json, os, re, sys, time, urllib.request
def post(path, payload):
    request = urllib.request.Request(os.environ["API_URL"] + path, json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))
user = post("/auth/register", {"email": os.environ["API_EMAIL"], "password": os.environ["API_PASSWORD"]})
deadline = time.time() + 30
while True:
    links = [line for line in open(sys.argv[1], errors="replace") if "email verification link" in line]
    if links:
        break
    if time.time() > deadline:
        sys.exit("no verification link in the log")
    time.sleep(0.2)
token = re.search(r"token=([A-Za-z0-9_-]+)", links[-1]).group(1)
post("/auth/verify-email", {"token": token})
print(user["id"])
PY
)
export API_USER_ID

# A second account, signed in once, whose token the hooks send with every request that checks a
# current password: those count against the account's sign-in lock (the password gate), so the
# run's own account would lock itself out. The decoy may lock; its token keeps working meanwhile.
API_DECOY_TOKEN=$("$VENV/bin/python" <<'PY'
import json, os, secrets, urllib.request
def post(path, payload):
    request = urllib.request.Request(os.environ["API_URL"] + path, json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))
credentials = {"email": "schemathesis-decoy@example.com", "password": secrets.token_urlsafe(18)}
post("/auth/register", credentials)
tokens = post("/auth/login", credentials)
with open(os.environ["API_SECRETS_FILE"], "a") as file:
    file.write(f"{credentials['password']}\n{tokens['access_token']}\n{tokens['refresh_token']}\n")
print(tokens["access_token"])
PY
)
export API_DECOY_TOKEN

say "schemathesis run $api/openapi.json $*"
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/scripts/schemathesis"
status=0
"$VENV/bin/schemathesis" --config-file scripts/schemathesis/schemathesis.toml \
    run "$api/openapi.json" "$@" || status=$?

say "looking for secrets in the functions' log ($log)"
"$VENV/bin/python" scripts/schemathesis/scan_log.py "$log" || status=1
rm -f "$API_SECRETS_FILE"
exit $status
