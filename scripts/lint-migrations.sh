#!/usr/bin/env bash
# Lints every migration (schema/migrations/*.up.sql) with squawk, pinned in
# scripts/requirements-lint.txt and installed into .venv; the rules and the exceptions of migrations
# already applied are in .squawk.toml. A migration must keep the previous release working while it
# still serves (expand, then contract: docs/deployment.md). Run by .ci/run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_venv
ensure_lint_tools
# Every file may be excluded (.squawk.toml): that is a pass, not an error.
"$VENV/bin/squawk" --config .squawk.toml --no-error-on-unmatched-pattern schema/migrations/*.up.sql
say "migrations linted: $(ls schema/migrations/*.up.sql | wc -l) files, those applied before squawk excluded (.squawk.toml)"
