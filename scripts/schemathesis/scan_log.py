"""Fails when the functions' log of a schemathesis run holds a secret: the JWT signing key, the
database URL's password, the test account's password, or any access or refresh token it was given
(collected by hooks.py), or anything shaped like a JWT."""
import os
import re
import sys
import urllib.parse

log = open(sys.argv[1], encoding="utf-8", errors="replace").read()
secrets = {
    "JWT_SECRET": os.environ["JWT_SECRET"],
    "the account's password": os.environ["API_PASSWORD"],
}
database_password = urllib.parse.urlsplit(os.environ["DATABASE_URL"]).password
if database_password:
    secrets["the database password"] = database_password
with open(os.environ["API_SECRETS_FILE"]) as issued:
    tokens = [line.strip() for line in issued if line.strip()]
for number, token in enumerate(tokens):
    secrets[f"issued token #{number}"] = token

found = [name for name, value in secrets.items() if value and value in log]
found += [f"a JWT ({m.group(0)[:12]}...)" for m in re.finditer(r"eyJ[\w-]{8,}\.[\w-]{8,}\.", log)]
lines = log.count("\n")
if found:
    print(f"secrets in the log: {', '.join(found[:10])}", file=sys.stderr)
    sys.exit(1)
print(f"no secret in {lines} log lines ({len(tokens)} issued tokens, {len(secrets)} secrets checked)")
