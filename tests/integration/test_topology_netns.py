"""Several hosts on one machine: the topology an operator uses with several
hosts, built from network namespaces that this module creates and deletes.

    host "db"      MariaDB over TCP, the S3 result store (s3rver behind
                   tests/fakes/sigv4_proxy.py, which checks every signature)
    host "api"     the luna-tasks-api pool under spawn-fcgi and nginx
    host "s1","s2" one luna-tasks-scheduler each, [SCHEDULER] WORKERS = 1
    host "client"  where the test's HTTP requests and luna-tasks-admin run

Each host is a namespace with its own loopback and one end of a veth pair
whose other end sits on a bridge in a namespace of its own ("sw"). Addresses
are in 10.213.0.0/24 inside the namespaces only; there is no default route
and nothing in the machine's own namespace, so no packet leaves the
namespaces. Each host has its own configuration file, all pointing at the
same database and store over TCP.

A linker task over FACES faces in chunks of CHUNK ([TASKS] LINKER_CHUNK) runs
once undisturbed (every subtask ran once, on both schedulers) and once with
one scheduler killed by SIGKILL while it holds a subtask (the other finishes
the work after the lease expires; the result is the same). Subtasks are
throttled (--throttle-ms through the environment) so both schedulers take
part and the kill lands mid-task.

Every process is stopped by its PID and every namespace (with its veth ends)
deleted at the end, also on failure. Skipped only where `ip netns add` is
refused (no CAP_SYS_ADMIN).
"""
import contextlib
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from luna import ROOT, Stack, default_build

NET = "10.213.0"
HOSTS = {"db": 1, "api": 2, "s1": 3, "s2": 4, "client": 5}
DB_PORT = 3306
S3_PORT = 9000
S3RVER_PORT = 4568          # s3rver itself, on the db host's loopback
HTTP_PORT = 8080
FACES = 48
CHUNK = 6                   # -> 8 subtasks
LEASE = 3
THROTTLE_MS = 400
DB_USER, DB_PASSWORD = "luna", "topology-db-4410"
S3_KEY = "S3RVER"           # tests/fakes/servers.py S3_ACCESS_KEY / S3_SECRET_KEY
DONE_RE = re.compile(r"task (\d+) subtask (\d+) done \(attempt (\d+)")
CLONE_NEWNET = 0x40000000
FAKES = os.path.join(ROOT, "tests", "fakes")


def addr(host):
    return "%s.%d" % (NET, HOSTS[host])


def run(*argv, **kw):
    p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=kw.pop("timeout", 120), **kw)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(map(str, argv)), p.returncode, p.stdout, p.stderr))
    return p.stdout


def netns_refused():
    """Why namespaces cannot be made here, or None."""
    if not shutil.which("ip"):
        return "the ip command (iproute2) is not installed"
    name = "ltprobe%d" % os.getpid()
    p = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if p.returncode != 0:
        return "ip netns add is refused (needs CAP_SYS_ADMIN): " + p.stderr.strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


