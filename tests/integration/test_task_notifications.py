"""Delivery of notification callbacks (notification_policy of a task).

A receiver started by each test (notify_receiver.py, on 127.0.0.1, which the
session's [OUTBOUND] ALLOW admits) records the POSTs of the scheduler:

- every status change of a task reaches its task callbacks, in order, and
  every status change of its subtasks its subtask callbacks; the done one
  carries the result's URL; the delivery log shows each one delivered;
- a receiver that answers 500 first gets the notification again (same
  notification_id) and the log shows two attempts; one that always answers
  500 gets MAX_ATTEMPTS attempts, then the notification is failed; /metrics
  counts every attempt by outcome;
- a receiver that hangs holds up neither the task nor its other callbacks:
  the durations of clusterings whose receiver hangs are printed next to
  those of the same clusterings whose receiver answers at once, with the
  ratio of their medians (no timed assertion beyond a sanity bound far
  below the hang);
- a scheduler killed while a receiver holds its POST leaves the notification
  to the next scheduler, which sends it again once the lease ran out;
- credentials reach the receiver and nothing else: not the replies, not the logs.
"""
import base64
import os
import random
import statistics
import time

import pytest

import objdata as od
from notify_receiver import Receiver, gc_body
from test_api_metrics import parse, scrape, value

TOKEN = "tok-5b1f0e7d-notify"
PASSWORD = "pw-93c2a4-notify"
API_KEY = "key-7e11aa-notify"
HANG_PEOPLE = 2000     # x 10 faces, the most a clustering takes (limit <= 20000): about a second
HANG_RUNS = 3          # clusterings of each kind, alternating (a hanging one holds a delivery thread of 4)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def callback(url, **extra):
    return dict({"type": "http", "url": url}, **extra)


def create(stack, body, task_type="gc"):
    r = stack.post("/2/tasks/" + task_type, json=body)
    assert r.status == 202, r
    return r.json()["task_id"]


def notifications(stack, task_id):
    r = stack.get("/2/tasks/%d/notifications" % task_id, params={"page_size": 100})
    assert r.status == 200, r
    return r.json()["notifications"]


