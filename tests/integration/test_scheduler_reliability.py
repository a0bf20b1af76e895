"""Reliability of luna-tasks-scheduler (DESIGN §3, §8): kill -9 mid-task, two
schedulers on one DB, cancel and delete mid-run, SIGTERM, a MariaDB restart,
exhausted attempts, and the heartbeat behind /healthcheck (tasks_worker).

The workload is a real linker task (type 1) over faces imported for the
module, cut into one subtask per face ([TASKS] LINKER_CHUNK = 1). The
schedulers of this module run with --throttle-ms (through
$LUNA_TASKS_SCHEDULER_THROTTLE_MS), which pauses before every subtask, so
there is time to kill, cancel or delete mid-run; a short lease
([SCHEDULER] LEASE_SECONDS = 3) makes recovery quick. The kill -9 tests that
count attempts use 10 s leases instead, and kill a scheduler only while it is
frozen (SIGSTOP) and the database shows it holding a subtask. The stack's own
scheduler "s1" is stopped while this module runs and restarted afterwards.

"Every subtask completes exactly once" is checked on the subtask rows
(status, attempts) and on the schedulers' logs: each subtask's "done" line
appears once across the logs of every scheduler that ran.
"""

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

FACES = 10
LEASE = 3
THROTTLE_ENV = "LUNA_TASKS_SCHEDULER_THROTTLE_MS"
THROTTLE_TASK_ENV = "LUNA_TASKS_SCHEDULER_THROTTLE_TASK_MS"
DONE_RE = re.compile(r"task (\d+) subtask (\d+) done \(attempt (\d+)")

CANCEL_UNFINISHED = (
    "UPDATE subtask SET subtask_status = 2, end_time = UTC_TIMESTAMP(6) WHERE subtask_status IN (0, 1); "
    "UPDATE task SET task_status = 2, end_time = UTC_TIMESTAMP(6), last_update_time = UTC_TIMESTAMP(6) "
    "WHERE task_status IN (0, 1, 4)")


