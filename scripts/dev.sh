#!/usr/bin/env bash
# Starts the whole API locally: cargo-lambda in .venv, a PostgreSQL server (DATABASE_URL, else the
# local default, else a throwaway one), the database created and migrated, a .env with a random
# JWT secret, then `cargo lambda watch` on http://localhost:9000 with every route at its AWS path.
# Extra arguments go to `cargo lambda watch` (for example --release).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv

database_url=${DATABASE_URL:-$(dotenv_value DATABASE_URL)}
if [ -z "$database_url" ]; then
    server=$(find_or_start_pg "")
    database_url=$(with_database "$server" tasks_dev)
else
    find_or_start_pg "$database_url" >/dev/null
fi

if [ ! -f .env ]; then
    say "writing .env (DATABASE_URL and a random JWT_SECRET)"
    umask 077
    cat > .env <<ENV
# Written by scripts/dev.sh; see README.md for every setting. Not committed.
DATABASE_URL=$database_url
JWT_SECRET=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
ACCESS_TOKEN_EXPIRE_MINUTES=30
# The template's default CorsOrigins: the browser origins allowed to call the API.
CORS_ORIGINS=http://localhost:3000
ENV
fi

# EdDSA, as the template defaults to: the private key signs in the auth function, the public keys
# (JWKS) verify everywhere. Added once; an older .env gets it too (JWT_ALGORITHM=HS256 there, or
# deleting the three lines, goes back to the shared secret).
if ! grep -q '^JWT_SIGNING_KEY=' .env; then
    say "adding a new Ed25519 key pair to .env (JWT_ALGORITHM=EdDSA)"
    keys=$(cargo xtask jwt-keys env) || die "generating the key pair failed"
    printf '# Written by scripts/dev.sh: the signing key and its JWKS (cargo xtask jwt-keys env).\n%s\n' "$keys" >> .env
fi

say "migrating $(redact "$database_url")"
DATABASE_URL=$database_url cargo run --quiet -p schema --bin migrate -- up

say "starting cargo lambda watch on http://localhost:${PORT:-9000}"
export DATABASE_URL=$database_url
# --disable-cors: the functions apply CORS_ORIGINS themselves, as the HTTP API does in AWS; the
# emulator's own policy would allow every origin, so a frontend could work here and fail deployed.
exec cargo lambda watch --disable-cors --invoke-port "${PORT:-9000}" "$@"
