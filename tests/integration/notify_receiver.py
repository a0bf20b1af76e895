"""A receiver of notification callbacks for the tests: a loopback web server
started by the test and stopped by it, recording every POST it gets.

Paths choose how it answers: /ok/... 200; /flaky/... 500 to the first
request of each notification and 200 to the next ones; /hang/... holds the
request until the receiver is closed (then 200); /stall/... holds the first
request of each notification until release is set, and answers the next
ones 200 at once; /fail/... always 500. gc_body() is a quick task's body."""
import http.server
import json
import threading
import time


class Receiver:
    def __init__(self, host="127.0.0.1"):
        self.calls = []                     # [path, headers (lower-case names), body, arrival, answer (None: held)]
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.seen = set()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(data)
                call = [self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic(), None]
                with rec.lock:
                    rec.calls.append(call)
                status = rec.answer(self.path, body)
                with rec.lock:
                    call[4] = status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://%s:%d" % (host, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path, body):
        if path.startswith("/flaky"):
            key = (path, body["notification_id"])
            with self.lock:
                first = key not in self.seen
                self.seen.add(key)
            return 500 if first else 200
        if path.startswith("/fail"):
            return 500
        if path.startswith("/hang"):
            self.release.wait(120)
        if path.startswith("/stall"):
            key = (path, body["notification_id"])
            with self.lock:
                first = key not in self.seen
                self.seen.add(key)
            if first:
                self.release.wait(120)
        return 200

    def bodies(self, path, status=None):
        """Bodies POSTed to path, in arrival order (only those answered status, when given)."""
        with self.lock:
            return [c[2] for c in self.calls if c[0] == path and (status is None or c[4] == status)]

    def headers(self, path):
        with self.lock:
            return [c[1] for c in self.calls if c[0] == path]

    def wait_for(self, path, count, timeout=30, status=None):
        """The bodies of path once at least count arrived (fails after timeout seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.bodies(path, status)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError("%s: %d callbacks after %d s, expected %d: %r"
                             % (path, len(self.bodies(path, status)), timeout, count, self.bodies(path)))

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def gc_body(account_id, policy=None):
    """A gc task body that finds nothing to delete (a quick task: plan, one subtask, collect),
    with policy as its notification_policy when given."""
    body = {"account_id": account_id,
            "content": {"target": "events", "filters": {"account_id": account_id}}}
    if policy is not None:
        body["notification_policy"] = policy
    return body