@contextlib.contextmanager
def in_netns(ns):
    """Sockets made inside the block belong to namespace ns (this thread only)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def alive(pid, name):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read()
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and name.encode() in cmd


def stop_pids(pids, name, sig=signal.SIGTERM, timeout=15):
    """Signals each live pid (its command line naming name), waits, then SIGKILLs the rest."""
    live = [p for p in pids if alive(p, name)]
    for p in live:
        os.kill(p, sig)
    deadline = time.time() + timeout
    while live and time.time() < deadline:
        time.sleep(0.1)
        live = [p for p in live if alive(p, name)]
    for p in live:
        os.kill(p, signal.SIGKILL)


class Topology:
    """The namespaces, their processes and their folders (one per host under self.dir)."""

    def __init__(self, build):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="luna-topo-", dir="/tmp")
        self.prefix = "lt%d" % os.getpid()
        self.namespaces = []
        self.procs = []         # (Popen, name): processes that stay in front
        self.pidfiles = []      # (file, name): daemons that fork (spawn-fcgi children, nginx)
        self.env = dict(os.environ,
                        ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:log_path=%s/asan" % self.dir,
                        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan" % self.dir)
        for host in HOSTS:
            os.makedirs(self.path(host), exist_ok=True)
        # The db host's folder as a luna.Stack: root SQL over its unix socket
        # (for the test's checks) and copies of the configuration.
        self.db = Stack(build=build, dir=self.path("db"), keep=False)
        self.db.conf = os.path.join(self.path("db"), "base.conf")
        shutil.copy(os.path.join(ROOT, "conf", "luna-tasks.conf"), self.db.conf)

    def path(self, host, *names):
        return os.path.join(self.dir, host, *names)

    def ns(self, host):
        return "%s-%s" % (self.prefix, host)

    # -- network ------------------------------------------------------------

    def add_namespace(self, host):
        ns = self.ns(host)
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def build_network(self):
        sw = self.add_namespace("sw")
        run("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", sw, "link", "set", "br0", "up")
        for host in HOSTS:
            ns = self.add_namespace(host)
            port = "p-" + host
            run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", sw)
            run("ip", "-n", sw, "link", "set", port, "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", addr(host) + "/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")

    # -- processes ----------------------------------------------------------

    def spawn(self, host, name, argv, log, env=None):
        """argv in host's namespace (`ip netns exec` execs it: the pid is argv's)."""
        out = open(self.path(host, log), "ab")
        try:
            p = subprocess.Popen(["ip", "netns", "exec", self.ns(host), *map(str, argv)],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env=env or self.env, start_new_session=True)
        finally:
            out.close()
        self.procs.append((p, name))
        return p

    def exec_in(self, host, *argv, timeout=300):
        return run("ip", "netns", "exec", self.ns(host), *argv, env=self.env, timeout=timeout)

    def wait_port(self, host, port, proc=None, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("the server for %s:%d exited (%s)" % (host, port, proc.returncode))
            try:
                with in_netns(self.ns("client")):
                    sock = socket.create_connection((addr(host), port), timeout=1)
                sock.close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nothing answers on %s:%d" % (addr(host), port))

    def config(self, host, overrides):
        """host's configuration: the shared settings plus overrides; its path."""
        settings = {
            ("LUNA_TASKS_DB", "HOST"): addr("db"), ("LUNA_TASKS_DB", "PORT"): DB_PORT,
            ("LUNA_TASKS_DB", "SOCKET"): "", ("LUNA_TASKS_DB", "USER"): DB_USER,
            ("LUNA_TASKS_DB", "PASSWORD"): DB_PASSWORD,
            ("STORAGE", "BACKEND"): "s3", ("STORAGE", "S3_ENDPOINT"): "http://%s:%d" % (addr("db"), S3_PORT),
            ("STORAGE", "S3_BUCKET"): "store", ("STORAGE", "S3_ACCESS_KEY"): S3_KEY,
            ("STORAGE", "S3_SECRET_KEY"): S3_KEY, ("STORAGE", "PATH"): self.path(host, "store-unused"),
            ("API", "DOCS_DIR"): os.path.join(ROOT, "docs"),
            ("API", "METRICS_FILE"): self.path(host, "api-metrics"),
        }
        settings.update(overrides)
        made = self.db.write_config(settings)
        path = self.path(host, "luna-tasks.conf")
        os.replace(made, path)
        return path

    def start_db(self):
        data = self.path("db", "mysql")
        run("mariadb-install-db", "--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db",
            "--datadir=" + data, "--user=" + run("id", "-un").strip())
        sock = self.path("db", "mysql.sock")
        self.spawn("db", "mariadbd", [
            "mariadbd", "--no-defaults", "--datadir=" + data, "--socket=" + sock,
            "--pid-file=" + self.path("db", "mysql.pid"), "--bind-address=" + addr("db"), "--port=%d" % DB_PORT,
            "--user=" + run("id", "-un").strip(), "--log-error=" + self.path("db", "mysql.err"),
            "--innodb-buffer-pool-size=64M", "--max-connections=200", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci", "--skip-name-resolve", "--default-time-zone=+00:00"],
            "mariadbd.out")
        deadline = time.time() + 60
        while True:
            try:
                self.db.sql("SELECT 1", db=None)
                break
            except RuntimeError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        # The hosts' user may connect from the namespaces' network only.
        host = "'%s.%%'" % NET
        self.db.sql("CREATE USER '%s'@%s IDENTIFIED BY '%s'; "
                    "GRANT ALL PRIVILEGES ON `luna\\_tasks`.* TO '%s'@%s; "
                    "GRANT ALL PRIVILEGES ON `luna\\_objects`.* TO '%s'@%s"
                    % (DB_USER, host, DB_PASSWORD, DB_USER, host, DB_USER, host), db=None)

    def start_s3(self):
        s3rver = self.spawn("db", "s3rver", [
            "node", "--openssl-legacy-provider", os.path.join(FAKES, "node_modules", "s3rver", "bin", "s3rver.js"),
            "--address", "127.0.0.1", "--port", S3RVER_PORT, "--directory", self.path("db", "s3"), "--silent",
            "--allow-mismatched-signatures", "--configure-bucket", "store"], "s3rver.log")
        os.makedirs(self.path("db", "s3"), exist_ok=True)
        proxy = self.spawn("db", "sigv4_proxy", [
            "/usr/bin/python3", os.path.join(FAKES, "sigv4_proxy.py"), "--address", addr("db"), "--port", S3_PORT,
            "--backend", "http://127.0.0.1:%d" % S3RVER_PORT, "--access-key", S3_KEY, "--secret-key", S3_KEY,
            "--log", self.path("db", "s3-requests.log")], "sigv4_proxy.log")
        self.wait_port("db", S3_PORT, proxy)
        if s3rver.poll() is not None:
            raise RuntimeError("s3rver exited (%s)" % s3rver.returncode)

    def s3_requests(self):
        try:
            with open(self.path("db", "s3-requests.log")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def start_api(self, conf):
        d = self.path("api")
        self.exec_in("api", "spawn-fcgi", "-s", os.path.join(d, "api.sock"), "-M", "0600", "-F", "2",
                     "-P", os.path.join(d, "api.pid"), "--", "/bin/sh", "-c", 'exec "$0" -c "$1" 2>>"$2"',
                     os.path.join(self.build, "luna-tasks-api"), conf, os.path.join(d, "api.log"))
        self.pidfiles.append((os.path.join(d, "api.pid"), "luna-tasks-api"))
        with open(os.path.join(ROOT, "conf", "nginx-dev.conf.in")) as f:
            text = f.read()
        text = text.replace("127.0.0.1:@PORT@", "%s:%d" % (addr("api"), HTTP_PORT))
        for k, v in {"@DIR@": d, "@API_SOCK@": os.path.join(d, "api.sock"), "@MAX_BODY@": "10485760",
                     "@USER_LINE@": "user root;" if os.geteuid() == 0 else ""}.items():
            text = text.replace(k, v)
        os.makedirs(os.path.join(d, "nginx-tmp"), exist_ok=True)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(text)
        self.exec_in("api", "nginx", "-p", d + "/", "-e", os.path.join(d, "nginx-error.log"),
                     "-c", os.path.join(d, "nginx.conf"), "-q")
        self.pidfiles.append((os.path.join(d, "nginx.pid"), "nginx"))
        deadline = time.time() + 60
        while self.http("GET", "/version")[0] != 200:
            if time.time() > deadline:
                raise RuntimeError("the API on %s:%d does not answer" % (addr("api"), HTTP_PORT))
            time.sleep(0.2)

    def start_scheduler(self, host, conf):
        env = dict(self.env, LUNA_TASKS_SCHEDULER_THROTTLE_MS=str(THROTTLE_MS))
        p = self.spawn(host, "luna-tasks-scheduler", [
            os.path.join(self.build, "luna-tasks-scheduler"), "-c", conf, "--worker-id", "topo-" + host],
            "scheduler.log", env=env)
        time.sleep(0.3)
        assert alive(p.pid, "luna-tasks-scheduler"), self.log(host, "scheduler.log")
        return p

    def log(self, host, name):
        try:
            with open(self.path(host, name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- client -------------------------------------------------------------

    def http(self, method, path, body=None):
        """(status, parsed JSON or raw bytes) of a request from the client host to nginx."""
        conn = http.client.HTTPConnection(addr("api"), HTTP_PORT, timeout=30)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            try:
                with in_netns(self.ns("client")):
                    conn.connect()
                conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            except OSError:
                return 0, b""
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def admin(self, conf, *args):
        return self.exec_in("client", os.path.join(self.build, "luna-tasks-admin"), "-c", conf,
                            "--sql-dir", os.path.join(ROOT, "sql"), *args)

    # -- teardown -----------------------------------------------------------

    def close(self):
        """Stops every process by its PID, deletes every namespace (and so its
        veth end); the folder stays when a test failed or left sanitizer reports."""
        for pidfile, name in reversed(self.pidfiles):
            try:
                with open(pidfile) as f:
                    stop_pids([int(x) for x in f.read().split()], name)
            except (OSError, ValueError):
                pass
        for p, name in reversed(self.procs):
            if p.poll() is None:
                stop_pids([p.pid], name, timeout=30)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for ns in reversed(self.namespaces):
            # Anything still inside (nothing, normally) is one of ours: the namespace is.
            left = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in left:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces = []

    def sanitizer_reports(self):
        return [n for n in os.listdir(self.dir) if n.startswith(("asan.", "ubsan."))]


@pytest.fixture(scope="module")
def topo(request):
    why = netns_refused()
    if why:
        pytest.skip(why)
    t = Topology(os.path.abspath(default_build()))
    failed_before = request.session.testsfailed
    try:
        t.build_network()
        t.start_db()
        t.start_s3()
        shared = {("SCHEDULER", "WORKERS"): 1, ("SCHEDULER", "LEASE_SECONDS"): LEASE,
                  ("SCHEDULER", "POLL_INTERVAL_MS"): 100, ("TASKS", "LINKER_CHUNK"): CHUNK}
        t.client_conf = t.config("client", shared)
        t.admin(t.client_conf, "db", "migrate")
        t.start_api(t.config("api", shared))
        t.sched = {h: t.start_scheduler(h, t.config(h, shared)) for h in ("s1", "s2")}
        yield t
    finally:
        failed = request.session.testsfailed > failed_before
        if failed:
            for host, name in (("s1", "scheduler.log"), ("s2", "scheduler.log"), ("api", "api.log")):
                print("==> %s/%s <==\n%s" % (host, name, t.log(host, name)[-3000:]))
        t.close()
        reports = t.sanitizer_reports()
        if failed or reports:
            print("topology folder kept: %s" % t.dir)
        else:
            shutil.rmtree(t.dir, ignore_errors=True)
    assert not reports, "sanitizer reports in %s: %s" % (t.dir, reports)


@pytest.fixture(scope="module")
def faces(topo):
    """FACES faces of a fresh account, imported over TCP from the client host."""
    account = str(uuid.uuid4())
    ids = sorted(str(uuid.uuid4()) for _ in range(FACES))
    path = topo.path("client", "faces.jsonl")
    with open(path, "w") as f:
        for i, fid in enumerate(ids):
            f.write(json.dumps({"face_id": fid, "account_id": account, "user_data": "face %d" % i}) + "\n")
    topo.admin(topo.client_conf, "import", "faces", path)
    return account, ids


def create_linker(topo, account):
    status, body = topo.http("POST", "/2/tasks/linker", {
        "account_id": account, "content": {"objects_type": "faces", "create_list": 1,
                                           "filters": {"account_id": account}}})
    assert status == 202, body
    return body["task_id"]


def wait_task(topo, tid, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, task = topo.http("GET", "/2/tasks/%d" % tid)
        if status == 200 and task["task_status"] in (2, 3, 5):
            return task
        time.sleep(0.2)
    raise AssertionError("task %d did not finish in %d s: %r" % (tid, timeout, task))


def subtasks(topo, tid):
    """[(subtask_id, status, worker_id, attempts)] of task tid."""
    return [(int(r[0]), int(r[1]), r[2], int(r[3])) for r in topo.db.sql(
        "SELECT subtask_id, subtask_status, worker_id, attempts FROM subtask WHERE task_id = %s "
        "ORDER BY subtask_id", (tid,))]


def done_lines(topo, tid):
    """{subtask_id: times a scheduler logged it done} across both schedulers' logs."""
    counts = {}
    for host in ("s1", "s2"):
        for m in DONE_RE.finditer(topo.log(host, "scheduler.log")):
            if int(m.group(1)) == tid:
                counts[int(m.group(2))] = counts.get(int(m.group(2)), 0) + 1
    return counts


def check_result(topo, tid, ids):
    """The result, read through the API host from the shared S3 store, and the list
    the schedulers filled in the objects database hold exactly the faces."""
    status, body = topo.http("GET", "/2/tasks/%d/result" % tid)
    assert status == 200, body
    res = body["result"]
    assert sorted(res["face_ids"]) == ids
    members = topo.db.sql("SELECT face_id FROM list_face WHERE list_id = %s ORDER BY face_id",
                          (res["list_id"],), db="luna_objects")
    assert [m[0] for m in members] == ids
    rid = topo.db.sql("SELECT result_id FROM task WHERE task_id = %s", (tid,))[0][0]
    # The schedulers stored it in S3 (signed requests, checked by the proxy) and the API read it there.
    log = topo.s3_requests()
    assert ("PUT", "/store/" + rid) in {(e["method"], e["path"]) for e in log if e["ok"]}, log[-20:]
    assert ("GET", "/store/" + rid) in {(e["method"], e["path"]) for e in log if e["ok"]}, log[-20:]
    assert all(e["ok"] for e in log), [e for e in log if not e["ok"]]


def test_subtasks_spread_over_two_scheduler_hosts(topo, faces):
    account, ids = faces
    tid = create_linker(topo, account)
    task = wait_task(topo, tid)
    assert task["task_status"] == 5, task
    assert task["count_task_parts_all"] == FACES // CHUNK
    rows = subtasks(topo, tid)
    assert len(rows) == FACES // CHUNK
    assert all(status == 4 and attempts == 1 for _, status, _, attempts in rows), rows
    assert {worker for _, _, worker, _ in rows} == {"topo-s1", "topo-s2"}, rows
    assert done_lines(topo, tid) == {sid: 1 for sid, _, _, _ in rows}
    check_result(topo, tid, ids)


def test_kill_one_scheduler_mid_task(topo, faces):
    account, ids = faces
    victim = topo.sched["s1"]
    tid = create_linker(topo, account)
    # Kill s1 while it holds a subtask and others are still to come: it is
    # frozen (SIGSTOP) before the database is read, so that what the read shows
    # it holding is what the kill interrupts, and thawed when it holds nothing.
    deadline = time.time() + 60
    while True:
        os.kill(victim.pid, signal.SIGSTOP)
        rows = subtasks(topo, tid)
        held = [sid for sid, status, worker, _ in rows if status == 1 and worker == "topo-s1"]
        if held and sum(1 for r in rows if r[1] == 0) >= 2:
            break
        os.kill(victim.pid, signal.SIGCONT)
        assert time.time() < deadline, rows
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    task = wait_task(topo, tid)
    assert task["task_status"] == 5, task
    rows = subtasks(topo, tid)
    assert len(rows) == FACES // CHUNK
    assert all(status == 4 for _, status, _, _ in rows), rows
    # The subtask s1 held was taken over by s2 after its lease; it completed once.
    retried = {sid: (worker, attempts) for sid, _, worker, attempts in rows if sid in held}
    assert retried == {held[0]: ("topo-s2", 2)}, rows
    assert done_lines(topo, tid) == {sid: 1 for sid, _, _, _ in rows}
    check_result(topo, tid, ids)