def wait_log(stack, task_id, done, timeout=30):
    """The task's delivery log once done(log) holds."""
    deadline = time.monotonic() + timeout
    while True:
        log = notifications(stack, task_id)
        if done(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


def duration(task):
    from datetime import datetime
    return (datetime.fromisoformat(task["end_time"]) - datetime.fromisoformat(task["create_time"])).total_seconds()


def test_every_status_change_arrives_in_order(stack, account_id, receiver):
    policy = {"task_callbacks": [callback(receiver.url + "/ok/task")],
              "subtask_callbacks": [callback(receiver.url + "/ok/sub")]}
    task_id = create(stack, gc_body(account_id, policy))
    task = stack.wait_task(task_id)
    assert task["task_status"] == 5, task
    got = receiver.wait_for("/ok/task", 3)
    assert [b["task_status"] for b in got] == [1, 4, 5], got
    assert all(b["event"] == "task_status" and b["task_id"] == task_id and b["task_type"] == task["task_type"]
               for b in got), got
    ids = [b["notification_id"] for b in got]
    assert ids == sorted(ids), ids
    last = got[-1]
    assert last["result_id"] == task["result_id"], last
    assert last["result_url"].endswith("/2/tasks/%d/result" % task_id), last
    assert last["count_task_parts_done"] == last["count_task_parts_all"] == task["count_task_parts_all"], last
    assert last["end_time"] and last["create_time"], last
    subs = stack.get("/2/tasks/%d/subtasks" % task_id).json()["subtasks"]
    got_sub = receiver.wait_for("/ok/sub", 2 * len(subs))
    for s in subs:
        seq = [b["subtask_status"] for b in got_sub if b["subtask_id"] == s["subtask_id"]]
        assert seq == [1, 4], (s, got_sub)
    log = wait_log(stack, task_id, lambda l: l and all(n["state"] == "delivered" for n in l))
    assert [n["status"] for n in log if n["event"] == "task_status"] == [1, 4, 5], log
    assert all(n["state"] == "delivered" and n["attempts"] == 1 and n["http_status"] == 200 for n in log), log


def test_cancel_by_the_api_is_told(stack, account_id, receiver):
    task_id = stack.insert_task(task_type=2, status=1, account_id=account_id)
    stack.request("PUT", "/2/tasks/%d/notification_policy" % task_id,
                  json={"task_callbacks": [callback(receiver.url + "/ok/cancel")]})
    assert stack.patch("/2/tasks/%d" % task_id).status == 202
    got = receiver.wait_for("/ok/cancel", 1)
    assert [b["task_status"] for b in got] == [2], got
    wait_log(stack, task_id, lambda l: [n["state"] for n in l] == ["delivered"])


def deliveries(stack):
    """luna_tasks_notification_deliveries_total of gc tasks, by outcome."""
    s = parse(scrape(stack))
    return {o: value(s, "luna_tasks_notification_deliveries_total", type="gc", outcome=o)
            for o in ("delivered", "retried", "failed")}


def test_a_failing_receiver_gets_the_retry(stack, account_id, receiver):
    before = deliveries(stack)
    task_id = create(stack, gc_body(account_id, {"task_callbacks": [callback(receiver.url + "/flaky/task")]}))
    stack.wait_task(task_id)
    got = receiver.wait_for("/flaky/task", 3, status=200)
    assert [b["task_status"] for b in got] == [1, 4, 5], got
    every = receiver.bodies("/flaky/task")
    # Each notification came twice, the retry after the 500, and the next one only after it.
    assert [b["notification_id"] for b in every] == [i for b in got for i in (b["notification_id"],) * 2], every
    log = wait_log(stack, task_id, lambda l: len(l) == 3 and all(n["state"] == "delivered" for n in l))
    assert all(n["attempts"] == 2 and n["http_status"] == 200 and n["error"] is None for n in log), log
    # /metrics counted each attempt (the earlier tests' deliveries are all recorded).
    after = deliveries(stack)
    assert {o: after[o] - before[o] for o in after} == {"delivered": 3, "retried": 3, "failed": 0}, (before, after)


def test_a_receiver_that_keeps_failing_is_given_up(stack, account_id, receiver):
    """[NOTIFICATIONS] MAX_ATTEMPTS (5) attempts, 1 + 2 + 4 + 8 s apart, then the
    notification is failed; the log says why and /metrics counts each attempt."""
    before = deliveries(stack)
    task_id = stack.insert_task(task_type=4, status=1, account_id=account_id)
    r = stack.request("PUT", "/2/tasks/%d/notification_policy" % task_id,
                      json={"task_callbacks": [callback(receiver.url + "/fail/task")]})
    assert r.status == 204, r
    assert stack.patch("/2/tasks/%d" % task_id).status == 202
    log = wait_log(stack, task_id, lambda l: l and l[0]["state"] == "failed", timeout=60)
    assert len(log) == 1 and log[0]["attempts"] == 5 and log[0]["http_status"] == 500, log
    assert log[0]["error"].endswith("answered HTTP 500") and log[0]["next_attempt_time"] is None, log
    assert len(receiver.bodies("/fail/task")) == 5
    after = deliveries(stack)
    assert {o: after[o] - before[o] for o in after} == {"delivered": 0, "retried": 4, "failed": 1}, (before, after)


def clustering_body(account_id, policy):
    return {"account_id": account_id, "notification_policy": policy,
            "content": {"objects_type": "faces", "threshold": 0.8, "filters": {"account_id": account_id}}}


def test_a_hanging_receiver_does_not_slow_the_task(stack, account_id, receiver):
    """Clusterings of the same faces (long enough that polling jitter does not
    dominate), alternating between a policy whose task callback answers at once
    and the same policy whose task callback hangs (each hanging task holds one
    of the [NOTIFICATIONS] THREADS = 4 delivery threads); the other callback of
    every task is told meanwhile by the remaining thread."""
    rnd = random.Random(23)
    od.import_rows(stack, "faces", od.strip(od.make_faces(rnd, account_id, od.people(rnd, HANG_PEOPLE), 10)))
    runs = {"/ok/task": [], "/hang/task": []}
    for _ in range(HANG_RUNS):
        for path in runs:
            policy = {"task_callbacks": [callback(receiver.url + path, params={"timeout": 60}),
                                         callback(receiver.url + "/ok/beside")]}
            runs[path].append(stack.wait_task(create(stack, clustering_body(account_id, policy), "clustering"),
                                              timeout=120))
    quick, hung = runs["/ok/task"], runs["/hang/task"]
    assert all(t["task_status"] == 5 for t in quick + hung), quick + hung
    median = lambda tasks: statistics.median(duration(t) for t in tasks)
    print("\nclustering of %d faces, task durations (create to end) with a receiver that answers at once %s s "
          "(median %.3f), with one that hangs %s s (median %.3f), ratio hanging/answering %.3f"
          % (HANG_PEOPLE * 10, ["%.3f" % duration(t) for t in quick], median(quick),
             ["%.3f" % duration(t) for t in hung], median(hung), median(hung) / median(quick)))
    # The hang lasts until the receiver is closed (minutes): a task that waited
    # for it could not be done this soon.
    assert max(duration(t) for t in hung) < 30, hung
    # Each hanging task's first notification reached the receiver, which still holds it.
    assert receiver.bodies("/hang/task", status=200) == []
    assert len(receiver.wait_for("/hang/task", len(hung))) == len(hung)
    beside = receiver.wait_for("/ok/beside", 3 * len(quick + hung))
    for t in quick + hung:
        assert [b["task_status"] for b in beside if b["task_id"] == t["task_id"]] == [1, 4, 5], beside
    receiver.release.set()
    got = receiver.wait_for("/hang/task", 3 * len(hung), timeout=60, status=200)
    for t in hung:
        assert [b["task_status"] for b in got if b["task_id"] == t["task_id"]] == [1, 4, 5], got


def test_a_scheduler_killed_mid_delivery_leaves_it_to_another(stack, account_id, receiver):
    # The lease of an attempt is its timeout and 10 s; the test shortens the
    # dead scheduler's lease instead of waiting for it.
    policy = {"task_callbacks": [callback(receiver.url + "/stall/task", params={"timeout": 30})]}
    task_id = create(stack, gc_body(account_id, policy))
    first = receiver.wait_for("/stall/task", 1)[0]
    stack.kill_scheduler()
    try:
        stack.sql("UPDATE notification SET lease_until = UTC_TIMESTAMP(6) + INTERVAL 1 SECOND "
                  "WHERE notification_id = %s AND state = 0 AND lease_until IS NOT NULL", (first["notification_id"],))
        assert stack.sql("SELECT attempts FROM notification WHERE notification_id = %s",
                         (first["notification_id"],)) == [("0",)]
        receiver.release.set()
    finally:
        stack.start_scheduler()
    stack.wait_task(task_id)
    receiver.wait_for("/stall/task", 4)
    every = wait_log(stack, task_id, lambda l: len(l) == 3 and all(n["state"] == "delivered" for n in l)) and \
        receiver.bodies("/stall/task")
    ids = [b["notification_id"] for b in every]
    # The held one twice (the dead scheduler's attempt, then the next one's), then the others in order.
    assert ids[:2] == [first["notification_id"]] * 2 and ids == sorted(ids), every
    assert [b["task_status"] for b in every[1:]] == [1, 4, 5], every
    log = wait_log(stack, task_id, lambda l: len(l) == 3 and all(n["state"] == "delivered" for n in l))
    # The killed attempt was never recorded: the one that delivered counts as the first.
    assert [n["attempts"] for n in log] == [1, 1, 1], log


def log_text(stack, name):
    with open(os.path.join(stack.dir, name), errors="replace") as f:
        return f.read()


def test_credentials_reach_the_receiver_only(stack, account_id, receiver):
    policy = {"task_callbacks": [
        callback(receiver.url + "/ok/bearer", authorization={"type": "bearer", "token": TOKEN},
                 params={"headers": {"X-Api-Key": API_KEY, "X-Origin": "tests"}}),
        callback(receiver.url + "/ok/basic", authorization={"type": "basic", "login": "tasks", "password": PASSWORD}),
    ]}
    task_id = create(stack, gc_body(account_id, policy))
    stack.wait_task(task_id)
    receiver.wait_for("/ok/bearer", 3)
    receiver.wait_for("/ok/basic", 3)
    h = receiver.headers("/ok/bearer")[0]
    assert h["authorization"] == "Bearer " + TOKEN and h["x-api-key"] == API_KEY and h["x-origin"] == "tests", h
    assert h["content-type"] == "application/json", h
    basic = receiver.headers("/ok/basic")[0]["authorization"]
    assert basic == "Basic " + base64.b64encode(("tasks:" + PASSWORD).encode()).decode(), basic
    r = stack.get("/2/tasks/%d/notification_policy" % task_id)
    assert r.status == 200, r
    shown = r.json()["task_callbacks"]
    assert shown[0]["authorization"] == {"type": "bearer", "token": "********"}, shown
    assert shown[0]["params"]["headers"] == {"X-Api-Key": "********", "X-Origin": "tests"}, shown
    assert shown[1]["authorization"] == {"type": "basic", "login": "tasks", "password": "********"}, shown
    replies = [r.body, stack.get("/2/tasks/%d" % task_id).body,
               stack.get("/2/tasks/%d/notifications" % task_id).body]
    logs = [log_text(stack, "api.log"), log_text(stack, "scheduler.log")]
    for secret in (TOKEN, PASSWORD, API_KEY):
        assert not any(secret.encode() in b for b in replies), secret
        assert not any(secret in t for t in logs), secret


def queue_looks(stack, seconds):
    """The looks at the notification queue of the schedulers' delivery
    threads during seconds, from MariaDB's general log: (count, connections
    that made them, the window's length in seconds)."""
    stack.sql("SET GLOBAL log_output = 'TABLE'; TRUNCATE mysql.general_log; SET GLOBAL general_log = 1")
    started = time.monotonic()
    try:
        time.sleep(seconds)
    finally:
        stack.sql("SET GLOBAL general_log = 0")
    window = time.monotonic() - started
    rows = stack.sql("SELECT thread_id FROM mysql.general_log WHERE command_type IN ('Query', 'Execute') "
                     "AND argument LIKE '%FROM notification n JOIN task_callback c%'")
    stack.sql("TRUNCATE mysql.general_log")
    return len(rows), {r[0] for r in rows}, window


def test_an_idle_queue_is_looked_at_by_one_thread_per_scheduler(stack):
    """With nothing queued, one delivery thread of each scheduler looks at the
    queue (the others wait until a look finds something), and no more often
    than every POLL_INTERVAL_MS; before, each of the THREADS threads looked
    every POLL_INTERVAL_MS."""
    assert int(stack.config_value("NOTIFICATIONS", "THREADS", "4")) > 1
    deadline = time.monotonic() + 120
    while stack.sql("SELECT COUNT(*) FROM notification WHERE state = 0")[0][0] != "0":
        assert time.monotonic() < deadline, "the notification queue does not drain"
        time.sleep(0.5)
    schedulers = len(stack.scheduler_names())
    assert schedulers >= 1
    looks, connections, window = queue_looks(stack, 4)
    assert stack.sql("SELECT COUNT(*) FROM notification WHERE state = 0")[0][0] == "0"
    poll_ms = int(stack.config_value("SCHEDULER", "POLL_INTERVAL_MS", "200"))
    print("idle queue: %d looks in %.1f s by %d connection(s) of %d scheduler(s)"
          % (looks, window, len(connections), schedulers))
    assert 1 <= len(connections) <= schedulers, connections
    assert looks <= schedulers * (window * 1000 / poll_ms + 2), looks
