#!/usr/bin/env python3
"""The emulator half of scripts/bench.sh: load through `cargo lambda watch --release`.

Expects the watch server up on --url with the three functions, talking to --database-url (a fresh
database). Makes two accounts with live sessions in SQL (tokens signed here with the same HS256
secret, so no password is hashed before the memory reading), then times each route at concurrency
1 and 4 for a fixed duration after a warm-up, with wrk when it is installed, else with the asyncio
client below. Any answer other than the expected status fails the run. Reads the peak RSS (VmHWM)
of every function process cargo-lambda started, before and after the password-hashing routes.
Writes JSON lines to --out and the API Gateway events the cold-start measurement uses to --work.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "bench-password-7c1e9a"
EXPECTED = {"health": 200, "register": 201, "login": 200, "me": 200, "create": 201,
            "list": 200, "get": 200, "update": 200, "delete": 204}


def log(message):
    print(f"    {message}", file=sys.stderr, flush=True)


class Sql:
    def __init__(self, psql, url):
        self.psql, self.url = psql, url

    def rows(self, statement):
        out = subprocess.run([self.psql, "-X", "-q", "-t", "-A", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-d", self.url, "-c", statement],
                             check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]


def mint(secret, user_id, session_id):
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"sub": user_id, "sid": session_id, "role": "user", "iat": now,
                             "exp": now + 4 * 3600, "iss": "tasks-api", "aud": "tasks-api",
                             "typ": "access"}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


# ------------------------------------------------------------------------------------------
# One request, described so that both load generators can build it.

class Route:
    def __init__(self, name, method, path, token=None, body=None):
        self.name, self.method, self.path, self.token, self.body = name, method, path, token, body


def raw_request(host, method, path, token, body):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
        return status, body
    return status, await reader.readexactly(length)


class Counter:
    def __init__(self, start):
        self.next = start

    def take(self):
        value = self.next
        self.next += 1
        return value


def request_for(route, state, host):
    """The bytes of the next request of `route` (register and delete change every time)."""
    if route.name == "register":
        n = state["register"].take()
        body = {"email": f"e{n}-{state['tag']}@bench.example", "password": PASSWORD}
        return raw_request(host, "POST", "/auth/register", None, body)
    if route.name == "delete":
        task = state["delete"].take()
        if task > state["delete_last"]:
            raise RuntimeError("ran out of tasks to delete")
        return raw_request(host, "DELETE", f"{state['delete_prefix']}/{task}", route.token, None)
    return raw_request(host, route.method, route.path, route.token, route.body)


async def asyncio_load(url, route, state, concurrency, seconds, record):
    parsed = urllib.parse.urlsplit(url)
    host = parsed.netloc
    expected = EXPECTED[route.name]
    latencies, errors, first_error = [], 0, None
    deadline = time.perf_counter() + seconds

    async def worker():
        nonlocal errors, first_error
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
        try:
            while time.perf_counter() < deadline:
                data = request_for(route, state, host)
                t0 = time.perf_counter()
                writer.write(data)
                status, body = await read_response(reader)
                t1 = time.perf_counter()
                if record:
                    latencies.append(t1 - t0)
                if status != expected:
                    errors += 1
                    first_error = first_error or f"{route.name}: {status} {body[:300]!r}"
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"n": len(latencies), "elapsed": elapsed, "errors": errors, "first_error": first_error,
            "p50_ms": pct(latencies, 0.50) * 1000 if latencies else None,
            "p99_ms": pct(latencies, 0.99) * 1000 if latencies else None,
            "rps": len(latencies) / elapsed if latencies else 0.0}


def pct(sorted_values, q):
    import math
    rank = max(1, min(len(sorted_values), math.ceil(len(sorted_values) * q)))
    return sorted_values[rank - 1]


def wrk_load(wrk, url, route, state, concurrency, seconds):
    env = dict(os.environ)
    env.update({"BENCH_METHOD": route.method, "BENCH_PATH": route.path, "BENCH_TOKEN": route.token or "",
                "BENCH_BODY": json.dumps(route.body) if route.body is not None else "",
                "BENCH_ROUTE": route.name, "BENCH_EXPECTED": str(EXPECTED[route.name])})
    if route.name == "register":
        start = state["register"].next
        env.update({"BENCH_REGISTER_PREFIX": f"w{start}-{state['tag']}"})
    if route.name == "delete":
        env.update({"BENCH_DELETE_FIRST": str(state["delete"].next),
                    "BENCH_DELETE_LAST": str(state["delete_last"]),
                    "BENCH_DELETE_PREFIX": state["delete_prefix"]})
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        env["BENCH_RESULT"] = result.name
        seconds_arg = f"{max(1, int(round(seconds)))}s"  # wrk counts whole seconds
        run = subprocess.run([wrk, "-t1", f"-c{concurrency}", f"-d{seconds_arg}", "--timeout", "10s",
                              "-s", os.path.join(HERE, "wrk.lua"), url],
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"wrk failed: {run.stderr or run.stdout}")
        summary = json.load(open(result.name))
    if route.name == "register":
        state["register"].next += summary["requests"] + concurrency + 1
    return summary


def delete_resume(sql, state, writer_id):
    """After a run: the next task to delete is after the highest one gone."""
    first, last = state["delete_first"], state["delete_last"]
    rows = sql.rows(f"select coalesce(max(g), {first} - 1) + 1 from generate_series({first}, {last}) g "
                    f"where not exists (select 1 from tasks t where t.id = g and t.user_id = '{writer_id}')")
    state["delete"].next = int(rows[0][0])


def run_route(args, sql, route, state, concurrency, wrk, writer_id):
    warmup = args.warmup
    seconds = args.duration
    if route.name in ("register", "login"):
        seconds = args.hash_duration
    results = {}
    for phase, length in (("warmup", warmup), ("measure", seconds)):
        if wrk:
            summary = wrk_load(wrk, args.url, route, state, concurrency, length)
            out = {"n": summary["requests"], "errors": summary["errors"], "first_error": summary.get("first_error"),
                   "p50_ms": summary["p50_us"] / 1000, "p99_ms": summary["p99_us"] / 1000,
                   "rps": summary["requests"] / (summary["duration_us"] / 1e6)}
        else:
            out = asyncio.run(asyncio_load(args.url, route, state, concurrency, length, phase == "measure"))
        if route.name == "delete":
            delete_resume(sql, state, writer_id)
        results[phase] = out
    measured = results["measure"]
    measured["errors"] += results["warmup"]["errors"]
    measured["first_error"] = measured.get("first_error") or results["warmup"].get("first_error")
    return measured


def function_processes(root_pid, release_dir):
    """Every descendant of root_pid running one of the release function binaries, by function."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                exe = os.readlink(f"/proc/{child}/exe")
            except OSError:
                continue
            name = os.path.basename(exe)
            if os.path.dirname(exe) == release_dir and name in ("auth", "tasks", "health"):
                found.setdefault(name, []).append(child)
    return found


