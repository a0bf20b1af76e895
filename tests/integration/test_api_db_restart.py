"""MariaDB stopped and started under API load: requests during the outage get a
JSON 500 within the configured timeouts (never HTML, never a hang, never a dead
api process), and afterwards the same processes serve again; no task is lost."""

import threading
import time
import uuid

import pytest

from luna import REQUEST_ID_RE, assert_json, task_body

pytestmark = pytest.mark.usefixtures("no_scheduler")

# [LUNA_TASKS_DB] CONNECT_TIMEOUT is 5 s; an answer may take that plus some slack.
MAX_ANSWER_SECONDS = 15


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last is True:
            return
        time.sleep(0.2)
    raise AssertionError("%s did not happen in %ss (last: %r)" % (what, timeout, last))


class Load:
    """Threads that keep reading and creating tasks and record every answer."""

    def __init__(self, stack, account_id, task_id, threads=3):
        self.stack = stack
        self.account_id = account_id
        self.task_id = task_id
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers = []        # (t0, seconds, method, path, status, content type, body, request id)
        self.created = []
        self.exceptions = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, i):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                t0 = time.time()
                if n % 3 == 0:
                    r = self.stack.post("/2/tasks/gc", json=task_body("gc", self.account_id),
                                        timeout=MAX_ANSWER_SECONDS + 30)
                    if r.status == 202:
                        with self.lock:
                            self.created.append(r.json()["task_id"])
                elif n % 3 == 1:
                    r = self.stack.get("/2/tasks/%d" % self.task_id, timeout=MAX_ANSWER_SECONDS + 30)
                else:
                    r = self.stack.get("/2/tasks", params={"account_id": self.account_id, "page_size": 5},
                                       timeout=MAX_ANSWER_SECONDS + 30)
                with self.lock:
                    self.answers.append((t0, time.time() - t0, r.method, r.path, r.status, r.content_type,
                                         r.body, r.headers.get("luna-request-id", "")))
            except Exception as e:  # a timeout or a dropped connection is a failure
                with self.lock:
                    self.exceptions.append(repr(e))
            time.sleep(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(MAX_ANSWER_SECONDS + 40)

    def since(self, t):
        with self.lock:
            return [a for a in self.answers if a[0] >= t]


def check_answer(a):
    t0, secs, method, path, status, ctype, body, rid = a
    import json
    assert status in (200, 202, 500), a[:6] + (body[:300],)
    assert ctype == "application/json", a[:6] + (body[:300],)
    assert REQUEST_ID_RE.match(rid), a[:6]
    doc = json.loads(body)
    if status == 500:
        assert set(doc) >= {"error_code", "desc", "detail", "link"}, doc
        assert doc["error_code"] == 10017, doc
    assert secs < MAX_ANSWER_SECONDS, a[:6]


def test_db_restart_under_load(stack):
    acc = str(uuid.uuid4())
    r = stack.post("/2/tasks/gc", json=task_body("gc", acc))
    tid = assert_json(r, 202)["task_id"]
    pids = stack.api_pids()
    t_begin = time.time()
    with Load(stack, acc, tid) as load:
        time.sleep(1.5)
        stack.stop_db()
        t_down = time.time()
        try:
            # During the outage every answer is a JSON 500.
            wait_until(lambda: sum(1 for a in load.since(time.time() - 1.0) if a[4] == 500) >= 3 or None,
                       MAX_ANSWER_SECONDS + 10, "JSON 500 answers during the outage")
            time.sleep(2)
        finally:
            t_restart = time.time()
            stack.start_db()
        t_start = time.time()

        def served_again():
            after = sorted(load.since(t_start), key=lambda a: a[0])
            return (len(after) >= 6 and all(a[4] in (200, 202) for a in after[-6:])) or None

        # Back without restarting anything.
        wait_until(served_again, 60, "successful answers after the restart")
        time.sleep(1)
    assert not load.exceptions, load.exceptions[:5]
    assert load.answers
    for a in load.answers:
        check_answer(a)
    during = [a for a in load.answers if t_down < a[0] and a[0] + a[1] < t_restart]
    assert during, "no request ran during the outage"
    assert all(a[4] == 500 for a in during), (
        "answers that started after the DB was down (+%.3f s) and ended before its restart (+%.3f s): %r"
        % (t_down - t_begin, t_restart - t_begin,
           [(round(a[0] - t_begin, 3), round(a[1], 3)) + a[2:6] + (a[6][:200],) for a in during if a[4] != 500][:10]))
    assert stack.api_pids() == pids
    for pid in pids:
        assert open("/proc/%d/cmdline" % pid, "rb").read().find(b"luna-tasks-api") >= 0
    # No accepted task is lost.
    created = set(load.created)
    assert created
    listed = set()
    page = 1
    while True:
        body = assert_json(stack.get("/2/tasks", params={"account_id": acc, "page": page, "page_size": 100}))
        if not body["tasks"]:
            break
        listed |= {t["task_id"] for t in body["tasks"]}
        page += 1
    assert created | {tid} <= listed


def test_healthcheck_reports_the_database(stack):
    stack.stop_db()
    try:
        t0 = time.time()
        r = stack.get("/healthcheck", timeout=MAX_ANSWER_SECONDS + 30)
        assert time.time() - t0 < MAX_ANSWER_SECONDS
        body = assert_json(r, 502)
        comps = {c["component"]: c for c in body["errors"]}
        db = comps["tasks_db"]
        assert db["status"] == 0, db
        assert db["error"]["error_code"] == 10017, db
        assert db["error"]["link"].endswith("code-10017"), db
        assert_json(stack.get("/2/tasks/1"), 500)
    finally:
        stack.start_db()
    wait_until(lambda: stack.get("/2/tasks", params={"page_size": 1}).status == 200 or None, 60,
               "GET /2/tasks after the restart")
    wait_until(lambda: stack.get("/version").status == 200 or None, 10, "GET /version")
