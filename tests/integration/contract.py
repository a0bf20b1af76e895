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

# Where Prism is wrong about docs/luna-tasks.yaml, or where the contract
# contradicts itself so that no answer can satisfy it. Each entry: the
# operations it concerns (None: requests that are no operation of the
# contract), a test on the answer, and the reason. Prism reports a failed
# oneOf with the failures of every branch, so an entry excuses every response
# violation of an answer it applies to.
PRISM_EXCEPTIONS = [
    ({"getTaskResult"}, lambda r: r.content_type == "application/zip",
     "The zip result is `oneOf: [report_task_result, export_task_result]`, two schemas that are both "
     "`type: string, format: binary`: every zip matches both, so a validator that applies oneOf to the body "
     "rejects every valid answer. The contract means \"one of these two kinds of archive\"."),
    ({"getTask", "getTasks"}, lambda r: b'"source_type":"ftp"' in r.body,
     "The reply form of an estimator task's ftp source (estimator_ftp_server_data_required) requires the "
     "properties 'source' and 'type', which no ftp source has: the request schema does not define them and "
     "refuses them as unknown. (The API's self-check knows the same defect, src/api/contract.c.)"),
    ({"getTask", "getTasks"}, lambda r: re.search(rb'"handler":\{"handler_id":"[^"]*","policies":', r.body),
     "An estimator handler given as handler_id with policies matches both existing_handler_task_estimator "
     "and new_handler_task_estimator (neither forbids additional properties), so a plain oneOf fails; the "
     "contract means the branch that describes every property, as the API's schema engine reads it (strict "
     "mode), for requests and for its self-check."),
    (None, lambda r: True,
     "A request that is no operation of the contract (e.g. GET /2/tasks/gc: the literal path /2/tasks/gc has "
     "POST only, and OpenAPI matches literal paths before templated ones) is matched by Prism to a templated "
     "path such as /2/tasks/{task_id}, whose declared statuses then do not fit the 404/405 it gets."),
]

# Tests whose requests or answers Prism cannot carry unchanged are marked
# @pytest.mark.direct(reason): with LUNA_PRISM they talk to nginx directly (the
# API's self-check still checks every answer). What Prism does to them:
# - it parses JSON request bodies itself and answers invalid ones with its own
#   error, or forwards them re-encoded (invalid UTF-8 becomes U+FFFD), so the
#   hostile-body tests never reach the API as sent;
# - it decodes binary answers as UTF-8 text, so a zip arrives altered;
# - it replaces an upstream 501 with a mocked answer ("Remocking the call");
# - it refuses long request lines, large headers and bodies over 1 MB itself.
# Any answer that did not come from the API (no Luna-Request-Id) is a failure.


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


def _excused(op, resp):
    for ops, applies, _ in PRISM_EXCEPTIONS:
        if (op in ops if ops is not None else op is None) and applies(resp):
            return True
    return False


def _violations(raw):
    """The list in an sl-violations header ("Too many violations! [...]" included)."""
    try:
        return json.loads(raw[raw.index("["):])
    except ValueError:
        return [{"location": ["response"], "message": "unreadable sl-violations header: " + raw[:300]}]


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
        where = "%s %s -> %d (%s)" % (resp.method, resp.path[:120], resp.status, op)
        if "luna-request-id" not in resp.headers:
            self.violations.append("%s: the answer is Prism's own, the request was not forwarded: %s"
                                   % (where, resp.body[:200]))
            return
        raw = resp.headers.get("sl-violations")
        if not raw or _excused(op, resp):
            return
        for v in _violations(raw):
            loc = v.get("location") or []
            if loc and loc[0] == "response":
                self.violations.append("%s: %s: %s" % (where, ".".join(str(x) for x in loc), v.get("message")))

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
