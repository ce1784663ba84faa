"""Init time, peak RSS and bootstrap sizes of the card functions; run through scripts/measure-init.

A function binary is started the way Lambda starts it: AWS_LAMBDA_RUNTIME_API points at a tiny
loopback Runtime API (below) and AWS_ENDPOINT_URL at moto_server (from ./.venv), so nothing leaves
the machine. Init is the time from spawn to the runtime's first GET .../invocation/next; peak RSS
is VmHWM from /proc after N deliveries (events/<slug>/delivery.json), each answered 200 and
published to moto's EventBridge.
"""

import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLUGS = [
    "user-mfa-factor-deactivated",
    "user-mfa-factor-activated",
    "mfa-preregistration-initiated",
    "user-mfa-factor-reset-all",
    "phone-verification-call-sent",
]
SECRET = "Basic b2t0YTpsb2NhbC1ldmVudHMtdGVzdC1zZWNyZXQ="  # the events/ files' test secret (okta:local-events-test-secret)
BUS = "okta-event-cards"
API = "/2018-06-01/runtime"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    print(f"measure-init: {message}", file=sys.stderr)
    sys.exit(1)


class RuntimeApi(http.server.ThreadingHTTPServer):
    """The Lambda Runtime API, reduced to what one function instance asks for."""

    daemon_threads = True

    def __init__(self, event, deliveries):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event = event
        self.deliveries = deliveries
        self.served = 0
        self.first_poll = None  # perf_counter() of the first GET .../invocation/next
        self.ready = threading.Event()  # the first poll arrived
        self.done = threading.Event()  # every delivery answered and the next poll arrived
        self.errors = []
        self.pid = None
        self.hwm_at_init = None
        self.lock = threading.Lock()

    def stop(self):
        self.shutdown()
        self.server_close()


def vm(pid, key):
    """A VmXXX line of /proc/<pid>/status, in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"{}", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        api = self.server
        if self.path != f"{API}/invocation/next":
            return self.reply(404)
        with api.lock:
            if api.first_poll is None:
                api.first_poll = time.perf_counter()
                api.hwm_at_init = vm(api.pid, "VmHWM")
                api.ready.set()
            if api.served >= api.deliveries:
                api.done.set()
                # Hold the poll open, as Lambda does between invocations; the process is killed.
                time.sleep(3600)
            api.served += 1
        request_id = str(uuid.uuid4())
        self.reply(
            200,
            api.event,
            [
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000)),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:measure",
                ),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
            ],
        )

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/response"):
            status = json.loads(body).get("statusCode")
            if status != 200:
                self.server.errors.append(f"a delivery was answered {status}: {body[:300]!r}")
        else:
            self.server.errors.append(f"{self.path}: {body[:300]!r}")
            self.server.ready.set()
            self.server.done.set()
        self.reply(202)


def function_env(runtime_port, endpoint, home):
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,  # no ~/.aws here, as on Lambda
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime_port}",
        "AWS_LAMBDA_FUNCTION_NAME": "measure",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/measure",
        "AWS_LAMBDA_LOG_STREAM_NAME": "measure",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "EVENT_BUS_NAME": BUS,
        "OKTA_HOOK_SECRET": SECRET,
    }


def run_once(binary, event, deliveries, endpoint, home):
    """Starts the function; returns (init seconds, VmHWM kB at first poll, VmHWM kB at the end)."""
    api = RuntimeApi(event, deliveries)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = function_env(api.server_address[1], endpoint, home)
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    api.pid = proc.pid
    try:
        if not api.ready.wait(30):
            fail(f"{binary} did not poll for an event within 30 s")
        if deliveries and not api.done.wait(30 + deliveries * 0.1):
            fail(f"{binary} answered {api.served - 1} of {deliveries} deliveries in time")
        if api.errors:
            fail("; ".join(api.errors[:3]))
        hwm = vm(proc.pid, "VmHWM")
        return api.first_poll - start, api.hwm_at_init, hwm
    finally:
        proc.kill()
        _, stderr = proc.communicate()
        if api.errors and stderr:
            print(stderr.decode(errors="replace")[-2000:], file=sys.stderr)
        api.stop()


def start_moto():
    moto = ROOT / ".venv/bin/moto_server"
    if not moto.is_file():
        fail(f"{moto} is missing: run ./scripts/venv")
    port = free_port()
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            call(endpoint, "CreateEventBus", {"Name": BUS})
            return proc, endpoint
        except OSError:
            if proc.poll() is not None:
                fail("moto_server exited at start")
            time.sleep(0.05)
    proc.kill()
    fail("moto_server did not answer within 10 s")


def call(endpoint, action, payload):
    request = urllib.request.Request(
        endpoint + "/",
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AWSEvents.{action}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/events/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(request, timeout=2) as response:
        return json.load(response)


def stats(values):
    return f"median {statistics.median(values):.1f}, min {min(values):.1f}, max {max(values):.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slug", default="user-mfa-factor-activated")
    parser.add_argument("--binary", help="default: target/release/<slug>")
    parser.add_argument("--runs", type=int, default=20, help="cold starts timed per endpoint mode")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--lambda-dir", default=str(ROOT / "target/lambda"))
    args = parser.parse_args()

    binary = args.binary or str(ROOT / "target/release" / args.slug)
    if not os.access(binary, os.X_OK):
        fail(f"{binary} not found: build it with cargo build --release -p {args.slug}")
    event = (ROOT / "events" / args.slug / "delivery.json").read_bytes()

    moto, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory() as home:
            refused = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
            print(f"Function init ({binary}, {args.runs} cold starts each):")
            for label, url in [("AWS endpoint reachable (moto)", endpoint), ("AWS endpoint refused", refused)]:
                inits, hwms = [], []
                for _ in range(args.runs):
                    init, hwm, _ = run_once(binary, event, 0, url, home)
                    inits.append(init * 1000)
                    hwms.append(hwm / 1024)
                print(f"  {label:<31} spawn to first poll ms: {stats(inits)}; VmHWM MB at first poll: {stats(hwms)}")
            _, init_hwm, hwm = run_once(binary, event, args.deliveries, endpoint, home)
            print(
                f"Peak RSS (VmHWM) after {args.deliveries} deliveries of events/{args.slug}/delivery.json, "
                f"each answered 200 and published to moto: {hwm / 1024:.1f} MB (at first poll {init_hwm / 1024:.1f} MB)"
            )
    finally:
        moto.kill()
        moto.wait()

    bootstraps = [p for p in (Path(args.lambda_dir) / slug / "bootstrap" for slug in SLUGS) if p.is_file()]
    if not bootstraps:
        print(f"Bootstrap sizes: none in {args.lambda_dir} (build with: cargo lambda build --release --arm64)")
        return
    print("Bootstrap sizes (zipped as Lambda takes them, deflate level 9):")
    for bootstrap in bootstraps:
        with tempfile.TemporaryDirectory() as tmp:
            zipped = Path(tmp) / "bootstrap.zip"
            with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
                z.write(bootstrap, "bootstrap")
            arch = subprocess.run(["file", "-b", str(bootstrap)], capture_output=True, text=True).stdout
            arch = "arm64" if "aarch64" in arch else ("x86_64" if "x86-64" in arch else "?")
            print(
                f"  {bootstrap.parent.name:<31} {arch:<7} {bootstrap.stat().st_size / 1e6:5.2f} MB, "
                f"zipped {zipped.stat().st_size / 1e6:5.2f} MB"
            )


if __name__ == "__main__":
    main()