def wait_for(cond, timeout=30, what="condition", interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


class Schedulers:
    """Schedulers of one test, each with its own name, config and log."""

    def __init__(self, stack, prefix):
        self.stack = stack
        self.prefix = prefix
        self.names = []

    def start(self, name, throttle_ms=600, throttle_task_ms=0, env=None, **cfg):
        """Starts a scheduler with these config keys (section__key), pauses
        and env (variables of its environment besides those); its name."""
        name = "%s-%s" % (self.prefix, name)
        overrides = {
            ("SCHEDULER", "LEASE_SECONDS"): LEASE,
            ("SCHEDULER", "WORKERS"): 2,
            ("SCHEDULER", "POLL_INTERVAL_MS"): 50,
            ("SCHEDULER", "MAX_ATTEMPTS"): 3,
            ("TASKS", "LINKER_CHUNK"): 1,
        }
        for key, value in cfg.items():
            section, k = key.split("__")
            overrides[(section.upper(), k.upper())] = value
        conf = self.stack.write_config(overrides)
        env = dict(env or {}, **{THROTTLE_ENV: str(throttle_ms), THROTTLE_TASK_ENV: str(throttle_task_ms)})
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            self.stack.start_scheduler(name, config=conf)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.names.append(name)
        return name

    def stop(self, name):
        self.stack.stop_scheduler(name)

    def kill(self, name):
        self.stack.kill_scheduler(name)

    def pid(self, name):
        return self.stack.scheduler_pid(name)

    def log(self, name):
        path = os.path.join(self.stack.dir, "scheduler-%s.log" % name)
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def logs(self):
        return "".join(self.log(n) for n in self.names)

    def stop_all(self):
        for name in self.names:
            try:
                self.stack.stop_scheduler(name)
            except Exception:
                self.stack.kill_scheduler(name)


@pytest.fixture(scope="module")
def own_schedulers(stack):
    """s1 stops for the module; unfinished tasks of earlier modules are cancelled
    so that they do not compete for this module's throttled workers."""
    stack.stop_scheduler("s1")
    stack.sql(CANCEL_UNFINISHED)
    yield
    stack.start_scheduler("s1")


@pytest.fixture
def scheds(stack, own_schedulers, request):
    s = Schedulers(stack, re.sub(r"[^A-Za-z0-9]", "", request.node.name)[:40])
    yield s
    s.stop_all()
    # What a test left unfinished must not compete with the next one.
    stack.sql(CANCEL_UNFINISHED)


@pytest.fixture(scope="module")
def faces(stack, own_schedulers):
    """FACES faces of a fresh account, imported through luna-tasks-admin."""
    account = str(uuid.uuid4())
    ids = sorted(str(uuid.uuid4()) for _ in range(FACES))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for i, fid in enumerate(ids):
            f.write(json.dumps({"face_id": fid, "account_id": account, "user_data": "face %d" % i,
                                "create_time": "2024-01-01T00:00:00.000000+00:00"}) + "\n")
        path = f.name
    try:
        stack.admin("import", "faces", path)
    finally:
        os.unlink(path)
    return account, ids


def create_linker(stack, account):
    r = stack.post("/2/tasks/linker", json={
        "account_id": account, "description": "reliability",
        "content": {"objects_type": "faces", "filters": {"account_id": account},
                    "create_list": 1, "user_data": "reliability"}})
    assert r.status == 202, r
    return r.json()["task_id"]


def sanitizer_env(stack):
    """Sanitizer reports of a scheduler started here go where the session looks for them."""
    return {"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:log_path=%s/asan" % stack.dir,
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan" % stack.dir}


def subtasks(stack, task_id):
    rows = stack.sql("SELECT subtask_id, subtask_status, attempts, worker_id, result_id FROM subtask "
                     "WHERE task_id = %s ORDER BY subtask_id", (task_id,))
    return [{"id": int(r[0]), "status": int(r[1]), "attempts": int(r[2]), "worker": r[3], "result": r[4]}
            for r in rows]


def count(subs, status):
    return sum(1 for s in subs if s["status"] == status)


def wait_running(stack, task_id, done=1, running=1, timeout=60):
    """Until the task has at least `done` finished and `running` running subtasks."""
    def ok():
        subs = subtasks(stack, task_id)
        return subs if count(subs, 4) >= done and count(subs, 1) >= running else None
    return wait_for(ok, timeout, "task %d to be mid-run" % task_id, interval=0.05)


# Leases of the kill -9 tests: long enough that a loaded machine never lets a
# live scheduler's lease lapse (renewed every third of it), which would run a
# subtask twice; the killed one's run out after it.
KILL_LEASE = 10


def held_by(stack, task_id, pid, worker=None):
    """Running subtasks of the task held by scheduler `pid` (worker id "host:pid",
    or `worker` when it runs under a fixed --worker-id)."""
    def mine(w):
        return w == worker if worker else (w or "").endswith(":%d" % pid)
    return [s["id"] for s in subtasks(stack, task_id) if s["status"] == 1 and mine(s["worker"])]


def freeze_holding(stack, pid, task_id, done=1, worker=None, tries=50):
    """Freezes scheduler `pid` (SIGSTOP) at a moment when it holds a running
    subtask of the task and `done` subtasks have finished: it is frozen once the
    task is mid-run and left frozen only if the database shows it holding one
    (its workers may be between subtasks, finishing and claiming in step), else
    thawed to try again. Returns the subtasks it holds, read until two reads
    agree (a statement it sent before the freeze may still land); the caller
    kills it."""
    for _ in range(tries):
        wait_running(stack, task_id, done=done, running=1)
        os.kill(pid, signal.SIGSTOP)
        held = held_by(stack, task_id, pid, worker)
        while held:
            time.sleep(0.2)
            again = held_by(stack, task_id, pid, worker)
            if again == held:
                return held
            held = again
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.1)   # lets its workers reach their next subtask
    raise AssertionError("scheduler %d never held a subtask of task %d" % (pid, task_id))


def kill9_while_holding(stack, scheds, name, task_id, done=1):
    """Kills scheduler `name` with SIGKILL while it holds a running subtask of
    the task (see freeze_holding). The subtasks it held: what the kill interrupted."""
    held = freeze_holding(stack, scheds.pid(name), task_id, done=done)
    scheds.kill(name)
    return held


def done_lines(text, task_id):
    """{subtask_id: number of "done" log lines} of the task."""
    out = {}
    for m in DONE_RE.finditer(text):
        if int(m.group(1)) == task_id:
            out[int(m.group(2))] = out.get(int(m.group(2)), 0) + 1
    return out


def result_of(stack, task_id):
    """The "result" member of the task's result document."""
    r = stack.get("/2/tasks/%d/result" % task_id)
    assert r.status == 200, r
    return r.json()["result"]


def list_members(stack, list_id):
    rows = stack.sql("SELECT face_id FROM list_face WHERE list_id = %s ORDER BY face_id", (list_id,),
                     db="luna_objects")
    return [r[0] for r in rows]


def store_blobs(stack):
    d = stack.config_value("STORAGE", "PATH")
    return {n for n in os.listdir(d) if not n.startswith(".")}


def assert_linked_all(stack, task_id, face_ids):
    res = result_of(stack, task_id)
    assert res["face_ids"] == face_ids, res
    assert list_members(stack, res["list_id"]) == face_ids
    return res


def assert_each_subtask_once(stack, scheds, task_id):
    task = stack.get("/2/tasks/%d" % task_id).json()
    subs = subtasks(stack, task_id)
    assert subs and all(s["status"] == 4 for s in subs), subs
    assert task["count_task_parts_all"] == len(subs) == task["count_task_parts_done"], task
    lines = done_lines(scheds.logs(), task_id)
    assert lines == {s["id"]: 1 for s in subs}, lines
    return subs


def errors_of(stack, task_id):
    return stack.sql("SELECT error_code, subtask_id, detail FROM task_error WHERE task_id = %s ORDER BY error_id",
                     (task_id,))


# -- undisturbed run -----------------------------------------------------------

def test_undisturbed_run(stack, scheds, faces):
    account, ids = faces
    before = store_blobs(stack)
    scheds.start("a")
    tid = create_linker(stack, account)
    task = stack.wait_task(tid, timeout=120)
    assert task["task_status"] == 5, task
    assert task["end_time"] and task["result_id"], task
    subs = assert_each_subtask_once(stack, scheds, tid)
    assert len(subs) == FACES
    assert all(s["attempts"] == 1 and s["result"] is None for s in subs), subs
    assert errors_of(stack, tid) == []
    assert_linked_all(stack, tid, ids)
    # Partial results are gone once the task result is stored.
    assert store_blobs(stack) - before == {task["result_id"]}


# -- kill -9 -------------------------------------------------------------------

def test_kill9_mid_task_finishes_with_same_result(stack, scheds, faces):
    account, ids = faces
    a = scheds.start("a", scheduler__lease_seconds=KILL_LEASE)
    tid = create_linker(stack, account)
    interrupted = kill9_while_holding(stack, scheds, a, tid, done=2)
    assert [s["id"] for s in subtasks(stack, tid) if s["status"] == 1] == interrupted
    b = scheds.start("b", scheduler__lease_seconds=KILL_LEASE)
    task = stack.wait_task(tid, timeout=300)
    assert task["task_status"] == 5, task
    subs = assert_each_subtask_once(stack, scheds, tid)
    for s in subs:
        assert s["attempts"] == (2 if s["id"] in interrupted else 1), (s, interrupted)
    assert errors_of(stack, tid) == []
    assert_linked_all(stack, tid, ids)
    for sid in interrupted:
        assert re.search(r"task %d subtask %d: the lease of \S+ expired; back to pending" % (tid, sid),
                         scheds.log(b)), scheds.log(b)


def test_restart_with_same_worker_id_releases_at_once(stack, scheds, faces):
    """A scheduler restarted under the same --worker-id after kill -9 takes its
    dead run's leases back at start instead of waiting for them to expire."""
    account, ids = faces
    conf = stack.write_config({("SCHEDULER", "LEASE_SECONDS"): 60, ("TASKS", "LINKER_CHUNK"): 1,
                               ("SCHEDULER", "POLL_INTERVAL_MS"): 50})
    exe = os.path.join(stack.build, "luna-tasks-scheduler")
    log_path = os.path.join(stack.dir, "scheduler-%s-fixed.log" % scheds.prefix)
    env = dict(os.environ, **{THROTTLE_ENV: "600"}, **sanitizer_env(stack))
    procs = []

    def run():
        log = open(log_path, "a")
        p = subprocess.Popen([exe, "-c", conf, "--worker-id", "fixed-id"], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log, env=env, start_new_session=True)
        log.close()
        procs.append(p)
        return p

    try:
        p = run()
        tid = create_linker(stack, account)
        freeze_holding(stack, p.pid, tid, worker="fixed-id")
        p.kill()
        p.wait()
        t0 = time.time()
        p = run()
        task = stack.wait_task(tid, timeout=60)
        assert task["task_status"] == 5, task
        # The 60 s lease was not waited for.
        assert time.time() - t0 < 40
        with open(log_path, errors="replace") as f:
            text = f.read()
        assert "a previous run as fixed-id left" in text, text
        assert_linked_all(stack, tid, ids)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def task_row(stack, task_id):
    rows = stack.sql("SELECT task_status, worker_id, attempts, planned FROM task WHERE task_id = %s", (task_id,))
    return {"status": int(rows[0][0]), "worker": rows[0][1], "attempts": int(rows[0][2]),
            "planned": int(rows[0][3])}


def test_kill9_mid_planning(stack, scheds, faces):
    account, ids = faces
    a = scheds.start("a", throttle_ms=0, throttle_task_ms=60000)
    tid = create_linker(stack, account)
    wait_for(lambda: task_row(stack, tid)["worker"], timeout=10, what="planning to start")
    row = task_row(stack, tid)
    assert row["status"] == 0 and row["planned"] == 0 and row["attempts"] == 1, row
    scheds.kill(a)
    b = scheds.start("b", throttle_ms=0)
    task = stack.wait_task(tid, timeout=60)
    assert task["task_status"] == 5, task
    assert "task %d: planned into" % tid not in scheds.log(a)
    assert "task %d: planned into %d subtasks" % (tid, FACES) in scheds.log(b)
    assert_each_subtask_once(stack, scheds, tid)
    assert_linked_all(stack, tid, ids)


def test_kill9_mid_collecting(stack, scheds, faces):
    account, ids = faces
    before = store_blobs(stack)
    a = scheds.start("a", throttle_ms=0, throttle_task_ms=2500)
    tid = create_linker(stack, account)
    wait_for(lambda: task_row(stack, tid)["status"] == 4, timeout=30, what="collecting to start", interval=0.05)
    # Every partial result is stored; the task result is not yet.
    subs = subtasks(stack, tid)
    assert all(s["status"] == 4 and s["result"] for s in subs), subs
    scheds.kill(a)
    b = scheds.start("b", throttle_ms=0)
    task = stack.wait_task(tid, timeout=60)
    assert task["task_status"] == 5, task
    done = re.compile(r"\btask %d done" % tid)   # not "subtask N done"
    assert not done.search(scheds.log(a)), scheds.log(a)
    assert done.search(scheds.log(b)), (scheds.log(a), scheds.log(b))
    assert_each_subtask_once(stack, scheds, tid)
    assert_linked_all(stack, tid, ids)
    # The partial results went with the collect; only the task result is left.
    assert store_blobs(stack) - before == {task["result_id"]}


# -- several schedulers ----------------------------------------------------------

def test_two_schedulers_run_every_subtask_once(stack, scheds, faces):
    account, ids = faces
    a = scheds.start("a", throttle_ms=300)
    b = scheds.start("b", throttle_ms=300)
    tids = [create_linker(stack, account) for _ in range(3)]
    workers = set()
    for tid in tids:
        task = stack.wait_task(tid, timeout=120)
        assert task["task_status"] == 5, task
        subs = assert_each_subtask_once(stack, scheds, tid)
        assert all(s["attempts"] == 1 for s in subs), subs
        workers |= {s["worker"] for s in subs}
        assert_linked_all(stack, tid, ids)
    # Both took part (each has 2 workers and there were 30 throttled subtasks).
    assert len(workers) == 2, workers
    assert DONE_RE.search(scheds.log(a)) and DONE_RE.search(scheds.log(b))


# -- cancel and delete ---------------------------------------------------------------

def test_cancel_mid_run_stops_workers(stack, scheds, faces):
    account, _ = faces
    a = scheds.start("a", throttle_ms=5000)
    tid = create_linker(stack, account)
    wait_running(stack, tid, done=0, running=2)
    r = stack.patch("/2/tasks/%d" % tid)
    assert r.status == 202, r
    t0 = time.time()
    # Both workers notice within a second and drop their work.
    wait_for(lambda: len(re.findall(r"task %d subtask \d+: the task is no longer running; work dropped" % tid,
                                    scheds.log(a))) >= 2, timeout=5, what="the workers to drop their work")
    assert time.time() - t0 < 1.5, "the workers took %.2f s to stop" % (time.time() - t0)
    task = stack.get("/2/tasks/%d" % tid).json()
    assert task["task_status"] == 2 and task["end_time"], task
    subs = subtasks(stack, tid)
    assert count(subs, 0) == count(subs, 1) == 0, subs
    assert count(subs, 2) == len(subs), subs
    assert done_lines(scheds.log(a), tid) == {}
    # The scheduler runs the type's cleanup for the ended task, once.
    wait_for(lambda: stack.sql("SELECT cleaned FROM task WHERE task_id = %s", (tid,)) == [("1",)], timeout=15,
             what="the cancelled task to be cleaned up")
    # The workers are free again: a new task runs.
    tid2 = create_linker(stack, account)
    wait_running(stack, tid2, done=0, running=1, timeout=10)


def test_delete_mid_run(stack, scheds, faces):
    account, _ = faces
    before = store_blobs(stack)
    a = scheds.start("a", throttle_ms=400)
    tid = create_linker(stack, account)
    subs = wait_running(stack, tid, done=3, running=1)
    partials = {s["result"] for s in subs if s["result"]}
    assert partials and partials <= store_blobs(stack)
    t0 = time.time()
    r = stack.delete("/2/tasks/%d" % tid)
    assert r.status == 204, r
    assert time.time() - t0 < 5, "DELETE took %.1f s" % (time.time() - t0)
    assert stack.get("/2/tasks/%d" % tid).status == 404
    for table in ("task", "subtask", "task_error"):
        assert stack.sql("SELECT COUNT(*) FROM %s WHERE task_id = %%s" % table, (tid,)) == [("0",)], table
    # Running workers drop their work, and no blob of the task is left behind.
    wait_for(lambda: re.search(r"task %d subtask \d+: the task was deleted" % tid, scheds.log(a)), timeout=5,
             what="a worker to notice the deletion")
    wait_for(lambda: store_blobs(stack) <= before, timeout=15, what="the task's blobs to go")
    wait_for(lambda: stack.sql("SELECT COUNT(*) FROM orphan_blob") == [("0",)], timeout=15,
             what="the orphaned-blob queue to drain")
    # The scheduler goes on with other work.
    tid2 = create_linker(stack, account)
    assert stack.wait_task(tid2, timeout=120)["task_status"] == 5


# -- SIGTERM ---------------------------------------------------------------------

def test_sigterm_lets_short_subtasks_finish(stack, scheds, faces):
    account, _ = faces
    a = scheds.start("a", throttle_ms=1000)
    tid = create_linker(stack, account)
    running = [s["id"] for s in wait_running(stack, tid, done=0, running=2) if s["status"] == 1]
    scheds.stop(a)
    text = scheds.log(a)
    assert "SIGTERM received" in text and "stopped" in text, text
    subs = {s["id"]: s for s in subtasks(stack, tid)}
    for sid in running:
        assert subs[sid]["status"] == 4, subs[sid]
    # Nothing was claimed after the signal: the rest waits for the next scheduler.
    assert count(subs.values(), 1) == 0
    assert count(subs.values(), 0) > 0
    b = scheds.start("b", throttle_ms=100)
    assert stack.wait_task(tid, timeout=120)["task_status"] == 5
    assert_each_subtask_once(stack, scheds, tid)
    assert scheds.log(b)


def test_sigterm_hands_back_long_subtasks(stack, scheds, faces):
    account, ids = faces
    a = scheds.start("a", throttle_ms=60000)
    tid = create_linker(stack, account)
    running = [s["id"] for s in wait_running(stack, tid, done=0, running=2) if s["status"] == 1]
    t0 = time.time()
    scheds.stop(a)
    took = time.time() - t0
    assert LEASE - 0.5 < took < LEASE + 10, took
    text = scheds.log(a)
    for sid in running:
        assert "task %d subtask %d: handed back unfinished" % (tid, sid) in text, text
    assert "stopped" in text
    subs = {s["id"]: s for s in subtasks(stack, tid)}
    for sid in running:
        assert subs[sid]["status"] == 0 and subs[sid]["worker"] is None, subs[sid]
        assert subs[sid]["attempts"] == 0, subs[sid]
    scheds.start("b", throttle_ms=100)
    assert stack.wait_task(tid, timeout=120)["task_status"] == 5
    subs = assert_each_subtask_once(stack, scheds, tid)
    assert all(s["attempts"] == 1 for s in subs), subs
    assert_linked_all(stack, tid, ids)


# -- attempts ------------------------------------------------------------------

def test_subtask_fails_after_max_attempts(stack, scheds, faces):
    account, ids = faces
    a = scheds.start("a", scheduler__max_attempts=1, scheduler__lease_seconds=KILL_LEASE)
    tid = create_linker(stack, account)
    interrupted = kill9_while_holding(stack, scheds, a, tid)
    assert [s["id"] for s in subtasks(stack, tid) if s["status"] == 1] == interrupted
    scheds.start("b", scheduler__max_attempts=1, scheduler__lease_seconds=KILL_LEASE)
    task = stack.wait_task(tid, timeout=300)
    # linker has a collect hook: the task is done without the failed parts.
    assert task["task_status"] == 5, task
    subs = {s["id"]: s for s in subtasks(stack, tid)}
    assert {sid for sid, s in subs.items() if s["status"] == 3} == set(interrupted), subs
    errs = errors_of(stack, tid)
    assert sorted(int(e[1]) for e in errs) == sorted(interrupted), errs
    for code, sid, detail in errs:
        assert code == "28102", errs
        assert detail.startswith("Subtask %s failed after 1 attempts" % sid), errs
    r = stack.get("/2/tasks/%d/errors" % tid)
    assert r.status == 200 and "28102" in r.text, r
    res = result_of(stack, tid)
    assert len(res["face_ids"]) == FACES - len(interrupted), res
    assert task["count_task_parts_done"] == task["count_task_parts_all"] == FACES, task


# -- the database goes away ----------------------------------------------------------

def test_db_restart_mid_task(stack, scheds, faces):
    account, ids = faces
    a = scheds.start("a", throttle_ms=500)
    tid = create_linker(stack, account)
    wait_running(stack, tid, done=1, running=1)
    stack.stop_db()
    try:
        time.sleep(3)
        pid = scheds.pid(a)
        os.kill(pid, 0)   # still alive without its database
    finally:
        stack.start_db()
    task = stack.wait_task(tid, timeout=180)
    assert task["task_status"] == 5, task
    os.kill(scheds.pid(a), 0)
    subs = subtasks(stack, tid)
    assert all(s["status"] == 4 for s in subs), subs
    lines = done_lines(scheds.logs(), tid)
    assert set(lines.values()) == {1} and set(lines) == {s["id"] for s in subs}, lines
    assert_linked_all(stack, tid, ids)
    text = scheds.log(a)
    assert "database" in text and "answers again" in text, text


def test_objects_db_away_while_planning(stack, scheds, faces):
    """A plan that fails because the objects database is away (10017) is
    retried once it is back, instead of failing the task."""
    account, ids = faces
    a = scheds.start("a", throttle_ms=0)
    stack.sql("RENAME TABLE face TO face_away", db="luna_objects")
    try:
        tid = create_linker(stack, account)
        wait_for(lambda: re.search(r"task %d: planning attempt 1 of 3 failed \(10017 " % tid, scheds.log(a)),
                 timeout=20, what="the first planning attempt to fail")
        assert task_row(stack, tid)["status"] == 0
    finally:
        stack.sql("RENAME TABLE face_away TO face", db="luna_objects")
    task = stack.wait_task(tid, timeout=60)
    assert task["task_status"] == 5, task
    assert errors_of(stack, tid) == []
    assert_linked_all(stack, tid, ids)


# -- heartbeat and /healthcheck ------------------------------------------------------

def health_worker_failing(stack):
    r = stack.get("/healthcheck")
    if r.status != 502:
        return None
    comps = {c["component"]: c for c in r.json()["errors"]}
    return comps.get("tasks_worker")


def test_heartbeat_drives_healthcheck(stack, scheds):
    # No scheduler: tasks_worker fails (old rows of earlier runs are stale or gone).
    stack.sql("UPDATE scheduler_heartbeat SET last_seen = UTC_TIMESTAMP(6) - INTERVAL 1 DAY")
    failing = health_worker_failing(stack)
    assert failing and failing["status"] == 0, failing

    a = scheds.start("a", throttle_ms=0)
    wait_for(lambda: stack.get("/healthcheck").status == 200, timeout=10, what="healthy")
    pid = scheds.pid(a)
    rows = stack.sql("SELECT host, pid, started, last_seen FROM scheduler_heartbeat WHERE pid = %s", (pid,))
    assert len(rows) == 1, rows
    seen = rows[0][3]
    time.sleep(1.5)
    assert stack.sql("SELECT last_seen FROM scheduler_heartbeat WHERE pid = %s", (pid,))[0][0] > seen

    # A clean stop removes the heartbeat: unhealthy at once.
    scheds.stop(a)
    assert stack.sql("SELECT COUNT(*) FROM scheduler_heartbeat WHERE pid = %s", (pid,)) == [("0",)]
    assert health_worker_failing(stack)

    # kill -9 leaves it: healthy until HEARTBEAT_TTL passes, then 502.
    b = scheds.start("b", throttle_ms=0)
    wait_for(lambda: stack.get("/healthcheck").status == 200, timeout=10, what="healthy")
    scheds.kill(b)
    killed = time.time()
    assert stack.get("/healthcheck").status == 200
    ttl = int(stack.config_value("SCHEDULER", "HEARTBEAT_TTL", "10"))
    wait_for(lambda: health_worker_failing(stack), timeout=ttl + 5, what="tasks_worker to fail")
    assert time.time() - killed >= ttl - 1.5


# -- a result store that does not answer ----------------------------------------------

def running_leases(stack, task_id):
    """Running subtasks: {id: (attempts, worker, lease still valid by the DB clock)}."""
    rows = stack.sql("SELECT subtask_id, attempts, worker_id, lease_until > UTC_TIMESTAMP(6) FROM subtask "
                     "WHERE task_id = %s AND subtask_status = 1 ORDER BY subtask_id", (task_id,))
    return {int(r[0]): (int(r[1]), r[2], r[3] == "1") for r in rows}


def test_silent_result_store_never_stops_the_heart(stack, scheds, faces):
    """The result store is an S3 endpoint that accepts connections and never
    answers, with blob deletions pending (a deleted task's result): the
    running subtasks keep their leases well past 3 × LEASE_SECONDS, the
    heartbeat keeps /healthcheck at 200, and no subtask is claimed twice.
    (Before the liveness thread existed, the monitor thread hung in the
    delete: the leases lapsed after LEASE_SECONDS, the heartbeat after
    HEARTBEAT_TTL.)"""
    from estimator_env import servers
    account, _ = faces
    silent = servers.SilentServer()
    blob = None
    try:
        blob = str(uuid.uuid4())
        gone = stack.insert_task(task_type=1, status=5, account_id=account, result_id=blob)
        assert stack.delete("/2/tasks/%d" % gone).status == 204
        pending = int(stack.sql("SELECT COUNT(*) FROM orphan_blob")[0][0])
        assert pending >= 1
        a = scheds.start("a", throttle_ms=60000, storage__backend="s3", storage__s3_endpoint=silent.url,
                         storage__s3_bucket="store", storage__s3_access_key="silent",
                         storage__s3_secret_key="silent", storage__s3_timeout=120)
        tid = create_linker(stack, account)
        wait_running(stack, tid, done=0, running=2)
        first = running_leases(stack, tid)
        wait_for(lambda: silent.connections() >= 1, timeout=15, what="the cleanup to call the silent store")
        t0 = time.time()
        while time.time() - t0 < 4 * LEASE:
            h = stack.get("/healthcheck")
            assert h.status == 200, (round(time.time() - t0, 1), h.body)
            now = running_leases(stack, tid)
            assert now == {sid: (1, w, True) for sid, (_, w, _) in first.items()}, (round(time.time() - t0, 1), now)
            time.sleep(0.25)
        # The deletions are still waiting for the store, not given up or lost.
        assert int(stack.sql("SELECT COUNT(*) FROM orphan_blob")[0][0]) == pending
        assert "expired" not in scheds.log(a), scheds.log(a)
        assert count(subtasks(stack, tid), 1) == 2
    finally:
        scheds.stop_all()
        silent.close()
        stack.sql("DELETE FROM orphan_blob WHERE blob_id = %s", (blob,))


# -- a matching task: clustering ---------------------------------------------------

def clustering_result(stack, tid):
    r = stack.get("/2/tasks/%d/result" % tid)
    assert r.status == 200, r
    doc = r.json()
    assert doc["errors"] == [], doc
    return doc["result"]


def test_kill9_mid_clustering_gives_the_undisturbed_result(stack, scheds):
    import random
    import objdata as od
    rnd = random.Random(31)
    account = str(uuid.uuid4())
    faces = od.make_faces(rnd, account, od.people(rnd, 6), 4)
    od.import_rows(stack, "faces", od.strip(faces))
    content = {"objects_type": "faces", "threshold": 0.5, "filters": {"account_id": account}}

    def create():
        r = stack.post("/2/tasks/clustering", json={"account_id": account, "content": content})
        assert r.status == 202, r
        return r.json()["task_id"]

    calm = scheds.start("calm", throttle_ms=0)
    first = create()
    assert stack.wait_task(first, timeout=120)["task_status"] == 5
    undisturbed = clustering_result(stack, first)
    scheds.stop(calm)

    a = scheds.start("a", throttle_ms=60000)
    tid = create()
    running = wait_running(stack, tid, done=0, running=1)
    scheds.kill(a)
    scheds.start("b", throttle_ms=0)
    task = stack.wait_task(tid, timeout=120)
    assert task["task_status"] == 5, task
    res = clustering_result(stack, tid)
    assert sorted(map(sorted, res["clusters"])) == sorted(map(sorted, undisturbed["clusters"]))
    assert res["total_objects"] == undisturbed["total_objects"] == len(faces)
    want = od.clusters([f["face_id"] for f in faces], [f["_vec"] for f in faces], 0.5)
    assert sorted(map(sorted, res["clusters"])) == sorted(sorted(c) for c in want)
    subs = assert_each_subtask_once(stack, scheds, tid)
    interrupted = {s["id"] for s in running if s["status"] == 1}
    for s in subs:
        assert s["attempts"] == (2 if s["id"] in interrupted else 1), s
