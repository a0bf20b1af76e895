"""GET /metrics: the Prometheus text format as Prometheus's own parser reads it
(`promtool check metrics`, Debian package prometheus), request counters shared
by the whole api pool, and the database's figures against the database."""

import os
import re
import subprocess
import threading
import time
import uuid

from luna import ROOT, TASK_TYPES, task_body

CONTENT_TYPE = "text/plain; version=0.0.4"
TYPE_NAMES = {v: k for k, v in TASK_TYPES.items()}
TASK_STATUSES = ["pending", "in_progress", "cancelled", "failed", "collect_results", "done"]
SUBTASK_STATUSES = ["pending", "in_progress", "cancelled", "failed", "done"]
SERIES_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(stack):
    r = stack.get("/metrics")
    assert r.status == 200, r
    assert r.headers.get("content-type") == CONTENT_TYPE, r.headers
    return r.text


def parse(text):
    """{(name, frozenset of (label, value)): float} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES_RE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples, path, status="200"):
    return value(samples, "luna_tasks_request_count_total", path=path, status_code=status)


def promtool(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def test_metrics_is_prometheus_text_promtool_accepts(stack):
    stack.get("/version")
    stack.get("/2/tasks/0")
    stack.get("/no/such/route/17")
    text = scrape(stack)
    rc, said = promtool(text)
    assert rc == 0 and not said.strip(), said
    families = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    helps = re.findall(r"^# HELP (\S+) ", text, re.M)
    assert [f for f, _ in families] == helps, "every family has HELP then TYPE"
    assert len(set(helps)) == len(helps), "one group per family"
    for name, kind in families:
        assert name.startswith("luna_tasks_"), name
        assert (kind == "counter") == name.endswith("_total"), (name, kind)
    assert dict(families) == {
        "luna_tasks_request_count_total": "counter",
        "luna_tasks_request_duration_seconds": "histogram",
        "luna_tasks_tasks": "gauge",
        "luna_tasks_subtasks": "gauge",
        "luna_tasks_oldest_pending_subtask_age_seconds": "gauge",
        "luna_tasks_subtask_duration_seconds": "histogram",
        "luna_tasks_lease_expiries_total": "counter",
        "luna_tasks_subtask_retries_total": "counter",
        "luna_tasks_schedule_runs_total": "counter",
        "luna_tasks_scheduler_heartbeat_age_seconds": "gauge",
        "luna_tasks_schedulers_alive": "gauge",
        "luna_tasks_schedules": "gauge",
        "luna_tasks_notification_deliveries_total": "counter",
        "luna_tasks_notifications_queued": "gauge",
        "luna_tasks_database_up": "gauge",
    }
    s = parse(text)
    assert value(s, "luna_tasks_database_up") == 1
    # Paths are route templates; a request no route answers is counted
    # without its path (a client must not be able to add series at will).
    assert requests_of(s, "unmatched", "404") >= 1
    assert requests_of(s, "GET:/2/tasks/{task_id}", "404") >= 1
    paths = {dict(k[1]).get("path") for k in s} - {None}
    assert not [p for p in paths if "/no/such" in p or "/2/tasks/0" in p], paths


def test_promtool_refuses_a_broken_exposition():
    """The parser the tests rely on does fail: a sample whose family changed
    type, and a counter without _total."""
    rc, said = promtool("# TYPE x_total counter\nx_total 1\n# TYPE x_total gauge\nx_total 2\n")
    assert rc != 0, said
    rc, said = promtool("# HELP y a counter\n# TYPE y counter\ny 1\n")
    assert rc != 0 and "_total" in said, said


def test_histogram_series_agree_with_counters(stack):
    for _ in range(3):
        stack.get("/2/tasks/count")
    s = parse(scrape(stack))
    series = {dict(k[1])["path"] + " " + dict(k[1])["status_code"]
              for k in s if k[0] == "luna_tasks_request_count_total"}
    assert "GET:/2/tasks/count 200" in series
    for one in series:
        path, status = one.split(" ")
        count = requests_of(s, path, status)
        assert value(s, "luna_tasks_request_duration_seconds_count", path=path, status_code=status) == count
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in s.items()
                          if k[0] == "luna_tasks_request_duration_seconds_bucket"
                          and dict(k[1])["path"] == path and dict(k[1])["status_code"] == status))
        assert buckets[-1] == (float("inf"), count)
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
        assert value(s, "luna_tasks_request_duration_seconds_sum", path=path, status_code=status) > 0


def answered_by(stack, request_ids):
    """The pids of the api processes whose log names these request ids."""
    pids = set()
    with open(stack.dir + "/api.log", errors="replace") as f:
        for line in f:
            m = re.search(r"luna-tasks-api\[(\d+)\] INFO \[([^\]]+)\]: GET /2/tasks/errors/count ", line)
            if m and m.group(2) in request_ids:
                pids.add(m.group(1))
    return pids


def test_request_counter_counts_the_whole_pool(stack):
    """N requests from parallel clients, answered by several api processes:
    the counter grows by exactly N, whichever process answers the scrapes."""
    n, clients = 120, 6
    path = "GET:/2/tasks/errors/count"
    before = requests_of(parse(scrape(stack)), path)
    ids, errors = [], []
    lock = threading.Lock()

    def client(k):
        for i in range(n // clients):
            rid = "%d,%s" % (int(time.time()), uuid.uuid4())
            r = stack.get("/2/tasks/errors/count", headers={"Luna-Request-Id": rid})
            with lock:
                (ids if r.status == 200 else errors).append(rid if r.status == 200 else r)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(ids) == n
    # Several scrapes, likely answered by different processes: all agree.
    for _ in range(4):
        assert requests_of(parse(scrape(stack)), path) == before + n
    pids = answered_by(stack, set(ids))
    assert len(pids) >= 2, "the requests were answered by one process only: %s" % pids


def db_counts(stack):
    tasks = {(TYPE_NAMES[int(t)], TASK_STATUSES[int(s)]): int(c) for t, s, c in stack.sql(
        "SELECT task_type, task_status, COUNT(*) FROM task GROUP BY task_type, task_status")}
    subtasks = {(TYPE_NAMES[int(t)], SUBTASK_STATUSES[int(s)]): int(c) for t, s, c in stack.sql(
        "SELECT t.task_type, s.subtask_status, COUNT(*) FROM subtask s JOIN task t ON t.task_id = s.task_id "
        "GROUP BY t.task_type, s.subtask_status")}
    return tasks, subtasks


def metric_counts(samples, name, statuses):
    out = {}
    for t in TASK_TYPES:
        for st in statuses:
            v = samples.get((name, frozenset({("type", t), ("status", st)})))
            assert v is not None, "%s{type=%s,status=%s} missing" % (name, t, st)
            if v:
                out[(t, st)] = int(v)
    return out


def scrape_matching_db(stack, tries=20):
    """A scrape taken while the database did not change (its counts read just
    before and just after it are equal); its samples and those counts."""
    for _ in range(tries):
        first = db_counts(stack)
        s = parse(scrape(stack))
        if db_counts(stack) == first:
            return s, first
        time.sleep(0.5)
    raise AssertionError("the database kept changing during every scrape")


def wait_metric(stack, check, timeout=60):
    deadline = time.time() + timeout
    while True:
        s = parse(scrape(stack))
        if check(s) or time.time() > deadline:
            return s
        time.sleep(0.3)


def test_task_and_subtask_counts_match_the_database(stack):
    account = str(uuid.uuid4())
    made = []
    # A known workload of rows no scheduler picks up (planned, ended).
    for type_id, status, n in ((1, 5, 3), (4, 3, 2), (7, 2, 1), (8, 5, 2)):
        for _ in range(n):
            tid = stack.insert_task(task_type=type_id, status=status, account_id=account)
            made.append(tid)
            stack.insert_subtask(tid, status={5: 4, 3: 3, 2: 2}[status])
    samples, (tasks, subtasks) = scrape_matching_db(stack)
    assert metric_counts(samples, "luna_tasks_tasks", TASK_STATUSES) == tasks
    assert metric_counts(samples, "luna_tasks_subtasks", SUBTASK_STATUSES) == subtasks
    assert tasks[("linker", "done")] >= 3 and tasks[("gc", "failed")] >= 2
    for tid in made:
        assert stack.delete("/2/tasks/%d" % tid).status == 204
    after, (tasks2, subtasks2) = scrape_matching_db(stack)
    assert metric_counts(after, "luna_tasks_tasks", TASK_STATUSES) == tasks2
    assert value(after, "luna_tasks_tasks", type="linker", status="done") == \
        value(samples, "luna_tasks_tasks", type="linker", status="done") - 3


def test_subtask_durations_count_every_subtask_run(stack):
    before = parse(scrape(stack))
    account = str(uuid.uuid4())
    ids = []
    for _ in range(2):
        r = stack.post("/2/tasks/gc", json=task_body("gc", account))
        assert r.status == 202, r
        ids.append(r.json()["task_id"])
    for tid in ids:
        stack.wait_task(tid)
    ran = int(stack.sql(
        "SELECT COUNT(*) FROM subtask WHERE task_id IN (%s, %s) AND subtask_status IN (3, 4) "
        "AND content NOT LIKE '{\"stage\":%%'", ids)[0][0])
    assert ran >= 2
    name = "luna_tasks_subtask_duration_seconds"
    after = parse(scrape(stack))
    grown = value(after, name + "_count", type="gc") - value(before, name + "_count", type="gc")
    assert grown == ran
    assert value(after, name + "_bucket", type="gc", le="+Inf") == value(after, name + "_count", type="gc")
    assert value(after, name + "_sum", type="gc") > value(before, name + "_sum", type="gc")
    db = stack.sql("SELECT label, value FROM metric_counter WHERE metric = 'subtask_duration' AND task_type = 4")
    assert sum(float(v) for label, v in db if label != "sum") == value(after, name + "_count", type="gc")


def test_lease_expiries_and_retries_are_counted(stack):
    """Two subtasks whose worker died (their lease ran out): one with attempts
    left goes back to pending (a retry), one without fails."""
    before = parse(scrape(stack))
    account = str(uuid.uuid4())
    tid = stack.insert_task(task_type=7, status=1, account_id=account, parts_all=2)
    for attempts in (1, 99):
        sid = stack.insert_subtask(tid, status=1)
        stack.sql("UPDATE subtask SET worker_id = 'gone:1', attempts = %s, "
                  "lease_until = UTC_TIMESTAMP(6) - INTERVAL 5 SECOND WHERE subtask_id = %s", (attempts, sid))
    exp = "luna_tasks_lease_expiries_total"
    after = wait_metric(stack, lambda s: value(s, exp, type="roc", outcome="failed")
                        > value(before, exp, type="roc", outcome="failed")
                        and value(s, exp, type="roc", outcome="retried")
                        > value(before, exp, type="roc", outcome="retried"))
    assert stack.delete("/2/tasks/%d" % tid).status == 204
    for outcome in ("failed", "retried"):
        assert value(after, exp, type="roc", outcome=outcome) == \
            value(before, exp, type="roc", outcome=outcome) + 1, outcome
    assert value(after, exp, type="roc", outcome="cancelled") == value(before, exp, type="roc", outcome="cancelled")
    ret = "luna_tasks_subtask_retries_total"
    assert value(after, ret, type="roc", reason="lease_expired") == \
        value(before, ret, type="roc", reason="lease_expired") + 1


def test_oldest_pending_subtask_age(stack):
    account = str(uuid.uuid4())
    tid = stack.insert_task(task_type=6, status=1, account_id=account)
    # Not claimable for an hour (a retry's delay): it stays pending.
    stack.sql("INSERT INTO subtask (task_id, subtask_status, content, create_time, lease_until) "
              "VALUES (%s, 0, '{}', '2001-02-03 04:05:06', UTC_TIMESTAMP(6) + INTERVAL 1 HOUR)", (tid,))
    try:
        want = float(stack.sql("SELECT TIMESTAMPDIFF(MICROSECOND, '2001-02-03 04:05:06', UTC_TIMESTAMP(6))")[0][0])
        got = value(parse(scrape(stack)), "luna_tasks_oldest_pending_subtask_age_seconds", type="cross_match")
        assert want / 1e6 <= got <= want / 1e6 + 30, (want, got)
    finally:
        assert stack.delete("/2/tasks/%d" % tid).status == 204


def test_scheduler_heartbeats(stack):
    s = parse(scrape(stack))
    rows = stack.sql("SELECT worker_id, host, pid FROM scheduler_heartbeat")
    seen = {(dict(k[1])["worker_id"], dict(k[1])["host"], dict(k[1])["pid"]): v for k, v in s.items()
            if k[0] == "luna_tasks_scheduler_heartbeat_age_seconds"}
    assert set(seen) == set(rows), (seen, rows)
    assert value(s, "luna_tasks_schedulers_alive") >= 1
    assert all(0 <= v < 3600 * 24 for v in seen.values()), seen


def test_metrics_without_the_database(stack):
    """The database away: the request counters are still served, the
    database's families are left out, and database_up says 0."""
    stack.stop_db()
    try:
        text = scrape(stack)
    finally:
        stack.start_db()
    rc, said = promtool(text)
    assert rc == 0, said
    s = parse(text)
    assert value(s, "luna_tasks_database_up") == 0
    assert requests_of(s, "GET:/metrics") >= 1
    assert "luna_tasks_tasks{" not in text


