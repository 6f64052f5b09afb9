#!/usr/bin/env python3
"""Turns the JSON lines of a scripts/bench.sh run into one markdown report: printed, and written
into docs/performance.md between <!-- bench:start --> and <!-- bench:end --> (with --readme FILE), with the cost
table derived from it between <!-- cost:start --> and <!-- cost:end -->.

With --instructions DIR (scripts/instructions.sh) only the instructions per request: read from
callgrind's dumps in DIR, written to DIR/instructions.jsonl and, with --readme, between
<!-- instructions:start --> and <!-- instructions:end --> (inside the bench block, beside the
latency table); --profile a,b also writes callgrind_annotate's per-function totals of those routes."""
import math
import argparse
import datetime
import glob
import json
import os
import re
import subprocess
import sys

ROUTES = [("health", "GET /health"), ("register", "POST /auth/register"), ("login", "POST /auth/login"),
          ("me", "GET /users/me"), ("create", "POST /api/{id}/tasks"), ("list", "GET /api/{id}/tasks (100)"),
          ("get", "GET /api/{id}/tasks/{task}"), ("update", "PUT /api/{id}/tasks/{task}"),
          ("delete", "DELETE /api/{id}/tasks/{task}")]
FUNCTIONS = ["health", "auth", "tasks"]
MB = 1_000_000

# The on-paper cost model of docs/performance.md's "Cost per request, on paper" (its assumptions are stated there).
NEON_ROUND_TRIP_MS = 1.0
LAMBDA_MB_PER_VCPU = 1769
ARM64_USD_PER_GB_SECOND = 0.0000133334
USD_PER_MILLION_REQUESTS = 0.20
COST_ROUTES = ["health", "me", "create", "get", "update", "delete", "list", "login", "register"]


def load(work):
    records = []
    for path in sorted(glob.glob(os.path.join(work, "*.jsonl"))):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                records.append(json.loads(line))
    return records


def ms(value):
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def cell(record):
    if not record:
        return "–"
    return f"{ms(record['p50_ms'])} / {ms(record['p99_ms'])} · {record['rps']:,.0f}"


def mib(kib):
    return "–" if kib is None else f"{kib * 1024 / MB:.1f} MB"


