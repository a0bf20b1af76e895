"""Harness of the integration tests: one private luna-tasks stack (MariaDB, the
api pool behind nginx, a scheduler) started through `./dev stack-start` in a
temporary folder, and small helpers to talk to it.

    stack.url                        "http://127.0.0.1:PORT"
    stack.dir, stack.conf, stack.build
    stack.get(path, params=None, headers=None) -> Resp
    stack.post / patch / delete(path, json=None, body=None, headers=None, params=None)
    stack.admin(*args, check=True) -> subprocess.CompletedProcess
    stack.sql(query, params=(), db="luna_tasks") -> [tuple of str or None]
    stack.start_scheduler(name="s1", config=None) -> pid
    stack.stop_scheduler(name="s1"); stack.kill_scheduler(name="s1")
    stack.stop_db(); stack.start_db(); stack.restart_api()
    stack.wait_task(task_id, statuses=(2, 3, 5), timeout=60) -> task json
    stack.write_config({(section, key): value}) -> path of a new config file

Also: stack.request(method, path, ...), stack.api_pids(), stack.scheduler_pid(name),
stack.scheduler_names(), stack.config_value(section, key), stack.max_task_id(),
stack.insert_task / insert_subtask / insert_error (rows as a scheduler writes them),
stack.put_blob / store_path (the local result store), stack.handlers (FakeService
behind [HANDLERS] URL), stack.netdisk (the allowed network-disk root); request
bodies: task_body(name, account_id), estimator_bodies(account_id); assertions:
assert_json(resp, status), assert_error(resp, status, code, detail=...).
stack.sql rows hold strings (None for NULL), as the mariadb client prints them.

Only the standard library is used.
"""

import http.client
import http.server
import itertools
import json as jsonlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEV = os.path.join(ROOT, "dev")

