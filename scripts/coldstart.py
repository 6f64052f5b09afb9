#!/usr/bin/env python3
"""Cold start of a function binary: process spawn to first answered invocation.

Plays the Lambda Runtime API (the two endpoints a function uses) on 127.0.0.1, spawns the binary
with AWS_LAMBDA_RUNTIME_API pointing at it, hands it one API Gateway HTTP API event and times the
moment its response arrives. Repeats N times and prints min / median / max in milliseconds.

    scripts/coldstart.py target/release/health --event functions/health/tests/fixtures/events/http-api-v2-get-health.json -n 20

The function reads its configuration from the environment as usual (DATABASE_URL, JWT_SECRET...);
set DB_WARMUP=false to measure without the init-time database connection.

With --secrets-manager the configuration comes as it does in AWS: moto (moto_server from .venv)
on 127.0.0.1 plays Secrets Manager, the function gets only the secrets' ARNs, so the SDK (its
config loading, the HTTP client, the signing of requests) is in the measured cold start. Two
figures, each over n spawns: the secrets read one GetSecretValue after another (SECRETS_ONE_BY_ONE=1,
what the functions did before) and in one BatchGetSecretValue. With --eddsa the token of the event
(HS256 with JWT_SECRET) is re-signed with a new Ed25519 key and the functions get the template's
EdDSA configuration: auth reads the database URL, its private keys and the public keys; tasks the
database URL and the public keys; health the database URL. Local round trips are tens of
microseconds; in AWS each Secrets Manager call costs a few milliseconds more (see the README).
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


def summary(label: str, runs: list) -> str:
    times = sorted(ms for ms, _ in runs)
    statuses = sorted({status for _, status in runs})
    return (f"{label}: n={len(times)} min={times[0]:.1f} ms "
            f"median={statistics.median(times):.1f} ms max={times[-1]:.1f} ms statuses={statuses}")


def eddsa_ring():
    """A signing key (PKCS#8 PEM) and its JWKS, the kid being the RFC 7638 thumbprint, as ours."""
    import base64
    import hashlib
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    x = b64(raw)
    kid = b64(hashlib.sha256(f'{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}'.encode()).digest())
    jwks = json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}]})
    return key, pem, kid, jwks


def resign(event: bytes, key, kid: str) -> bytes:
    import jwt  # PyJWT, from .venv
    data = json.loads(event)
    token = data.get("headers", {}).get("authorization", "").removeprefix("Bearer ")
    if token:
        claims = jwt.decode(token, options={"verify_signature": False})
        data["headers"]["authorization"] = "Bearer " + jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})
    return json.dumps(data).encode()


class Relay:
    """A TCP relay in front of moto that sees what the function asks of Secrets Manager: how many
    requests, and the time from the first request's first byte to the last answer's last byte."""

    def __init__(self, upstream_port: int):
        import socket
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.reset()
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        with self.lock:
            self.requests, self.first, self.last = 0, None, None

    def _accept(self):
        import socket
        while True:
            client, _ = self.listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, target, asks):
        try:
            while data := source.recv(65536):
                now = time.perf_counter()
                with self.lock:
                    if asks:
                        self.requests += data.count(b"X-Amz-Target: secretsmanager.") + data.count(b"x-amz-target: secretsmanager.")
                        self.first = self.first or now
                    else:
                        self.last = now
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.close()
                except OSError:
                    pass

    def phase(self):
        with self.lock:
            span = (self.last - self.first) * 1000 if self.first and self.last else 0.0
            return self.requests, span


class Moto:
    def __init__(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        import urllib.request
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("moto_server did not start")
        self.relay = Relay(self.port)
        self.env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.relay.port}", "AWS_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        import boto3
        self.client = boto3.client("secretsmanager", endpoint_url=self.url, region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing")

    def secret(self, name: str, value: str) -> str:
        return self.client.create_secret(Name=name, SecretString=value)["ARN"]

    def stop(self):
        self.process.kill()
        self.process.wait()


def secrets_manager_runs(args, event: bytes):
    function = os.path.basename(args.binary)
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET", "JWT_ALGORITHM")}
    moto = Moto()
    try:
        tag = f"{function}-{os.getpid()}"
        env = dict(base, **moto.env)
        env["DATABASE_URL_SECRET_ARN"] = moto.secret(f"db-{tag}", os.environ["DATABASE_URL"])
        if args.eddsa:
            key, pem, kid, jwks = eddsa_ring()
            event = resign(event, key, kid)
            env["JWT_ALGORITHM"] = "EdDSA"
            public = moto.secret(f"public-{tag}", json.dumps({"JWT_PUBLIC_KEYS": jwks}))
            if function != "health":
                env["JWT_PUBLIC_KEYS_ARN"] = public
            if function == "auth":
                env["JWT_SIGNING_KEY_ARN"] = moto.secret(
                    f"private-{tag}", json.dumps({"JWT_SIGNING_KEY": pem, "JWT_NEXT_SIGNING_KEY": pem}))
        elif function != "health":
            env["JWT_SECRET_ARN"] = moto.secret(f"jwt-{tag}", os.environ["JWT_SECRET"])
        secrets = sum(1 for k in env if k.endswith("_ARN"))
        lines = []
        # Interleaved, so drift of the machine touches both figures alike.
        runs = {"one-by-one": ([], []), "batch": ([], [])}
        for _ in range(args.n):
            for mode, extra in (("one-by-one", {"SECRETS_ONE_BY_ONE": "1"}), ("batch", {})):
                moto.relay.reset()
                runs[mode][0].append(measure(args.binary, event, dict(env, **extra)))
                runs[mode][1].append(moto.relay.phase())
        for mode, (times, phases) in runs.items():
            calls = sorted({n for n, _ in phases})
            spans = sorted(span for _, span in phases)
            lines.append(summary(f"{function} secrets={secrets} {mode}", times)
                         + f" calls={calls} secrets-phase-median={statistics.median(spans):.2f} ms"
                         + f" secrets-phase-min={spans[0]:.2f} ms")
        return lines
    finally:
        moto.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--event", required=True, help="API Gateway event JSON file")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--secrets-manager", action="store_true",
                        help="configuration from Secrets Manager (moto on 127.0.0.1): one-by-one vs batch")
    parser.add_argument("--eddsa", action="store_true", help="with --secrets-manager: the EdDSA configuration")
    args = parser.parse_args()
    event = open(args.event, "rb").read()
    if args.secrets_manager:
        for line in secrets_manager_runs(args, event):
            print(line)
        return
    runs = [measure(args.binary, event, os.environ) for _ in range(args.n)]
    print(summary(os.path.basename(args.binary), runs))


if __name__ == "__main__":
    main()