def report(records, meta):
    def pick(**match):
        return [r for r in records if all(r.get(k) == v for k, v in match.items())]

    def one(**match):
        found = pick(**match)
        return found[0] if found else None

    out = []
    out.append(f"Measured {meta['date']} by `{meta['command']}` ({meta['elapsed']}) on {meta['machine']}; "
               f"PostgreSQL {meta['postgres']} on the same machine, {meta['rustc']}.")
    out.append("")
    driver = one(kind="driver")
    out.append(f"Each cell: p50 / p99 in ms · requests per second; {meta['duration']} s per route and "
               f"concurrency after {meta['warmup']} s of warm-up (register and login: "
               f"{meta['hash_calls']} calls in-process, {meta['hash_seconds']} s through the emulator: "
               "argon2 dominates them). In-process: the functions' routers called with "
               "`tower::ServiceExt::oneshot` (release build, 4 tokio tasks for c=4, each function its own pool). "
               "Emulator: `cargo lambda watch --release --concurrency 4` driven by "
               f"{driver['driver'] if driver else '?'} over keep-alive HTTP/1.1. DB floor: the exact statements "
               "of each operation (captured from the wire) replayed by `pgbench -M extended -c 1`. "
               "Round trips: Sync and Query messages the function sends per operation, counted by a proxy "
               "that reads the PostgreSQL protocol. No errors were allowed.")
    out.append("")
    out.append("| route | DB round trips | in-process c=1 | in-process c=4 | emulator c=1 | emulator c=4 | DB floor c=1 |")
    out.append("|---|---|---|---|---|---|---|")
    for op, label in ROUTES:
        trips = one(kind="roundtrips", op=op)
        trips_text = "–" if not trips else f"{trips['round_trips']:g}"
        out.append("| " + " | ".join([
            label, trips_text,
            cell(one(kind="latency", mode="inprocess", op=op, c=1)),
            cell(one(kind="latency", mode="inprocess", op=op, c=4)),
            cell(one(kind="latency", mode="emulator", op=op, c=1)),
            cell(one(kind="latency", mode="emulator", op=op, c=4)),
            cell(one(kind="floor", op=op)),
        ]) + " |")
    out.append("")
    out.append("<!-- instructions:start -->")
    out.append(instructions_table(records).rstrip("\n"))
    out.append("<!-- instructions:end -->")
    out.append("")

    cached_rows = [(op, label) for op, label in ROUTES if one(kind="latency", mode="inprocess_cached", op=op, c=1)]
    if cached_rows:
        out.append("With `DATABASE_STATEMENT_CACHE=true` (statements prepared once per connection, then only "
                   "bound and executed; for a direct connection or a pooler that carries named statements, "
                   "see Configuration), in-process, same run:")
        out.append("")
        out.append("| route | in-process c=1 | in-process c=4 | p50 c=1 vs the default |")
        out.append("|---|---|---|---|")
        for op, label in cached_rows:
            cached = one(kind="latency", mode="inprocess_cached", op=op, c=1)
            default = one(kind="latency", mode="inprocess", op=op, c=1)
            change = "–" if not default else f"{cached['p50_ms'] - default['p50_ms']:+.2f} ms"
            out.append(f"| {label} | {cell(cached)} | "
                       f"{cell(one(kind='latency', mode='inprocess_cached', op=op, c=4))} | {change} |")
        out.append("")

    out.append("Where the time goes, p50 at c=1 in ms: the database floor; of it, planning (the floor minus the "
               "same statements as named prepared statements, `pgbench -M prepared`: the functions send "
               "unnamed ones, planned on every call) and the commit's WAL flush (minus the same statements "
               "with `synchronous_commit=off`); the function's own time "
               "in-process beyond the floor (HTTP, JSON, JWT, pool, tokio; argon2 for register and login), and "
               "what `cargo lambda watch` adds on top of the in-process call:")
    out.append("")
    out.append("| route | DB floor | of it, planning | of it, WAL flush at commit | function beyond the floor | emulator's share |")
    out.append("|---|---|---|---|---|---|")

    def p50(record):
        return record and record.get("p50_ms")

    def diff(a, b):
        return "–" if a is None or b is None else f"{a - b:+.2f}"
    for op, label in ROUTES:
        floor = p50(one(kind="floor", op=op))
        floor_async = p50(one(kind="floor_async", op=op))
        floor_prepared = p50(one(kind="floor_prepared", op=op))
        inproc = p50(one(kind="latency", mode="inprocess", op=op, c=1))
        emu = p50(one(kind="latency", mode="emulator", op=op, c=1))
        out.append(f"| {label} | {ms(floor)} | {diff(floor, floor_prepared)} | {diff(floor, floor_async)} | "
                   f"{diff(inproc, floor)} | {diff(emu, inproc)} |")
    out.append("")

    out.append("| function | cold start, DB warm-up on | cold start, `DB_WARMUP=false` | peak RSS under load (emulator) | arm64 zip |")
    out.append("|---|---|---|---|---|")
    for function in FUNCTIONS:
        cold = {w: one(kind="coldstart", function=function, warmup=w) for w in (True, False)}

        def cold_text(r):
            return "–" if not r else f"{r['median_ms']:.1f} ms (min {r['min_ms']:.1f}, max {r['max_ms']:.1f})"
        plain = one(kind="rss", mode="emulator", phase="without_hashing", process=function)
        full = one(kind="rss", mode="emulator", phase="all", process=function)
        rss = mib(plain and plain["vmhwm_kib"])
        if function == "auth" and full:
            rss += f"; {mib(full['vmhwm_kib'])} after register + login"
        zipped = one(kind="zip", function=function)
        zip_text = "–" if not zipped or zipped.get("bytes") is None else f"{zipped['bytes'] / MB:.2f} MB"
        out.append(f"| {function} | {cold_text(cold[True])} | {cold_text(cold[False])} | {rss} | {zip_text} |")
    inproc_plain = one(kind="rss", mode="inprocess", phase="without_hashing")
    inproc_all = one(kind="rss", mode="inprocess", phase="all")
    out.append("")
    n_cold = one(kind="coldstart")
    out.append(f"Cold start: process spawn to the first answered invocation (a database-backed request: "
               f"/health, /users/me, the 100-task list) through a minimal Lambda Runtime API "
               f"(`scripts/coldstart.py`), x86_64 release binaries, median of {n_cold['n'] if n_cold else '?'}. "
               f"Peak RSS: VmHWM of each function process cargo-lambda ran (the largest of its instances), "
               f"after every route but register and login; the in-process bench process peaked at "
               f"{mib(inproc_plain and inproc_plain['vmhwm_kib'])} (all three routers), "
               f"{mib(inproc_all and inproc_all['vmhwm_kib'])} after the hashing routes. "
               f"Zips: `cargo lambda build --release --arm64 --output-format zip`. MB = 10^6 bytes.")
    out.append("")

    rust, c = one(kind="argon2", impl="rust"), one(kind="argon2", impl="c")
    if rust:
        out.append(f"argon2id at m={rust['m_kib']} KiB, t={rust['t']}, p={rust['p']} (median of {rust['n']}):")
        out.append("")
        out.append("| implementation | hash | verify |")
        out.append("|---|---|---|")
        out.append(f"| ours (RustCrypto `argon2`, release, through the auth function's hasher) | "
                   f"{rust['hash_ms']:.1f} ms | {rust['verify_ms']:.1f} ms |")
        if c:
            out.append(f"| C reference ({c['package']}) | {c['hash_ms']:.1f} ms | {c['verify_ms']:.1f} ms |")
            out.append(f"| ratio | {rust['hash_ms'] / c['hash_ms']:.2f}× | {rust['verify_ms'] / c['verify_ms']:.2f}× |")
        out.append("")

    # Targets.
    targets = []

    def target(name, value, limit, unit, shown=None):
        if value is None:
            targets.append(f"- {name} ≤ {limit} {unit}: not measured")
            return
        ok = value <= float(str(limit).rstrip("×"))
        targets.append(f"- {'met' if ok else '**missed**'}: {name} ≤ {limit}{' ' + unit if unit else ''} "
                       f"({shown if shown is not None else f'{value:.2f} {unit}'})")

    for op, limit in (("create", 0.5), ("me", 0.5), ("list", 1.0)):
        r = one(kind="latency", mode="inprocess", op=op, c=1)
        target(f"{op} p50 in-process (c=1)", r and r["p50_ms"], limit, "ms")
    for function in FUNCTIONS:
        r = one(kind="coldstart", function=function, warmup=False)
        target(f"{function} cold start without warm-up", r and r["median_ms"], 40, "ms", r and f"{r['median_ms']:.1f} ms")
    for function in FUNCTIONS:
        r = one(kind="rss", mode="emulator", phase="without_hashing", process=function)
        kib = r and r["vmhwm_kib"]
        target(f"{function} peak RSS outside password hashing", kib and kib * 1024 / MB, 20, "MB")
    for function in FUNCTIONS:
        r = one(kind="zip", function=function)
        b = r and r.get("bytes")
        target(f"{function} arm64 zip", b and b / MB, 3, "MB")
    if rust and c:
        target("argon2 hash vs the C reference", rust["hash_ms"] / c["hash_ms"], "1.3×", "",
               f"{rust['hash_ms'] / c['hash_ms']:.2f}×")
    out.append("Targets:")
    out.append("")
    out.extend(targets)
    return "\n".join(out) + "\n"