def test_migration_gives_subtasks_their_task_type(stack):
    """Subtasks get their task's type: rows inserted after migration 009 by its
    trigger, rows of before it (type 0 here) by the migration, which can run
    again without harm."""
    account = str(uuid.uuid4())
    tid = stack.insert_task(task_type=8, status=5, account_id=account)
    new = stack.insert_subtask(tid, status=4)
    old = stack.insert_subtask(tid, status=4)
    try:
        assert stack.sql("SELECT task_type FROM subtask WHERE subtask_id = %s", (new,)) == [("8",)]
        stack.sql("UPDATE subtask SET task_type = 0 WHERE subtask_id = %s", (old,))
        with open(os.path.join(ROOT, "sql", "tasks", "009_metric_counter.sql")) as f:
            stack.sql(f.read())
        assert stack.sql("SELECT subtask_id, task_type FROM subtask WHERE task_id = %s ORDER BY subtask_id",
                         (tid,)) == [(str(new), "8"), (str(old), "8")]
    finally:
        assert stack.delete("/2/tasks/%d" % tid).status == 204


def add_to_counter(stack, metric, task_type, label, shard, amount):
    stack.sql("INSERT INTO metric_counter (metric, task_type, label, shard, value) VALUES (%s, %s, %s, %s, %s) "
              "ON DUPLICATE KEY UPDATE value = value + VALUES(value)", (metric, task_type, label, shard, amount))


def test_counter_shards_are_summed(stack):
    """Every connection of the schedulers adds to its own row of a counter
    (migration 011: shard = CONNECTION_ID() MOD 32); /metrics shows their sum,
    and the migration can run again without changing a count."""
    name, roc = "luna_tasks_lease_expiries_total", TASK_TYPES["roc"]
    before = value(parse(scrape(stack)), name, type="roc", outcome="cancelled")
    added = {0: 1, 7: 2, 31: 4}
    for shard, amount in added.items():
        add_to_counter(stack, "lease_expiries", roc, "cancelled", shard, amount)
    try:
        assert value(parse(scrape(stack)), name, type="roc", outcome="cancelled") == before + 7
        with open(os.path.join(ROOT, "sql", "tasks", "011_metric_counter_shards.sql")) as f:
            stack.sql(f.read())
        assert value(parse(scrape(stack)), name, type="roc", outcome="cancelled") == before + 7
    finally:
        for shard, amount in added.items():
            add_to_counter(stack, "lease_expiries", roc, "cancelled", shard, -amount)
    assert value(parse(scrape(stack)), name, type="roc", outcome="cancelled") == before

