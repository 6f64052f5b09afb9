#!/usr/bin/env python3
"""argon2id hash and verify with argon2-cffi (the C reference implementation's bindings) at the
parameters the Rust run reported, for scripts/bench.sh. Prints one JSON line."""
import argparse
import json
import statistics
import time
from importlib.metadata import version

import argon2

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--rust", required=True, help="the Rust run's JSON line (file)")
parser.add_argument("-n", type=int, default=10)
args = parser.parse_args()
rust = json.loads(open(args.rust).read().splitlines()[0])
hasher = argon2.PasswordHasher(time_cost=rust["t"], memory_cost=rust["m_kib"], parallelism=rust["p"],
                               hash_len=32, salt_len=16, type=argon2.Type.ID)
password = "bench-password-7c1e9a"
stored = hasher.hash(password)
hash_ms, verify_ms = [], []
for _ in range(args.n):
    t0 = time.perf_counter()
    hasher.hash(password)
    hash_ms.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    hasher.verify(stored, password)
    verify_ms.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"kind": "argon2", "impl": "c", "n": args.n, "m_kib": rust["m_kib"], "t": rust["t"],
                  "p": rust["p"], "hash_ms": statistics.median(hash_ms), "verify_ms": statistics.median(verify_ms),
                  "phc_prefix": stored.rsplit("$", 2)[0],
                  "package": f"argon2-cffi {version('argon2-cffi')}, argon2-cffi-bindings {version('argon2-cffi-bindings')}"}))