def cost_table(records):
    """Estimated Lambda duration and price per million requests of each route at 128 and 512 MB arm64:
    round trips at Neon's distance, plus the database floor, plus the function's own measured time
    (in-process p50 beyond the floor) scaled by the CPU share Lambda gives that memory size."""
    def one(**match):
        found = [r for r in records if all(r.get(k) == v for k, v in match.items())]
        return found[0] if found else None

    labels = dict(ROUTES)
    out = ["| route | 128 MB: duration · $ per million | 512 MB: duration · $ per million | "
           "operations/s one 0.25 CU compute carries (from the DB floor) |",
           "|---|---|---|---|"]
    for op in COST_ROUTES:
        trips, floor = one(kind="roundtrips", op=op), one(kind="floor", op=op)
        inproc = one(kind="latency", mode="inprocess", op=op, c=1)
        if not (trips and floor and inproc):
            continue
        own = max(inproc["p50_ms"] - floor["p50_ms"], 0.0)
        cells = []
        for memory in (128, 512):
            share = min(memory / LAMBDA_MB_PER_VCPU, 1.0)
            duration = trips["round_trips"] * NEON_ROUND_TRIP_MS + floor["p50_ms"] + own / share
            billed_seconds = math.ceil(duration) / 1000
            price = USD_PER_MILLION_REQUESTS + 1e6 * billed_seconds * memory / 1024 * ARM64_USD_PER_GB_SECOND
            cells.append(f"~{ms(duration)} ms · ${price:.2f}")
        per_second = 0.25 * 1000 / floor["p50_ms"]
        out.append(f"| {labels[op]} | {cells[0]} | {cells[1]} | ~{per_second:,.0f} |")
    return "\n".join(out) + "\n"


