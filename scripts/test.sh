#!/usr/bin/env bash
# Runs every test once, in the configuration users deploy: EdDSA access tokens, and every
# application connection through PgBouncer in transaction mode (started here, as Neon's `-pooler`
# endpoint). The seeds' HS256 secret and a direct connection have focused tests of their own.
# Against a real PostgreSQL: TEST_DATABASE_URL if set, else the local default server, else a
# throwaway one under .local/. Each test makes (and drops) its own database there; DATABASE_URL is
# never used, so a real database is never touched. Also starts a throwaway TLS-only server for the
# TLS tests. Extra arguments go to the test runner (for example a test name filter).
#   TEST_POOLER_URL=   (empty) connects the functions directly instead of through PgBouncer;
#   TEST_JWT_ALGORITHM=HS256 runs the suites with the seeds' shared secret.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_test_tools
ensure_better_auth
ensure_frontend_tools
TEST_DATABASE_URL=$(find_or_start_pg "${TEST_DATABASE_URL:-}")
export TEST_DATABASE_URL
unset DATABASE_URL
export TEST_JWT_ALGORITHM=${TEST_JWT_ALGORITHM:-EdDSA}
trap 'stop_pgbouncer; stop_tls_pg' EXIT
if [ -z "${TEST_POOLER_URL+set}" ]; then
    TEST_POOLER_URL=$(start_pgbouncer "$TEST_DATABASE_URL")
fi
export TEST_POOLER_URL
start_tls_pg
say "testing against $(redact "$TEST_DATABASE_URL"), functions through ${TEST_POOLER_URL:-a direct connection}, $TEST_JWT_ALGORITHM tokens"

status=0
if cargo nextest --version >/dev/null 2>&1; then
    # --run-ignored all: the TLS tests are #[ignore] for a plain `cargo test` without the server.
    cargo nextest run --workspace --no-fail-fast --run-ignored all "$@" || status=$?
else
    cargo test --workspace --no-fail-fast "$@" -- --include-ignored || status=$?
fi

# The browser test (e2e/tests/frontend.rs) keeps a screenshot of each page it saw.
if compgen -G "$LOCAL/screenshots/*.png" >/dev/null; then
    say "screenshots of the browser test:"
    ls -l "$LOCAL"/screenshots/*.png >&2
fi
exit $status
