# Shared by scripts/dev.sh and scripts/test.sh: a project-local venv with cargo-lambda, and a
# PostgreSQL server to talk to (found, or started as a throwaway under .local/).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
LOCAL="$ROOT/.local"
THROWAWAY_PORT=${THROWAWAY_PG_PORT:-54329}
DEFAULT_SERVER_URL="postgres://postgres@127.0.0.1:5432/postgres"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# .venv with the pinned Python-distributed tools; its bin/ goes first on PATH.
ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    local requirements="$ROOT/scripts/requirements.txt"
    if [ ! -f "$VENV/.installed" ] || ! cmp -s "$requirements" "$VENV/.installed"; then
        say "installing $(grep -v '^#' "$requirements" | xargs) into .venv"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
            || die "pip install failed"
        cp "$requirements" "$VENV/.installed"
    fi
    export PATH="$VENV/bin:$PATH"
}

# True when a PostgreSQL server answers at the URL.
pg_answers() {
    "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
s = socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2)
# SSLRequest: any PostgreSQL answers it with one byte, S or N.
s.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
sys.exit(0 if s.recv(1) in (b"S", b"N") else 1)
PY
}

# Directory holding initdb/pg_ctl, if PostgreSQL server binaries are installed.
pg_bindir() {
    local dir
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"; return 0
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin /opt/homebrew/bin /usr/local/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    return 1
}

# Starts (creating if needed) a throwaway server in .local/postgres on 127.0.0.1:$THROWAWAY_PORT.
# initdb refuses to run as root, so as root the server runs as the `postgres` user (or `nobody`).
start_throwaway_pg() {
    local bindir data="$LOCAL/postgres" log="$LOCAL/postgres.log" owner="" run=()
    bindir=$(pg_bindir) || die "no PostgreSQL server answers and no server binaries were found; install PostgreSQL or set DATABASE_URL"
    mkdir -p "$LOCAL"
    if [ "$(id -u)" = 0 ]; then
        owner=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
        run=(runuser -u "$owner" --)
        chmod 755 "$LOCAL"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        say "initialising a throwaway PostgreSQL in $data"
        mkdir -p "$data"
        [ -n "$owner" ] && chown -R "$owner" "$data"
        "${run[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 >/dev/null \
            || die "initdb failed"
    fi
    touch "$log"; [ -n "$owner" ] && chown "$owner" "$log"
    say "starting the throwaway PostgreSQL on 127.0.0.1:$THROWAWAY_PORT (log: $log)"
    "${run[@]}" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 30 \
        -o "-p $THROWAWAY_PORT -c listen_addresses=127.0.0.1 -k /tmp" start >/dev/null \
        || die "the throwaway PostgreSQL did not start; see $log"
}

# Prints the URL of a reachable server: $1 if given, else the local default, else a throwaway one.
find_or_start_pg() {
    local wanted=$1
    if [ -n "$wanted" ]; then
        pg_answers "$wanted" || die "no PostgreSQL answers at the configured URL (host/port of $(redact "$wanted"))"
        echo "$wanted"; return
    fi
    if pg_answers "$DEFAULT_SERVER_URL"; then echo "$DEFAULT_SERVER_URL"; return; fi
    local throwaway="postgres://postgres@127.0.0.1:$THROWAWAY_PORT/postgres"
    pg_answers "$throwaway" || start_throwaway_pg
    echo "$throwaway"
}

# URL with the password hidden, for messages.
redact() { sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$1"; }

# URL with its database replaced.
with_database() {
    "$VENV/bin/python" - "$1" "$2" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + sys.argv[2], u.query, u.fragment)))
PY
}

# The value of KEY in .env, if any.
dotenv_value() {
    [ -f "$ROOT/.env" ] || return 0
    sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*//p" "$ROOT/.env" | tail -n 1 | sed -E "s/^['\"]//; s/['\"]$//"
}

# Extra pinned Python tools for one script ($1: its requirements file), installed into .venv once.
ensure_python_tools() {
    local requirements="$ROOT/$1" stamp
    stamp="$VENV/.installed-$(basename "$(dirname "$1")")-$(basename "$1")"
    if [ ! -f "$stamp" ] || ! cmp -s "$requirements" "$stamp"; then
        say "installing $(grep -v '^#' "$requirements" | xargs) into .venv"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
            || die "pip install failed"
        cp "$requirements" "$stamp"
    fi
}

# aws-sam-cli for scripts/deploy-check.sh: heavier than the test tools, so separate.
ensure_deploy_tools() {
    if [ ! -x "$VENV/bin/sam" ]; then
        say "installing aws-sam-cli into .venv"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements-deploy.txt" \
            || die "pip install aws-sam-cli failed"
    fi
}

# Installs Debian packages that are missing (only those: a Node.js from another source must not
# be replaced, and Debian's npm conflicts with NodeSource's nodejs, which bundles npm).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "$* needed: install them with your package manager"
    say "installing $* with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# Node.js 20+ with npm, for the Better Auth server and the frontend tools.
ensure_node() {
    if ! command -v node >/dev/null 2>&1; then
        apt_install nodejs npm
    elif ! command -v npm >/dev/null 2>&1; then
        apt_install npm
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 20 ] || die "node $(node --version) is too old for better-auth: install Node.js 20+"
}

# `npm ci` in a project folder ($1) when its package-lock.json changed since the last install.
npm_ci() {
    local dir="$ROOT/$1" stamp="$ROOT/$1/node_modules/.installed-lock"
    if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
        say "installing $1's npm packages (npm ci, pinned by its package-lock.json)"
        npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2 || die "npm ci in $1 failed"
        cp "$dir/package-lock.json" "$stamp"
    fi
}

# The real Better Auth server the tasks tests sign in against: better-auth pinned by
# scripts/better-auth/package-lock.json, installed into its node_modules (project-local, like .venv).
ensure_better_auth() {
    ensure_node
    npm_ci scripts/better-auth
}

# The Node tools of scripts/frontend (playwright-core, @hey-api/openapi-ts, TypeScript) and
# Debian's Chromium for the browser test (playwright's own browser download cannot work offline,
# so never `playwright install`).
ensure_frontend_tools() {
    ensure_node
    [ -x /usr/bin/chromium ] || apt_install chromium
    npm_ci scripts/frontend
}