def vm_hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def http_once(url, method, path, token=None, body=None):
    async def go():
        parsed = urllib.parse.urlsplit(url)
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
        writer.write(raw_request(parsed.netloc, method, path, token, body))
        status, data = await read_response(reader)
        writer.close()
        return status, data
    return asyncio.run(go())


def wait_for(url, method, path, accept, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            status, body = http_once(url, method, path)
            if status in accept:
                return
            last = f"{status} {body[:200]!r}"
        except (OSError, asyncio.IncompleteReadError) as error:
            last = repr(error)
        time.sleep(0.5)
    raise SystemExit(f"{path} did not answer {accept} within {timeout} s (last: {last})")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--jwt-secret", required=True)
    parser.add_argument("--psql", default="psql")
    parser.add_argument("--watch-pid", type=int, required=True)
    parser.add_argument("--release-dir", required=True)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--hash-duration", type=float, default=3)
    parser.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    out = open(args.out, "w")

    def emit(record):
        print(json.dumps(record), file=out, flush=True)
        log(json.dumps(record))

    wrk = shutil.which("wrk") if args.driver in ("auto", "wrk") else None
    if args.driver == "wrk" and not wrk:
        raise SystemExit("wrk is not installed")
    emit({"kind": "driver", "driver": "wrk" if wrk else "python-asyncio"})

    # The first invocation of each function starts it (cargo run: a freshness check, no build
    # when the release binaries are current).
    wait_for(args.url, "GET", "/health", {200}, 600)
    wait_for(args.url, "GET", "/users/me", {401}, 600)
    wait_for(args.url, "GET", "/api/nobody/tasks", {401}, 600)

    sql = Sql(args.psql, args.database_url)
    tag = uuid.uuid4().hex[:8]
    accounts = {}
    for who in ("reader", "writer"):
        user_id, session_id = sql.rows(
            "with u as (insert into users (email, email_key, password_hash) values "
            f"('{who}-{tag}@bench.example', '{who}-{tag}@bench.example', 'unused') returning id) "
            "insert into sessions (user_id, expires_at) select id, now() + interval '1 day' from u "
            "returning user_id, id")[0]
        accounts[who] = (user_id, mint(args.jwt_secret, user_id, session_id))
    reader_id, reader_token = accounts["reader"]
    writer_id, writer_token = accounts["writer"]
    reader_tasks = [int(r[0]) for r in sql.rows(
        "insert into tasks (issuer, user_id, owner_id, title, description) "
        f"select '', '{reader_id}', '{reader_id}'::uuid, 'Task ' || g, 'Description of task ' || g from generate_series(1, 100) g returning id")]

    # Other users' tasks, so the planner sees a database in service (many owners; see
    # bench_inprocess/seed.rs), then statistics and no dead rows, as such a database has.
    sql.rows(
        "with owners as (insert into users (email, email_key, password_hash) "
        f"select 'other' || g || '-{tag}@bench.example', 'other' || g || '-{tag}@bench.example', 'unused' "
        "from generate_series(1, 1000) g "
        "returning id) insert into tasks (issuer, user_id, owner_id, title, description) "
        "select '', owners.id::text, owners.id, 'Task ' || g, 'Description of task ' || g from owners, generate_series(1, 100) g")
    sql.rows("vacuum (analyze) users, sessions, tasks, login_throttle")
    status, body = http_once(args.url, "GET", f"/api/{reader_id}/tasks", reader_token)
    if status != 200 or len(json.loads(body)) != 100:
        raise SystemExit(f"listing the reader's tasks gave {status} {body[:200]!r}")

    # Events for the cold-start measurement (same database, same secret).
    template = json.load(open(args.work + "/health-event.json"))
    for name, path in (("auth", "/users/me"), ("tasks", f"/api/{reader_id}/tasks")):
        event = json.loads(json.dumps(template))
        event["rawPath"] = path
        event["rawQueryString"] = ""
        event.pop("queryStringParameters", None)
        event.pop("pathParameters", None)
        event.pop("cookies", None)
        event["headers"] = {"authorization": f"Bearer {reader_token}"}
        event["requestContext"]["http"]["path"] = path
        event["isBase64Encoded"] = False
        json.dump(event, open(f"{args.work}/{name}-event.json", "w"))

    task = reader_tasks[0]
    routes = {
        "health": Route("health", "GET", "/health"),
        "me": Route("me", "GET", "/users/me", reader_token),
        "create": Route("create", "POST", f"/api/{writer_id}/tasks", writer_token,
                        {"title": "Bench task", "description": "Created by the benchmark"}),
        "list": Route("list", "GET", f"/api/{reader_id}/tasks", reader_token),
        "get": Route("get", "GET", f"/api/{reader_id}/tasks/{task}", reader_token),
        "update": Route("update", "PUT", f"/api/{reader_id}/tasks/{task}", reader_token,
                        {"title": f"Task {task} (updated)", "description": "Updated by the benchmark",
                         "completed": True}),
        "delete": Route("delete", "DELETE", f"/api/{writer_id}/tasks/0", writer_token),
        "register": Route("register", "POST", "/auth/register"),
        "login": Route("login", "POST", "/auth/login", None,
                       {"email": f"login-{tag}@bench.example", "password": PASSWORD}),
    }
    state = {"tag": tag, "register": Counter(0), "delete": Counter(0), "delete_first": 0, "delete_last": -1,
             "delete_prefix": f"/api/{writer_id}/tasks"}

    # Start the instances c=4 needs (--concurrency 4 lets cargo-lambda run up to 4 per function).
    for name in ("health", "me", "list"):
        run_route(args, sql, routes[name], state, 4, wrk, writer_id)

    def read_rss(phase):
        processes = function_processes(args.watch_pid, args.release_dir)
        for function in ("health", "auth", "tasks"):
            pids = processes.get(function, [])
            values = [v for v in (vm_hwm(pid) for pid in pids) if v]
            emit({"kind": "rss", "mode": "emulator", "phase": phase, "process": function,
                  "instances": len(pids), "vmhwm_kib": max(values) if values else None})

    failed = False
    fastest_get_rps = 0.0
    for name in ("health", "me", "create", "list", "get", "update", "delete", "register", "login"):
        if name == "register":
            read_rss("without_hashing")
            status, body = http_once(args.url, "POST", "/auth/register", None,
                                     {"email": f"login-{tag}@bench.example", "password": PASSWORD})
            if status != 201:
                raise SystemExit(f"registering the login account gave {status} {body[:200]!r}")
        if name == "delete":
            created = int(sql.rows(f"select count(*) from tasks where user_id = '{writer_id}'")[0][0])
            # Deletes can outrun the creates that left rows behind; reading a row by id bounds them.
            by_rate = int(fastest_get_rps * (args.warmup + args.duration) * 2 * 1.5)
            count = max(created * 3 // 2, by_rate) + 2000
            ids = [int(r[0]) for r in sql.rows(
                f"insert into tasks (issuer, user_id, owner_id, title) select '', '{writer_id}', '{writer_id}'::uuid, 'To delete ' || g "
                f"from generate_series(1, {count}) g returning id")]
            if ids[-1] - ids[0] + 1 != len(ids):
                raise SystemExit("tasks to delete were not numbered consecutively")
            state.update(delete=Counter(ids[0]), delete_first=ids[0], delete_last=ids[-1])
        if name in ("list", "delete"):
            # What autovacuum would do within a minute of a bulk change (see bench_inprocess/latency.rs).
            sql.rows("analyze tasks")
        for concurrency in (1, 4):
            result = run_route(args, sql, routes[name], state, concurrency, wrk, writer_id)
            failed |= result["errors"] > 0
            if name == "get":
                fastest_get_rps = max(fastest_get_rps, result["rps"])
            emit({"kind": "latency", "mode": "emulator", "op": name, "c": concurrency,
                  "n": result["n"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
                  "rps": result["rps"], "errors": result["errors"], "first_error": result["first_error"]})
    read_rss("all")
    if failed:
        raise SystemExit("some requests through the emulator failed (see errors above)")


if __name__ == "__main__":
    main()
