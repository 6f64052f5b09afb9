"""Schemathesis hooks for scripts/schemathesis.sh.

Every request is signed in as a real account (a fresh access token every few seconds, since the
run itself calls /auth/logout now and then), and the tasks routes' `user_id` is that account's own
subject, so generated requests reach the handlers instead of stopping at 403.
"""
import os

import requests
import schemathesis

API_URL = os.environ["API_URL"]
EMAIL = os.environ["API_EMAIL"]
PASSWORD = os.environ["API_PASSWORD"]
USER_ID = os.environ["API_USER_ID"]
DECOY_TOKEN = os.environ["API_DECOY_TOKEN"]
# The operations that check the caller's current password or a second-factor code: a wrong one
# counts against the account's sign-in lock, like a failed sign-in.
CHECKS_CURRENT_PASSWORD = {
    ("PATCH", "/users/me"),
    ("PATCH", "/user/update"),
    ("DELETE", "/users/me"),
    ("POST", "/users/me/second-factor/totp"),
    ("POST", "/users/me/second-factor/totp/activate"),
    ("POST", "/users/me/second-factor/verify"),
    ("DELETE", "/users/me/second-factor"),
    ("POST", "/users/me/passkeys/registration"),
}


@schemathesis.auth(refresh_interval=2)
class SignIn:
    def get(self, case, ctx):
        answer = requests.post(
            f"{API_URL}/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30
        )
        if not answer.ok:
            # Say why: the run cannot go on without a session.
            raise RuntimeError(f"sign-in as {EMAIL} failed: {answer.status_code} {answer.text}")
        tokens = answer.json()
        # Every token we are given, for the log scan after the run (scan_log.py).
        with open(os.environ["API_SECRETS_FILE"], "a") as secrets:
            secrets.write(f"{tokens['access_token']}\n{tokens['refresh_token']}\n")
        return tokens["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {_token_for(case, data)}"


def _token_for(case, token):
    """The decoy account's token for a request that checks the current password (see before_call)."""
    if (case.operation.method.upper(), case.operation.path) in CHECKS_CURRENT_PASSWORD:
        return DECOY_TOKEN
    return token


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    if path_parameters and "user_id" in path_parameters:
        path_parameters["user_id"] = USER_ID
    return path_parameters


def _is_utf8(body) -> bool:
    try:
        if isinstance(body, bytes):
            body.decode("utf-8")
        elif isinstance(body, str):
            body.encode("utf-8")
    except UnicodeError:
        return False
    return True


@schemathesis.hook
def filter_body(ctx, body):
    # `cargo lambda watch` answers 500 itself to a body that is not UTF-8: its runtime API cannot
    # put it in the event, and the function never sees the request ("Lambda Runtime API returned
    # non-200"). API Gateway base64-encodes such a body instead; the function's own answer to it
    # (a 4xx) is tested in-process (functions/tasks/tests/crud.rs, shared/src/http.rs).
    return _is_utf8(body)


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters):
    # The run must stay signed in. The stateful phase can make another user admin and then disable
    # or demote the account the run signs in as (PATCH /users/{id}): legitimate, but it would end
    # the run. That one account is left alone; every other id is fair game.
    return not (path_parameters and str(path_parameters.get("id", "")).lower() == USER_ID.lower())


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # Filters apply to generated data only; the stateful phase fills parameters from earlier
    # responses (GET /users lists the run's own id, GET /users/me its email) after them. So the
    # same protection again, on the request as it is about to be sent:
    # - PATCH /users/{id} on the run's own account goes to an id nobody has (a 404);
    # - a sign-in attempt with the run's email and a generated password uses another email, since
    #   a few of those lock the account (429; CI saw the run end with a 401 at sign-in).
    params = case.path_parameters or {}
    if str(params.get("id", "")).lower() == USER_ID.lower() and case.operation.path == "/users/{id}":
        params["id"] = "00000000-0000-4000-8000-000000000000"
    # - a request that checks the current password is sent as the decoy account (schemathesis.sh):
    #   five wrong ones would lock the run's own account out of sign-in.
    if case.headers and "Authorization" in case.headers:
        case.headers["Authorization"] = f"Bearer {_token_for(case, case.headers['Authorization'].removeprefix('Bearer '))}"
    if case.operation.path in ("/auth/login", "/auth/token", "/token") and isinstance(case.body, dict):
        for field in ("email", "username"):
            value = case.body.get(field)
            if isinstance(value, str) and value.strip().lower() == EMAIL.lower():
                case.body[field] = "someone-else@example.com"
    # - a header value that is not ASCII (requests sends it as Latin-1 bytes, not UTF-8) is left
    #   out: `cargo lambda watch` cannot put it in the event and answers 500 itself, or never
    #   answers, before the function runs (the negative phase makes such Idempotency-Keys). The
    #   function's own answer to one (422) is tested in-process (functions/tasks/tests/
    #   idempotency.rs); API Gateway does not pass such bytes through as they are.
    if case.headers:
        for name in [n for n, v in case.headers.items() if not str(v).isascii()]:
            del case.headers[name]