def callgrind_dumps(work):
    """Each callgrind dump of an instructions run: the route its client request named, and the
    instructions counted (the file's `totals:` line)."""
    dumps = {}
    for path in glob.glob(os.path.join(work, "callgrind.out.*")):
        op = total = None
        with open(path) as dump:
            for line in dump:
                if line.startswith("desc: Trigger: Client Request: "):
                    op = line.split(": ", 3)[3].strip()
                elif line.startswith("totals:"):
                    total = int(line.split()[1])
        if op and total is not None:
            dumps[op] = (path, total)
    return dumps


# The token kinds and modes of scripts/instructions.sh, in the order of the table's columns.
TOKEN_KINDS = [("eddsa", "EdDSA"), ("hs256", "HS256"), ("es256", "Better Auth ES256")]
TOKEN_MODES = ["first", "repeated"]


def instruction_records(work):
    """The instructions records of every run in WORK: one per <kind>-<mode> subdirectory
    (scripts/instructions.sh), or WORK itself holding one run."""
    runs = [(f"{kind}-{mode}", os.path.join(work, f"{kind}-{mode}")) for kind, _ in TOKEN_KINDS for mode in TOKEN_MODES]
    runs = [(config, path) for config, path in runs if os.path.exists(os.path.join(path, "blocks.jsonl"))]
    if not runs:
        runs = [("eddsa-repeated", work)]
    records = []
    for config, path in runs:
        blocks = [r for r in load_file(os.path.join(path, "blocks.jsonl")) if r.get("kind") == "instructions_block"]
        dumps = callgrind_dumps(path)
        for block in blocks:
            if not block.get("valgrind"):
                sys.exit("the instructions run was not under valgrind")
            dump, total = dumps.get(block["op"], (None, None))
            if total is None:
                sys.exit(f"no callgrind dump for {block['op']} in {path}")
            records.append({"kind": "instructions", "op": block["op"], "config": config,
                            "requests": block["requests"], "warmup": block["warmup"], "instructions": total,
                            "per_request": total / block["requests"],
                            "dump": os.path.relpath(dump, work)})
    return records


def load_file(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip().startswith("{")]


def instructions_table(records):
    counted = [r for r in records if r.get("kind") == "instructions"]
    meta = next((r for r in records if r.get("kind") == "instructions_meta"), None)
    if not counted:
        return "Instructions per request: not counted in this run (`scripts/instructions.sh`).\n"
    configs = [(f"{kind}-{mode}", f"{label} {mode}") for kind, label in TOKEN_KINDS for mode in TOKEN_MODES
               if any(r.get("config", "eddsa-repeated") == f"{kind}-{mode}" for r in counted)]

    def per_request(op, config):
        r = next((r for r in counted if r["op"] == op and r.get("config", "eddsa-repeated") == config), None)
        return r and r["per_request"]

    plain = sorted({r["requests"] for r in counted if r["op"] not in ("register", "login")})
    hashing = sorted({r["requests"] for r in counted if r["op"] in ("register", "login")})
    out = [f"Instructions per request{' (' + meta['date'] + ', ' + meta['valgrind'] + ', ' + meta['rustc'] + ')' if meta else ''}: "
           "counted by callgrind (`scripts/instructions.sh`, also run by `scripts/bench.sh`) on the in-process path as "
           "Lambda runs it, the API Gateway event in and the response envelope out through the functions' Lambda adapter "
           "(`shared::lambda::Gateway`) and router, on tokio's current-thread runtime as in the functions; warm (after "
           f"{counted[0]['warmup']} requests), averaged over {'/'.join(map(str, plain)) or '–'} requests "
           f"({'/'.join(map(str, hashing)) or '–'} for register and login). Only the block answering those "
           "requests is instrumented, so this is all the process executes for them, on every thread (argon2 included), "
           "and nothing of the PostgreSQL server, another process; waiting for it costs no instructions. Unlike the "
           "times, these do not move with the machine's load: later changes are judged by them. "
           "Per token kind: our EdDSA tokens (the template's default), our HS256 ones, and a Better Auth JWT plugin "
           "token signed with ES256 (tasks routes only); *first*: every request carries a token never seen before (its "
           "signature is checked, then it is cached), *repeated*: the same token every time (the cache of verified "
           "tokens answers; the session is still checked by the statement).",
           "",
           "| route | " + " | ".join(label for _, label in configs) + " |",
           "|---|" + "---|" * len(configs)]
    for op, label in ROUTES:
        cells = [per_request(op, config) for config, _ in configs]
        if not any(cells):
            continue
        out.append(f"| {label} | " + " | ".join("–" if c is None else f"{c:,.0f}" for c in cells) + " |")
    ratios = []
    for kind, label in TOKEN_KINDS[::2]:
        pairs = [(per_request(op, f"{kind}-repeated"), per_request(op, "hs256-repeated")) for op, _ in ROUTES
                 if op not in ("health", "register", "login")]
        pairs = [(a, b) for a, b in pairs if a and b]
        if pairs:
            worst = max(a / b for a, b in pairs)
            ratios.append(f"repeated {label} / repeated HS256: at most {worst:.3f}× over the token routes "
                          f"(target ≤ 1.1×: {'met' if worst <= 1.1 else '**missed**'})")
    if ratios:
        out += [""] + [f"- {r}" for r in ratios]
    return "\n".join(out) + "\n"


