#!/usr/bin/env bash
# Runs every test against a real PostgreSQL: TEST_DATABASE_URL if set, else the local default
# server, else a throwaway one under .local/. Each test makes (and drops) its own database there;
# DATABASE_URL is never used, so a real database is never touched.
# Extra arguments go to the test runner (for example a test name filter).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_better_auth
ensure_frontend_tools
TEST_DATABASE_URL=$(find_or_start_pg "${TEST_DATABASE_URL:-}")
export TEST_DATABASE_URL
unset DATABASE_URL
say "testing against $(redact "$TEST_DATABASE_URL")"

status=0
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
    cargo test --workspace --no-fail-fast "$@" || status=$?
fi

# The auth and tasks suites once more with EdDSA access tokens (shared::testing reads the switch:
# the auth function signs with an Ed25519 key, the tasks function holds its public key only).
# Selected from the same --workspace build with a filter. It still recompiles part of the tree
# (ring and what depends on it), most likely because the `cargo lambda watch` runs of the e2e tests
# build into the same target dir with another environment; about 2.5 minutes. Only for a full run.
if [ $# -eq 0 ]; then
    say "the auth and tasks suites again with TEST_JWT_ALGORITHM=EdDSA"
    if cargo nextest --version >/dev/null 2>&1; then
        TEST_JWT_ALGORITHM=EdDSA cargo nextest run --workspace --no-fail-fast \
            -E 'package(auth) | package(tasks)' || status=$?
    else
        TEST_JWT_ALGORITHM=EdDSA cargo test -p auth -p tasks --no-fail-fast || status=$?
    fi
fi

# The browser test (shared/tests/frontend.rs) keeps a screenshot of each page it saw.
if compgen -G "$LOCAL/screenshots/*.png" >/dev/null; then
    say "screenshots of the browser test:"
    ls -l "$LOCAL"/screenshots/*.png >&2
fi
exit $status
