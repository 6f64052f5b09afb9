#!/usr/bin/env python3
"""Cold start of a function binary: process spawn to first answered invocation.

Plays the Lambda Runtime API (the two endpoints a function uses) on 127.0.0.1, spawns the binary
with AWS_LAMBDA_RUNTIME_API pointing at it, hands it one API Gateway HTTP API event and times the
moment its response arrives. Repeats N times and prints min / median / max in milliseconds.

    scripts/coldstart.py target/release/health --event functions/health/tests/fixtures/events/http-api-v2-get-health.json -n 20

The function reads its configuration from the environment as usual (DATABASE_URL, JWT_SECRET...);
set DB_WARMUP=false to measure without the init-time database connection.
"""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import threading
import time


def measure(binary: str, event: bytes, env: dict) -> tuple[float, int]:
    answered = threading.Event()
    result = {}

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        served = False

        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            if self.path.endswith("/invocation/next") and not RuntimeApi.served:
                RuntimeApi.served = True
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "coldstart-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(event)))
                self.end_headers()
                self.wfile.write(event)
            else:
                # A second /next waits until we stop the process.
                answered.wait(10)
                self.send_response(500)
                self.end_headers()

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length) if length else b""
            result["at"] = time.perf_counter()
            try:
                result["status"] = json.loads(body).get("statusCode", 0)
            except ValueError:
                result["status"] = -1
            self.send_response(202)
            self.end_headers()
            answered.set()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    child_env = dict(env)
    child_env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
    child_env.setdefault("AWS_LAMBDA_FUNCTION_NAME", "bench")
    child_env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    child_env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not answered.wait(15):
            raise SystemExit(f"{binary} gave no answer within 15 s")
    finally:
        process.kill()
        process.wait()
        server.shutdown()
    return (result["at"] - started) * 1000, result["status"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--event", required=True, help="API Gateway event JSON file")
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    event = open(args.event, "rb").read()
    runs = [measure(args.binary, event, os.environ) for _ in range(args.n)]
    times = sorted(ms for ms, _ in runs)
    statuses = sorted({status for _, status in runs})
    print(f"{os.path.basename(args.binary)}: n={len(times)} min={times[0]:.1f} ms "
          f"median={statistics.median(times):.1f} ms max={times[-1]:.1f} ms statuses={statuses}")


if __name__ == "__main__":
    main()
