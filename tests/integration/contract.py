"""The independent contract check: Stoplight Prism's validating proxy
(`prism proxy`, installed from npm into tests/contract/ by `./dev deps`) between
the tests and the stack. With LUNA_PRISM=1 the test session starts it on a free
loopback port in front of nginx and sends every request through it.

Prism runs without --errors: with it, Prism answers requests it finds invalid
itself (422) and the API's answers to them — the 400s the hostile-input tests
are about — would never be checked. Without it, Prism forwards everything and
lists what it found in an `sl-violations` header. Violations located in the
request are the tests' doing (bad input on purpose) and are ignored; every
violation located in the response fails the test that got it, unless it is one
of PRISM_EXCEPTIONS below, where Prism is wrong about the contract.

At the end of the session every operation of the contract must have been
called at least once through the proxy (OPERATIONS), so a subset of tests that
stops covering one is noticed.
"""

import json
import os
import re
import subprocess
import time

from luna import ROOT, free_port

PRISM = os.path.join(ROOT, "tests", "contract", "node_modules", ".bin", "prism")
SPEC = os.path.join(ROOT, "docs", "luna-tasks.yaml")

# Where Prism is wrong about docs/luna-tasks.yaml: (operationId, status,
# location prefix, message pattern, reason). A response violation matching one
# of these is not counted.
PRISM_EXCEPTIONS = [
    ("getTaskResult", 200, ("response", "body"), r"must match exactly one schema in oneOf",
     "The application/zip result is `oneOf: [report_task_result, export_task_result]`, two schemas that "
     "are both `type: string, format: binary`: every zip matches both, so a validator that applies oneOf to "
     "the body rejects every valid answer. The contract means \"one of these two kinds of archive\"."),
]


def _operations():
    """{(METHOD, path template): operationId} of the spec (read without a YAML library)."""
    ops, path, method = {}, None, None
    in_paths = False
    with open(SPEC) as f:
        for line in f:
            if line.startswith("paths:"):
                in_paths = True
                continue
            if in_paths and re.match(r"^\S", line):
                break
            m = re.match(r"^  (/\S*):\s*$", line)
            if in_paths and m:
                path = m.group(1)
                continue
            m = re.match(r"^    (get|put|post|patch|delete):\s*$", line)
            if in_paths and m:
                method = m.group(1).upper()
                continue
            m = re.match(r"^      operationId:\s*(\S+)", line)
            if in_paths and m and path and method:
                ops[(method, path)] = m.group(1)
    return ops


OPERATIONS = _operations()


def _template_regex(path):
    # Literal segments win over {id} ones, as in the API's route table.
    return re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[0-9]+", re.escape(path)) + "/?$")


_MATCHERS = sorted(((m, p, _template_regex(p), op) for (m, p), op in OPERATIONS.items()),
                   key=lambda t: "{" in t[1])


def operation_of(method, path):
    """operationId of a request, or None when it is not an operation of the contract."""
    path = path.split("?")[0]
    for m, _, rx, op in _MATCHERS:
        if m == method and rx.match(path):
            return op
    return None


def _excepted(op, status, v):
    loc = tuple(v.get("location") or ())
    for e_op, e_status, e_loc, e_msg, _ in PRISM_EXCEPTIONS:
        if e_op == op and e_status == status and loc[:len(e_loc)] == e_loc and re.search(e_msg, v.get("message", "")):
            return True
    return False


class PrismProxy:
    """prism proxy on a free loopback port in front of `upstream`; stopped by pid."""

    def __init__(self, upstream, log_path):
        if not os.access(PRISM, os.X_OK):
            raise RuntimeError("%s is missing: run ./dev deps (it installs tests/contract/ from npm)" % PRISM)
        self.port = free_port()
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [PRISM, "proxy", SPEC, upstream, "--host", "127.0.0.1", "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
            env=dict(os.environ, SCARF_ANALYTICS="false", DO_NOT_TRACK="1"))
        self.violations = []        # texts of response violations not yet claimed by a test
        self.seen = set()           # operationIds called through the proxy
        self._wait_ready()

    def _wait_ready(self):
        import socket
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prism exited with %s (log: %s)" % (self.proc.returncode, self.log_path))
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("prism did not listen within 60 s (log: %s)" % self.log_path)

    def check(self, resp):
        """Stack.answer_checker: records the response violations Prism reported."""
        op = operation_of(resp.method, resp.path)
        if op:
            self.seen.add(op)
        raw = resp.headers.get("sl-violations")
        if not raw:
            return
        for v in json.loads(raw):
            loc = v.get("location") or []
            if not loc or loc[0] != "response" or _excepted(op, resp.status, v):
                continue
            self.violations.append("%s %s -> %d (%s): %s: %s" % (
                resp.method, resp.path[:120], resp.status, op, ".".join(str(x) for x in loc), v.get("message")))

    def take_violations(self):
        v, self.violations = self.violations, []
        return v

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
