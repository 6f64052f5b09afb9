# Shared by scripts/dev.sh, scripts/test.sh and the other scripts: a project-local venv with
# cargo-lambda (and, for the scripts that need them, the test, cross-build and deployment tools),
# and a PostgreSQL server to talk to (found, or started as a throwaway under .local/).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
LOCAL="$ROOT/.local"
THROWAWAY_PORT=${THROWAWAY_PG_PORT:-54329}
DEFAULT_SERVER_URL="postgres://postgres@127.0.0.1:5432/postgres"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# .venv with cargo-lambda (what scripts/dev.sh needs, and nothing else); its bin/ goes first on
# PATH. --no-deps: cargo-lambda's only dependency, ziglang (about 400 MB), is the C cross-compiler
# of `cargo lambda build --arm64`, installed by ensure_zig where such a build runs. The tests' and
# the deployment's tools come with ensure_test_tools and ensure_deploy_tools.
ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    local requirements="$ROOT/scripts/requirements.txt"
    if [ ! -f "$VENV/.installed" ] || ! cmp -s "$requirements" "$VENV/.installed"; then
        say "installing $(grep -v '^#' "$requirements" | xargs) into .venv"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements" \
            || die "pip install failed"
        cp "$requirements" "$VENV/.installed"
    fi
    export PATH="$VENV/bin:$PATH"
}

# moto and PyJWT, which only the tests (and scripts/bench.sh's cold-start runs) use.
ensure_test_tools() { ensure_python_tools scripts/requirements-test.txt; }

# Zig for cargo-lambda's cross builds (`cargo lambda build --arm64`): found as `python3 -m ziglang`.
ensure_zig() { ensure_python_tools scripts/requirements-zig.txt; }

# The C toolchain the first build needs besides Rust: a C compiler for ring and for OpenSSL, which
# is built from source (openssl-src, the `vendored` feature), and OpenSSL's build tools, make and
# Perl with IPC::Cmd (missing from Debian's perl-base and Fedora's minimal perl).
ensure_c_toolchain() {
    local missing=()
    command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1 || missing+=("a C compiler (cc)")
    command -v make >/dev/null 2>&1 || missing+=(make)
    perl -MIPC::Cmd -e 1 >/dev/null 2>&1 || missing+=("perl with IPC::Cmd")
    [ ${#missing[@]} -eq 0 ] || die "the build needs a C toolchain (OpenSSL is compiled from source); missing: ${missing[*]}.
  Debian/Ubuntu: apt-get install build-essential perl    Fedora: dnf install gcc make perl-core    macOS: xcode-select --install"
}

# The cargo target directory (CARGO_TARGET_DIR, or target/ here): where the built binaries are.
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
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

# squawk, the migration linter, for scripts/lint-migrations.sh.
ensure_lint_tools() { ensure_python_tools scripts/requirements-lint.txt; }
# aws-sam-cli for scripts/deploy-check.sh and `sam deploy`: heavier than the test tools, so separate.
ensure_deploy_tools() { ensure_python_tools scripts/requirements-deploy.txt; }

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

# Runs a command as the owner of the throwaway servers: initdb and PgBouncer refuse to run as root.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)" -- "$@"
    else
        "$@"
    fi
}

# Starts PgBouncer 1.18 in transaction mode — the strictest pooler (no prepared statement may
# outlive a transaction, no session state), as Neon's `-pooler` endpoint runs — in front of the
# server at $1, on 127.0.0.1:${PGBOUNCER_PORT:-6432}; installs it from the OS packages when
# missing. Prints its URL. It stops when the calling script exits (stop_pgbouncer in a trap).
# PGBOUNCER_POOL_SIZE sets default_pool_size (40).
start_pgbouncer() {
    local server=$1 host_port pg_host pg_port dir="$LOCAL/pgbouncer" bouncer
    if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
        apt_install pgbouncer
    fi
    bouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    host_port=$("$VENV/bin/python" -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432)' "$server")
    read -r pg_host pg_port <<<"$host_port"
    mkdir -p "$dir"
    cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=$pg_host port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${PGBOUNCER_PORT:-6432}
auth_type = trust
auth_file = $dir/users.txt
# SHOW POOLS for scripts/measure-stall.sh (read-only console access).
stats_users = postgres
pool_mode = transaction
max_client_conn = 1000
default_pool_size = ${PGBOUNCER_POOL_SIZE:-40}
max_db_connections = 0
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    echo '"postgres" ""' > "$dir/users.txt"
    if [ "$(id -u)" = 0 ]; then chown -R "$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)" "$dir"; fi
    stop_pgbouncer
    as_owner "$bouncer" -d "$dir/pgbouncer.ini" >&2 || die "PgBouncer did not start; see $dir/pgbouncer.log"
    echo "postgres://postgres@127.0.0.1:${PGBOUNCER_PORT:-6432}/postgres"
}

stop_pgbouncer() {
    local pid="$LOCAL/pgbouncer/pgbouncer.pid"
    if [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; then sleep 1; fi
    return 0
}

# A throwaway TLS-only PostgreSQL on 127.0.0.1:${TLS_TEST_PORT:-54330} with a test CA and a server
# certificate for `localhost` (openssl), for the TLS tests (shared/tests/tls.rs): sslmode=require
# connects with the right CA and refuses another CA or another host name. Exports TLS_TEST_*.
start_tls_pg() {
    local bindir dir="$LOCAL/tls" port=${TLS_TEST_PORT:-54330}
    command -v openssl >/dev/null 2>&1 || die "openssl is needed to make the test certificates"
    bindir=$(pg_bindir) || die "PostgreSQL server binaries (initdb, pg_ctl) are needed"
    stop_tls_pg
    rm -rf "$dir" && mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Test CA" -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Other CA" -keyout other-ca.key -out other-ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.crt 2>/dev/null
        chmod 600 server.key
    )
    if [ "$(id -u)" = 0 ]; then
        chown -R "$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)" "$dir"
        chmod 755 "$LOCAL"
    fi
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null || die "initdb for the TLS server failed"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 -o \
        "-p $port -c listen_addresses=localhost -k /tmp -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" \
        start >/dev/null || die "the TLS PostgreSQL did not start; see $dir/postgres.log"
    export TLS_TEST_PORT=$port TLS_TEST_CA="$dir/ca.pem" TLS_TEST_OTHER_CA="$dir/other-ca.pem"
}

stop_tls_pg() {
    local bindir
    [ -f "$LOCAL/tls/data/postmaster.pid" ] || return 0
    bindir=$(pg_bindir) || return 0
    as_owner "$bindir/pg_ctl" -D "$LOCAL/tls/data" -m fast stop >/dev/null 2>&1 || true
}