def annotate(work, op, dump):
    """callgrind_annotate's per-function totals of one route's dump: self, then inclusive. The
    dump's `summary:` line is dropped first: after the first dump callgrind writes there the
    difference of running totals, not this dump's (its `totals:` line, the sum of its costs, is
    right), and callgrind_annotate would take percentages of it."""
    path = os.path.join(work, f"profile-{op}.txt")
    fixed = os.path.join(work, f"{dump}.annotated")
    with open(os.path.join(work, dump)) as source, open(fixed, "w") as target:
        target.writelines(line for line in source if not line.startswith("summary:"))
    with open(path, "w") as out:
        for inclusive in ("no", "yes"):
            text = subprocess.run(["callgrind_annotate", f"--inclusive={inclusive}", "--threshold=99.5", fixed],
                                  capture_output=True, text=True, check=True).stdout
            out.write(text)
    return path


def instructions_main(args):
    work = args.instructions
    records = instruction_records(work)
    version = lambda *command: subprocess.run(command, capture_output=True, text=True).stdout.strip()
    records.append({"kind": "instructions_meta", "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
                    "valgrind": version("valgrind", "--version"),
                    "rustc": " ".join(version("rustc", "--version").split()[:2])})
    with open(os.path.join(work, "instructions.jsonl"), "w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    text = instructions_table(records)
    print(text)
    for op in filter(None, (args.profile or "").split(",")):
        record = next((r for r in records if r.get("op") == op and r["kind"] == "instructions"
                       and r.get("config") == "eddsa-repeated"), None)
        if record:
            path = annotate(work, op, record["dump"])
            print(f"per-function totals of {op}: {path}", file=sys.stderr)
    if args.readme:
        readme = open(args.readme).read()
        readme = write_between(readme, "instructions", text)
        open(args.readme, "w").write(readme)
        print(f"(written into {args.readme})", file=sys.stderr)


def write_between(readme, marker, text):
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)", re.S)
    if not pattern.search(readme):
        sys.exit(f"the target file has no <!-- {marker}:start --> ... <!-- {marker}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + text + m.group(2), readme, count=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work")
    parser.add_argument("--meta")
    parser.add_argument("--readme", metavar="FILE", help="write the figures between the markers of FILE (docs/performance.md)")
    parser.add_argument("--instructions", metavar="DIR", help="only the instructions per request, from DIR")
    parser.add_argument("--profile", help="with --instructions: routes to annotate (comma-separated)")
    args = parser.parse_args()
    if args.instructions:
        return instructions_main(args)
    if not (args.work and args.meta):
        parser.error("--work and --meta are required (or --instructions DIR)")
    records = load(args.work) + load(os.path.join(args.work, "instructions"))
    meta = json.load(open(args.meta))
    text = report(records, meta)
    costs = cost_table(records)
    print(text)
    print(costs)
    if args.readme:
        readme = open(args.readme).read()
        readme = write_between(readme, "bench", text)
        readme = write_between(readme, "cost", costs)
        open(args.readme, "w").write(readme)
        print(f"(written into {args.readme})", file=sys.stderr)


if __name__ == "__main__":
    main()
