#!/usr/bin/env bash
# TLS to PostgreSQL for real: makes a test CA and a server certificate for `localhost` (openssl),
# starts a throwaway TLS-only PostgreSQL in .local/tls on 127.0.0.1:54330, and runs the TLS tests:
# sslmode=require connects with the right CA, and refuses another CA or another host name.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv
command -v openssl >/dev/null 2>&1 || die "openssl is needed to make the test certificates"
bindir=$(pg_bindir) || die "PostgreSQL server binaries (initdb, pg_ctl) are needed"
dir="$LOCAL/tls"
port=${TLS_TEST_PORT:-54330}
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
run=()
if [ "$(id -u)" = 0 ]; then
    owner=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
    chown -R "$owner" "$dir"
    chmod 755 "$LOCAL"
    run=(runuser -u "$owner" --)
fi
"${run[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
"${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 -o \
    "-p $port -c listen_addresses=localhost -k /tmp -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" \
    start >/dev/null || die "the TLS PostgreSQL did not start; see $dir/postgres.log"
trap '"${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true' EXIT

export TLS_TEST_PORT=$port TLS_TEST_CA="$dir/ca.pem" TLS_TEST_OTHER_CA="$dir/other-ca.pem"
say "TLS tests against localhost:$port"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run -p shared --run-ignored only -E 'binary(tls)'
else
    cargo test -p shared --test tls -- --ignored
fi
