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


@schemathesis.auth(refresh_interval=2)
class SignIn:
    def get(self, case, ctx):
        answer = requests.post(
            f"{API_URL}/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30
        )
        answer.raise_for_status()
        tokens = answer.json()
        # Every token we are given, for the log scan after the run (scan_log.py).
        with open(os.environ["API_SECRETS_FILE"], "a") as secrets:
            secrets.write(f"{tokens['access_token']}\n{tokens['refresh_token']}\n")
        return tokens["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


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
    # The stateful phase can make another user admin and then disable or demote the account the run
    # signs in as (PATCH /users/{id} with ids from GET /users): legitimate, but it would end the run's
    # sign-in. That one account is left alone; every other id is fair game.
    return not (path_parameters and path_parameters.get("id") == USER_ID)