ERROR_LINK = "https://docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-"
REQUEST_ID_RE = re.compile(
    r"^[0-9]{10},[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
# Secrets the test stack's configuration holds (conftest.py).
SECRETS = {"db_password": "it-db-secret-4417", "s3_secret_key": "it-s3-secret-9931"}
# RFC 3339 with microseconds and an offset, as the service renders times.
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")


class Resp:
    """An HTTP answer: status, headers (lower-case names), body bytes."""

    def __init__(self, method, path, status, headers, body):
        self.method = method
        self.path = path
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return jsonlib.loads(self.body.decode("utf-8"))

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def __repr__(self):
        body = self.body[:600].decode("utf-8", "replace")
        return "<%s %s -> %s %r %s>" % (self.method, self.path, self.status,
                                        self.headers.get("content-type"), body)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sql_literal(v):
    """A value as a MariaDB literal (strings escaped, None as NULL)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (dict, list)):
        v = jsonlib.dumps(v)
    if isinstance(v, bytes):
        return "X'%s'" % v.hex()
    s = str(v)
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\0":
            out.append("\\0")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\x1a":
            out.append("\\Z")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def format_sql(query, params):
    """Replaces each %s of query with the next parameter, quoted."""
    params = list(params or ())
    parts = query.split("%s")
    if len(parts) - 1 != len(params):
        raise ValueError("query has %d placeholders, %d parameters given" % (len(parts) - 1, len(params)))
    out = [parts[0]]
    for p, rest in zip(params, parts[1:]):
        out.append(sql_literal(p))
        out.append(rest)
    return "".join(out)


def _unescape_batch(field):
    if field == "NULL":
        return None
    if "\\" not in field:
        return field
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}.get(m.group(1), m.group(1)),
                  field)


def read_ini(path):
    """[(section, key, value)] of an INI file, in order."""
    items, section = [], None
    with open(path) as f:
        for line in f:
            s = line.strip()
            if not s or s[0] in "#;":
                continue
            if s.startswith("[") and s.endswith("]"):
                section = s[1:-1]
                continue
            if "=" in s and section:
                k, v = s.split("=", 1)
                items.append((section, k.strip(), v.strip()))
    return items


class FakeService:
    """A loopback HTTP service answering from a table, recording what it was asked.

    routes: {(METHOD, path): (status, json_or_bytes)}; GET /healthcheck answers 200,
    anything else 404 unless a route or `default` says otherwise. holds:
    {(METHOD, path): threading.Event}: such a request is recorded at once and
    answered once the event is set (at most a minute later)."""

    def __init__(self):
        self.routes = {}
        self.holds = {}
        self.default = None
        self.requests = []
        svc = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path = self.path.split("?")[0]
                svc.requests.append((self.command, self.path, dict(self.headers), body))
                method = "GET" if self.command == "HEAD" else self.command
                gate = svc.holds.get((method, path))
                if gate:
                    gate.wait(60)
                status, payload = svc.routes.get((method, path)) or (
                    (200, {}) if path == "/healthcheck" else svc.default or (404, {"error": "not found"}))
                data = payload if isinstance(payload, bytes) else jsonlib.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Stack:
    def __init__(self, build=None, dir=None, port=None, keep=None, overrides=None):
        self.build = os.path.abspath(build or default_build())
        self.port = port or free_port()
        self.overrides = dict(overrides or {})
        self.dir = dir or tempfile.mkdtemp(prefix="luna-it-", dir="/tmp")
        self.url = "http://127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.dir, "luna-tasks.conf")
        self.keep = os.environ.get("LUNA_KEEP") == "1" if keep is None else keep
        self.timeout = float(os.environ.get("LUNA_HTTP_TIMEOUT", "30"))
        # Where requests go: nginx, or a validating proxy in front of it
        # (contract.py); with a proxy, what it reports about each answer.
        self.http_port = self.port
        self.answer_checker = None
        self._conf_seq = itertools.count(1)
        self.started = False

    # -- life cycle -------------------------------------------------------

    def _dev(self, *args, timeout=180, check=True):
        p = subprocess.run([DEV, *args], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("./dev %s failed (%d):\n%s" % (" ".join(args), p.returncode, p.stdout))
        return p

    def start(self):
        sets = ["%s.%s=%s" % (sec, key, val) for (sec, key), val in self.overrides.items()]
        self._dev("stack-start", self.dir, str(self.port), self.build, *sets, timeout=300)
        self.started = True
        return self

    def stop(self):
        if os.path.isdir(self.dir):
            self._dev("stack-stop", self.dir, timeout=300, check=False)
        self.started = False

    def cleanup(self, failed=False):
        """Stops the stack; removes its folder unless LUNA_KEEP=1."""
        self.stop()
        if self.keep:
            print("\nluna-tasks stack kept in %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def contract_violations(self, since=0):
        """The api log's "contract violation" lines (the [API] RESPONSE_SELF_CHECK
        of every answer) from byte offset since, and the log's current size."""
        path = os.path.join(self.dir, "api.log")
        try:
            with open(path, "rb") as f:
                f.seek(since)
                data = f.read()
        except OSError:
            return [], since
        lines = [l for l in data.decode("utf-8", "replace").split("\n") if "contract violation" in l]
        return lines, since + len(data)

    def log_tail(self, lines=40):
        out = []
        for name in ("api.log", "scheduler.log", "nginx-error.log", "mysql.err"):
            p = os.path.join(self.dir, name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    tail = f.readlines()[-lines:]
                out.append("==> %s <==\n%s" % (p, "".join(tail)))
        return "\n".join(out)

    def sanitizer_reports(self):
        """Texts of the ASan/UBSan reports the stack's processes wrote."""
        reports = []
        for name in sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else []:
            if name.startswith(("asan.", "ubsan.")):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    reports.append("==> %s <==\n%s" % (name, f.read()))
        return reports

    # -- HTTP -------------------------------------------------------------

    def request(self, method, path, params=None, json=None, body=None, headers=None, timeout=None):
        hdrs = {}
        if json is not None:
            body = jsonlib.dumps(json)
            hdrs["Content-Type"] = "application/json"
        if isinstance(body, str):
            body = body.encode("utf-8")
        for k, v in (headers or {}).items():
            for existing in list(hdrs):
                if existing.lower() == k.lower():
                    del hdrs[existing]
            if v is not None:
                hdrs[k] = v
        if params:
            q = urllib.parse.urlencode(params, doseq=True)
            path = path + ("&" if "?" in path else "?") + q
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout or self.timeout)
        try:
            try:
                conn.request(method, path, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (413) and close before the whole body is sent.
                pass
            r = conn.getresponse()
            data = r.read()
            h = {}
            for k, v in r.getheaders():
                k = k.lower()
                h[k] = h[k] + ", " + v if k in h else v
            resp = Resp(method, path, r.status, h, data)
            if self.answer_checker:
                self.answer_checker(resp)
            return resp
        finally:
            conn.close()

    def get(self, path, params=None, headers=None, **kw):
        return self.request("GET", path, params=params, headers=headers, **kw)

    def post(self, path, json=None, body=None, headers=None, **kw):
        return self.request("POST", path, json=json, body=body, headers=headers, **kw)

    def put(self, path, json=None, body=None, headers=None, **kw):
        return self.request("PUT", path, json=json, body=body, headers=headers, **kw)

    def patch(self, path, json=None, body=None, headers=None, **kw):
        return self.request("PATCH", path, json=json, body=body, headers=headers, **kw)

    def delete(self, path, json=None, body=None, headers=None, **kw):
        return self.request("DELETE", path, json=json, body=body, headers=headers, **kw)

    # -- tools ------------------------------------------------------------

    def admin(self, *args, check=True, config=None, timeout=300):
        cmd = [os.path.join(self.build, "luna-tasks-admin"), "-c", config or self.conf,
               "--sql-dir", os.path.join(ROOT, "sql"), *[str(a) for a in args]]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d)\nstdout: %s\nstderr: %s"
                                 % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        return p

    def sql(self, query, params=(), db="luna_tasks"):
        """Runs query (with %s placeholders) as root on the private server; the rows
        of the last result set as tuples of strings (None for NULL)."""
        text = format_sql(query, params)
        cmd = ["mariadb", "--no-defaults", "-uroot", "--socket=" + os.path.join(self.dir, "mysql.sock"),
               "--batch", "--skip-column-names", "--default-character-set=utf8mb4"]
        if db:
            cmd.append(db)
        p = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("SQL failed: %s\n%s" % (text[:500], p.stderr))
        rows = []
        for line in p.stdout.split("\n"):
            if line == "":
                continue
            rows.append(tuple(_unescape_batch(f) for f in line.split("\t")))
        return rows

    def start_scheduler(self, name="s1", config=None):
        args = ["stack-scheduler", self.dir, "start", name]
        if config:
            args.append(config)
        out = self._dev(*args).stdout.strip().split()
        return int(out[-1])

    def stop_scheduler(self, name="s1"):
        self._dev("stack-scheduler", self.dir, "stop", name)

    def kill_scheduler(self, name="s1"):
        self._dev("stack-scheduler", self.dir, "kill", name)

    def scheduler_names(self):
        """Names of the schedulers started through this harness that are still running."""
        names = []
        for f in sorted(os.listdir(self.dir)):
            if f == "scheduler.pid":
                name = "s1"
            elif f.startswith("scheduler-") and f.endswith(".pid"):
                name = f[len("scheduler-"):-len(".pid")]
            else:
                continue
            pid = self.scheduler_pid(name)
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as c:
                    if b"luna-tasks-scheduler" in c.read():
                        names.append(name)
            except (OSError, TypeError):
                pass
        return names

    def scheduler_pid(self, name="s1"):
        p = os.path.join(self.dir, "scheduler.pid" if name == "s1" else "scheduler-%s.pid" % name)
        try:
            with open(p) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop_db(self):
        self._dev("stack-db-stop", self.dir, timeout=120)

    def start_db(self):
        self._dev("stack-db-start", self.dir, timeout=120)

    def restart_api(self):
        self._dev("stack-api-restart", self.dir)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.get("/version", timeout=5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the api pool did not come back")

    def api_pids(self):
        with open(os.path.join(self.dir, "api.pid")) as f:
            return [int(x) for x in f.read().split()]

    def wait_task(self, task_id, statuses=(2, 3, 5), timeout=60, account_id=None):
        deadline = time.time() + timeout
        last = None
        params = {"account_id": account_id} if account_id else None
        while time.time() < deadline:
            r = self.get("/2/tasks/%s" % task_id, params=params)
            if r.status == 200:
                last = r.json()
                if last.get("task_status") in statuses:
                    return last
            else:
                last = r
            time.sleep(0.2)
        raise AssertionError("task %s did not reach a status in %s within %ss; last: %r"
                             % (task_id, statuses, timeout, last))

    # -- rows made directly in the tasks database ---------------------------

    def max_task_id(self):
        return int(self.sql("SELECT COALESCE(MAX(task_id), 0) FROM task")[0][0])

    def insert_task(self, task_type=2, status=0, account_id=None, content=None, description="",
                    create_time="2021-07-28 01:23:21.537604", end_time=None, result_id=None,
                    parts_done=0, parts_all=1, last_update_time=None):
        """A task row as the scheduler would leave it (times are UTC, 'YYYY-MM-DD hh:mm:ss[.ffffff]');
        returns its id. A non-pending row is marked planned so no scheduler picks it up."""
        if content is None:
            content = sample_content(task_type, account_id)
        if end_time is None and status in (2, 3, 5):
            end_time = create_time
        rows = self.sql(
            "INSERT INTO task (task_type, task_status, account_id, description, content, create_time, "
            "last_update_time, end_time, result_id, count_task_parts_done, count_task_parts_all, planned) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s); SELECT LAST_INSERT_ID()",
            (task_type, status, account_id, description, jsonlib.dumps(content), create_time,
             last_update_time or end_time or create_time, end_time, result_id, parts_done, parts_all,
             0 if status == 0 else 1))
        return int(rows[-1][0])

    def insert_subtask(self, task_id, status=0, content=None, result_id=None,
                       create_time="2021-07-28 01:23:21.537604", end_time=None):
        rows = self.sql(
            "INSERT INTO subtask (task_id, subtask_status, content, result_id, create_time, end_time) "
            "VALUES (%s, %s, %s, %s, %s, %s); SELECT LAST_INSERT_ID()",
            (task_id, status, jsonlib.dumps(content if content is not None else {"part": 1}), result_id,
             create_time, end_time))
        return int(rows[-1][0])

    def insert_error(self, task_id, error_code=28010, subtask_id=None, description="Objects not found",
                     detail="Objects for clustering not found", additional_info=None,
                     error_time="2021-07-28 01:23:21.537604"):
        """An error row; without subtask_id, of a new failed subtask of the task
        (every error names a subtask)."""
        if subtask_id is None:
            subtask_id = self.insert_subtask(task_id, status=3, end_time=error_time)
        rows = self.sql(
            "INSERT INTO task_error (task_id, subtask_id, error_code, description, detail, additional_info, "
            "error_time) VALUES (%s, %s, %s, %s, %s, %s, %s); SELECT LAST_INSERT_ID()",
            (task_id, subtask_id, error_code, description, detail, additional_info, error_time))
        return int(rows[-1][0])

    def store_path(self, blob_id):
        """Where the local result store ([STORAGE] BACKEND = local) keeps a blob."""
        return os.path.join(self.config_value("STORAGE", "PATH"), blob_id)

    def put_blob(self, blob_id, data):
        path = self.store_path(blob_id)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path

    def write_config(self, overrides):
        """A copy of the stack's config with {(section, key): value} applied; its path."""
        with open(self.conf) as f:
            lines = f.read().split("\n")
        pending = dict(overrides)
        out, section = [], None

        def flush(sec):
            for (s, k), v in list(pending.items()):
                if s == sec:
                    out.append("%s = %s" % (k, v))
                    del pending[(s, k)]

        for line in lines:
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                flush(section)
                section = s[1:-1]
                out.append(line)
                continue
            if "=" in s and not s.startswith(("#", ";")) and section is not None:
                k = s.split("=", 1)[0].strip()
                if (section, k) in pending:
                    out.append("%s = %s" % (k, pending.pop((section, k))))
                    continue
            out.append(line)
        flush(section)
        for sec in sorted({s for s, _ in pending}):
            out.append("[%s]" % sec)
            flush(sec)
        path = os.path.join(self.dir, "luna-tasks-%d.conf" % next(self._conf_seq))
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
        return path

    def config_value(self, section, key, default=None):
        for s, k, v in read_ini(self.conf):
            if s == section and k == key:
                return v
        return default


def default_build():
    b = os.environ.get("LUNA_BUILD")
    if b:
        return b if os.path.isabs(b) else os.path.join(ROOT, b)
    for flavour in ("asan", "release"):
        d = os.path.join(ROOT, "build", flavour)
        if os.path.exists(os.path.join(d, "luna-tasks-api")):
            return d
    return os.path.join(ROOT, "build", "release")


# -- assertions shared by the test files ------------------------------------

def assert_error(resp, status, code, detail=None, detail_contains=None):
    """resp is a JSON error {error_code, desc, detail, link} with this status and code."""
    assert resp.status == status, resp
    assert resp.content_type == "application/json", resp
    body = resp.json()
    assert isinstance(body, dict), resp
    assert set(body) >= {"error_code", "desc", "detail", "link"}, body
    assert body["error_code"] == code, resp
    assert isinstance(body["desc"], str) and body["desc"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert body["link"] == ERROR_LINK + str(code), body
    if detail is not None:
        assert body["detail"] == detail, body
    if detail_contains is not None:
        for part in ([detail_contains] if isinstance(detail_contains, str) else detail_contains):
            assert part in body["detail"], body
    assert REQUEST_ID_RE.match(resp.headers.get("luna-request-id", "")), resp.headers
    return body


def assert_json(resp, status=200):
    assert resp.status == status, resp
    assert resp.content_type == "application/json", resp
    assert REQUEST_ID_RE.match(resp.headers.get("luna-request-id", "")), resp.headers
    return resp.json()


# -- request bodies ---------------------------------------------------------

TASK_TYPES = {"linker": 1, "clustering": 2, "reporter": 3, "gc": 4, "additional_extract": 5,
              "cross_match": 6, "roc": 7, "exporter": 8, "estimator": 9}


def _uuid():
    import uuid
    return str(uuid.uuid4())


def sample_content(task_type, account_id=None):
    """A valid `content` of a task type (by id), for rows made with insert_task."""
    name = {v: k for k, v in TASK_TYPES.items()}[task_type]
    if name == "reporter":
        return {"filters": {"task_id": 1}, "csv_delimiter": ",", "save_images": 0}
    return task_body(name, account_id or _uuid())["content"]


def task_body(name, account_id, source_task_id=None, netdisk="/mnt/nfs_volume/pictures"):
    """A valid request body of POST /2/tasks/<name>."""
    a = account_id
    if name == "linker":
        return {"account_id": a, "description": "linker task one",
                "content": {"objects_type": "faces", "filters": {"account_id": a, "user_data": "vip"},
                            "create_list": 1, "user_data": "linked by a test"}}
    if name == "clustering":
        return {"account_id": a, "description": "clustering usefull faces",
                "content": {"objects_type": "faces", "filters": {"account_id": a},
                            "threshold": 0.9, "limit": 500}}
    if name == "reporter":
        return {"account_id": a, "description": "report",
                "content": {"filters": {"task_id": source_task_id, "account_id": a},
                            "columns": ["user_data", "create_time", "external_id"],
                            "csv_delimiter": ";", "save_images": 0}}
    if name == "gc":
        return {"account_id": a, "description": "gc task one",
                "content": {"target": "events", "filters": {"account_id": a,
                                                            "create_time__lt": "2020-01-01T00:00:00.000000+00:00"},
                            "remove_samples": True, "remove_image_origins": False, "store_results": True}}
    if name == "additional_extract":
        return {"account_id": a, "description": "additional extract usefull faces",
                "content": {"extraction_target": "face_descriptor", "options": {"descriptor_version": 59},
                            "filters": {"objects_type": "faces", "account_id": a}}}
    if name == "cross_match":
        return {"account_id": a, "description": "matching famous people with customers",
                "content": {"filters": {"reference_type": "faces", "candidate_type": "faces",
                                        "reference_filters": {"list_id": _uuid()},
                                        "candidate_filters": {"face_ids": [_uuid(), _uuid()]},
                                        "account_id": a},
                            "threshold": 0.5, "limit": 3}}
    if name == "roc":
        return {"account_id": a, "description": "roc",
                "content": {"markup": [{"face_id": _uuid(), "label": 1}, {"face_id": _uuid(), "label": 1},
                                       {"face_id": _uuid(), "label": 2}],
                            "filters": {"account_id": a}, "threshold_hit_top": 0.5, "limit": 3,
                            "key_FPRs": [0.001, 0.01]}}
    if name == "exporter":
        return {"account_id": a, "description": "export",
                "content": {"objects_type": "events", "filters": {"account_id": a, "sources": ["cam1"]},
                            "columns": ["event_id", "create_time", "source"], "csv_delimiter": ";",
                            "save_images": 0}}
    if name == "estimator":
        return estimator_bodies(a, netdisk)["estimate_from_network_disk"]
    raise KeyError(name)


def estimator_bodies(account_id, netdisk="/mnt/nfs_volume/pictures"):
    """The spec's estimator request examples, made valid: the schema requires
    account_id and content.filters, which the examples lack, and the archive
    password is a string. The network disk path is one under netdisk, and the
    addresses are loopback ones (nothing listens there)."""
    a = account_id
    handler = {"handler_id": "c42ad7cb-9078-4be4-8457-4d3c744477df"}
    filters = {"account_id": a}
    return {
        "estimate_from_zip_archive": {
            "account_id": a, "description": "estimator task with zip archive",
            "content": {"handler": handler,
                        "source": {"source_type": "zip", "reference": "http://127.0.0.1:9/123.zip",
                                   "authorization": {"password": "123456"}, "image_type": 1},
                        "filters": filters}},
        "estimate_from_s3_bucket": {
            "account_id": a, "description": "estimator task with s3 bucket",
            "content": {"handler": handler,
                        "source": {"source_type": "s3",
                                   "reference": {"endpoint": "http://localhost:7480", "bucket_name": "portraits",
                                                 "prefix": "folder1/folder2"},
                                   "authorization": {"public_access_key": "user", "secret_access_key": "password"},
                                   "image_type": 1},
                        "filters": filters}},
        "estimate_from_s3_arn": {
            "account_id": a, "description": "estimator task with s3 bucket using arn",
            "content": {"handler": handler,
                        "source": {"source_type": "s3",
                                   "reference": {"bucket_name": "arn:aws:s3:eu-central-1:000000000000:accesspoint/"
                                                                "bucket-with-images", "prefix": "DCIM_"},
                                   "authorization": {"public_access_key": "user", "secret_access_key": "password"},
                                   "image_type": 1},
                        "filters": filters}},
        "estimate_from_network_disk": {
            "account_id": a, "description": "estimator task with network disk",
            "content": {"handler": handler,
                        "source": {"source_type": "network_disk",
                                   "reference": {"path": netdisk, "prefix": "portraits", "postfix": ".jpg"},
                                   "recursive": True},
                        "filters": filters}},
        "estimate_from_ftp": {
            "account_id": a, "description": "estimator task with ftp server",
            "content": {"handler": handler,
                        "source": {"source_type": "ftp", "authorization": {"user": "admin",
                                                                           "password": "secret-password"},
                                   "reference": {"host": "127.0.0.1", "port": 2121, "path": "image-storage/",
                                                 "prefix": "portraits", "postfix": ".jpg", "max_sessions": 20},
                                   "recursive": True},
                        "filters": filters}},
    }
