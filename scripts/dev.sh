#!/usr/bin/env bash
# Starts the whole API locally: cargo-lambda in .venv, a PostgreSQL server (DATABASE_URL, else the
# local default, else a throwaway one), every function built before the first request, the database
# created and migrated, a .env with an Ed25519 key pair when there is none, then `cargo lambda
# watch` on http://localhost:9000 with every route at its AWS path.
# Extra arguments go to `cargo lambda watch` (for example --release).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_c_toolchain
ensure_venv

# A DATABASE_URL from the environment is used for this run only; .env keeps what it has.
if [ -n "${DATABASE_URL:-}" ]; then
    database_url=$DATABASE_URL
    say "using DATABASE_URL from the environment for this run: $(redact "$database_url") (not saved to .env)"
    find_or_start_pg "$database_url" >/dev/null
elif database_url=$(dotenv_value DATABASE_URL) && [ -n "$database_url" ]; then
    find_or_start_pg "$database_url" >/dev/null
else
    server=$(find_or_start_pg "")
    database_url=$(with_database "$server" tasks_dev)
fi

# Everything the first requests need, in one cargo build (with its progress): the three
# functions, the migration runner and the key tool. `cargo lambda watch` runs `cargo run --bin
# NAME` for a function's first request, which then finds it built (one feature resolution for
# all, as here) and starts it at once; the two tools run from the target directory for the same
# reason (`cargo run -p` would resolve features again and rebuild shared crates).
profile=debug build_flags=()
for arg in "$@"; do
    if [ "$arg" = --release ]; then profile=release build_flags=(--release); fi
done
target=$(cargo_target_dir)
if [ -x "$target/$profile/auth" ]; then
    say "building the functions ($profile; only what changed)"
else
    say "building the functions, the migration runner and the key tool ($profile): the first build compiles every dependency, several minutes on 2 cores"
fi
cargo build "${build_flags[@]}" --bin health --bin auth --bin tasks --bin migrate --bin xtask
bin="$target/$profile"

new_env=false
if [ ! -f .env ]; then
    new_env=true
    say "writing .env: an Ed25519 key pair for access tokens (JWT_ALGORITHM=EdDSA, as deployed), a random JWT_SECRET (used only with JWT_ALGORITHM=HS256)$([ -n "${DATABASE_URL:-}" ] || echo ", DATABASE_URL")"
    umask 077
    {
        echo "# Written by scripts/dev.sh; see docs/configuration.md for every setting. Not committed."
        if [ -n "${DATABASE_URL:-}" ]; then
            echo "# No DATABASE_URL: the one scripts/dev.sh was given was for that run only; without one it"
            echo "# finds or starts a local server. Add DATABASE_URL=... here to keep one."
        else
            echo "DATABASE_URL=$database_url"
        fi
        echo "# HS256's shared secret: unused while JWT_ALGORITHM=EdDSA (below); the seeds' way if you switch."
        echo "JWT_SECRET=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')"
        echo "ACCESS_TOKEN_EXPIRE_MINUTES=30"
        echo "# The template's default CorsOrigins: the browser origins allowed to call the API."
        echo "CORS_ORIGINS=http://localhost:3000"
    } > .env
fi

# EdDSA, as the template defaults to: the private key signs in the auth function, the public keys
# (JWKS) verify everywhere. Added once; an older .env gets it too (JWT_ALGORITHM=HS256 there, or
# deleting the three lines, goes back to the shared secret).
if ! grep -q '^JWT_SIGNING_KEY=' .env; then
    $new_env || say "adding an Ed25519 key pair to .env: access tokens are EdDSA from now on (JWT_ALGORITHM=EdDSA)"
    keys=$("$bin/xtask" jwt-keys env) || die "generating the key pair failed"
    printf '# Written by scripts/dev.sh: the signing key and its JWKS (cargo xtask jwt-keys env).\n%s\n' "$keys" >> .env
fi

# The key that seals second-factor (TOTP) secrets; the template generates its own in AWS. Added
# once: changing it later makes enrolled factors unreadable.
if ! grep -q '^SECOND_FACTOR_KEY=' .env; then
    $new_env || say "adding SECOND_FACTOR_KEY to .env (seals TOTP secrets)"
    printf '# Written by scripts/dev.sh: seals TOTP secrets at rest; keep it, or enrolled factors stop working.\nSECOND_FACTOR_KEY=%s\n' \
        "$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')" >> .env
fi

# Passkeys for the local frontend (http://localhost:3000, as CORS_ORIGINS); a page served from
# another origin needs it added to WEBAUTHN_RP_ORIGINS (docs/passkeys.md).
if ! grep -q '^WEBAUTHN_RP_ID=' .env; then
    $new_env || say "adding WEBAUTHN_RP_ID/WEBAUTHN_RP_ORIGINS to .env (passkeys on http://localhost:3000)"
    printf '# Written by scripts/dev.sh: passkeys for pages on these origins (docs/passkeys.md).\nWEBAUTHN_RP_ID=localhost\nWEBAUTHN_RP_ORIGINS=http://localhost:3000\n' >> .env
fi

say "migrating $(redact "$database_url")"
DATABASE_URL=$database_url "$bin/migrate" up

say "starting cargo lambda watch on http://localhost:${PORT:-9000} (every function built; try: curl localhost:${PORT:-9000}/health)"
export DATABASE_URL=$database_url
# --disable-cors: the functions apply CORS_ORIGINS themselves, as the HTTP API does in AWS; the
# emulator's own policy would allow every origin, so a frontend could work here and fail deployed.
exec cargo lambda watch --disable-cors --invoke-port "${PORT:-9000}" "$@"
