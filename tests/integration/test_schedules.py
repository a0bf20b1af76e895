"""Schedules fire (extension): with two schedulers running, a schedule every
minute of each task type gives exactly one task per due time (two due times:
two tasks each), within the minute, linked back by schedule_id; a stopped or
deleted schedule gives none; after an outage a schedule runs once and counts
the due times it missed; a handlers service that is slow to answer an
estimator's handler lookup holds no schedule row meanwhile. The schedules of test_api_schedules.py are about
the API alone."""

import datetime
import os
import threading
import time
import uuid

import pytest

from luna import TASK_TYPES, assert_json, task_body
from test_api_create import clustering_done, known_handlers  # noqa: F401 (fixtures)
from test_api_metrics import parse, scrape, value

ROOT = "/2/tasks/schedules"

pytestmark = pytest.mark.usefixtures("known_handlers", "two_schedulers")


@pytest.fixture(scope="module")
def two_schedulers(stack):
    """s1 and a second scheduler; schedules of earlier modules stopped, and
    this module's stopped when it ends."""
    stack.sql("UPDATE schedule SET status = 0, next_run_time = NULL")
    if "s1" not in stack.scheduler_names():
        stack.start_scheduler()
    stack.start_scheduler("sched2")
    yield
    stack.sql("UPDATE schedule SET status = 0, next_run_time = NULL")
    stack.stop_scheduler("sched2")


def create(stack, body):
    return assert_json(stack.post(ROOT, json=body), 201)["schedule_id"]


def schedule(stack, sid):
    return assert_json(stack.get("%s/%d" % (ROOT, sid)))


def tasks_of(stack, sid):
    out = assert_json(stack.get("/2/tasks", params={"schedule_id": sid, "page_size": 100}))["tasks"]
    count = assert_json(stack.get("/2/tasks/count", params={"schedule_id": sid}))["count"]
    assert count == len(out), (count, out)
    return out


def wait_runs(stack, ids, runs, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(schedule(stack, sid)["runs"] >= runs for sid in ids):
            return
        time.sleep(0.5)
    raise AssertionError("not every schedule ran %d times within %d s: %r"
                         % (runs, timeout, [schedule(stack, sid) for sid in ids]))


def test_every_minute_twice_with_two_schedulers(stack, clustering_done):  # noqa: F811
    acc, source = clustering_done
    ids = {}
    for name, type_id in TASK_TYPES.items():
        account = acc if name == "reporter" else str(uuid.uuid4())
        ids[name] = create(stack, {"task_type": type_id, "cron": "* * * * *",
                                   "task": task_body(name, account, source_task_id=source, netdisk=stack.netdisk)})
    gc = task_body("gc", str(uuid.uuid4()))
    stopped = create(stack, {"task_type": 4, "task": gc, "cron": "* * * * *", "create_stopped": True})
    deleted = create(stack, {"task_type": 4, "task": gc, "cron": "* * * * *"})
    assert stack.delete("%s/%d" % (ROOT, deleted)).status == 204
    # Two due times: at most two minutes from now, and a margin for a loaded machine.
    wait_runs(stack, ids.values(), 2, 150)
    for sid in ids.values():
        assert_json(stack.patch("%s/%d" % (ROOT, sid), json={"action": "stop"}))
    for name, sid in ids.items():
        s = schedule(stack, sid)
        assert s["runs"] == 2 and s["missed_runs"] == 0 and s["last_error"] is None, s
        tasks = tasks_of(stack, sid)
        assert len(tasks) == 2, (name, tasks)
        assert all(t["schedule_id"] == sid and t["task_type"] == TASK_TYPES[name] for t in tasks), tasks
        assert s["last_task_id"] == max(t["task_id"] for t in tasks)
        assert s["status"] == "stopped" and s["next_run_time"] is None
    # One task per due time, created within the minute of it (in fact within seconds).
    rows = stack.sql("SELECT schedule_id, COUNT(*), COUNT(DISTINCT schedule_time), "
                     "MAX(TIMESTAMPDIFF(SECOND, schedule_time, create_time)), "
                     "MAX(SECOND(schedule_time) + MICROSECOND(schedule_time)) "
                     "FROM task WHERE schedule_id IN (%s) GROUP BY schedule_id"
                     % ", ".join(str(i) for i in ids.values()))
    assert len(rows) == len(ids), rows
    for sid, count, distinct, late, second in rows:
        assert count == distinct == "2", rows
        assert int(late) < 60 and second == "0", rows
    assert tasks_of(stack, stopped) == [] and tasks_of(stack, deleted) == []
    # A task a client created still answers as in v.3.8.8: no schedule_id.
    tid = assert_json(stack.post("/2/tasks/gc", json=gc), 202)["task_id"]
    assert "schedule_id" not in assert_json(stack.get("/2/tasks/%d" % tid))


def scheduler_logs(stack):
    text = ""
    for name in ("scheduler.log", "scheduler-sched2.log"):
        try:
            with open(os.path.join(stack.dir, name), errors="replace") as f:
                text += f.read()
        except OSError:
            pass
    return text


def test_after_an_outage_a_schedule_runs_once(stack):
    """Due times that passed while no scheduler ran: one task, for the latest,
    and the others counted as missed."""
    before = parse(scrape(stack))
    sid = create(stack, {"task_type": 4, "task": task_body("gc", str(uuid.uuid4())), "cron": "0 0 * * *"})
    stack.sql("UPDATE schedule SET next_run_time = DATE(UTC_TIMESTAMP()) - INTERVAL 10 DAY "
              "WHERE schedule_id = %s", (sid,))
    wait_runs(stack, [sid], 1, 30)
    time.sleep(2)   # a second run would come at once
    s = schedule(stack, sid)
    assert s["runs"] == 1 and s["missed_runs"] == 10, s
    today = datetime.datetime.now(datetime.timezone.utc).date()
    assert s["last_run_time"].startswith(today.isoformat() + "T00:00:00"), s
    assert s["next_run_time"].startswith((today + datetime.timedelta(days=1)).isoformat() + "T00:00:00"), s
    assert len(tasks_of(stack, sid)) == 1
    assert "schedule %d: 10 due times passed while no scheduler ran" % sid in scheduler_logs(stack)
    after = parse(scrape(stack))
    runs = "luna_tasks_schedule_runs_total"
    for outcome, grew in (("created", 1), ("missed", 10), ("refused", 0)):
        assert value(after, runs, type="gc", outcome=outcome) - value(before, runs, type="gc", outcome=outcome) == grew
    assert value(after, "luna_tasks_schedules", type="gc", status="running") >= 1


def test_a_refused_task_is_shown_on_the_schedule(stack, clustering_done):  # noqa: F811
    """The reporter's source task is gone when the schedule runs: no task, the reason on the schedule."""
    acc, source = clustering_done
    tid = stack.insert_task(task_type=2, status=5, account_id=acc, result_id=str(uuid.uuid4()))
    sid = create(stack, {"task_type": 3, "task": task_body("reporter", acc, source_task_id=tid), "cron": "0 0 * * *"})
    stack.sql("DELETE FROM task WHERE task_id = %s", (tid,))
    stack.sql("UPDATE schedule SET next_run_time = UTC_TIMESTAMP() WHERE schedule_id = %s", (sid,))
    deadline = time.time() + 30
    while schedule(stack, sid)["last_run_time"] is None and time.time() < deadline:
        time.sleep(0.5)
    s = schedule(stack, sid)
    assert s["runs"] == 0 and s["last_task_id"] is None and s["last_error"]["error_code"] > 0, s
    assert value(parse(scrape(stack)), "luna_tasks_schedule_runs_total", type="reporter", outcome="refused") >= 1
    assert s["next_run_time"] is not None and tasks_of(stack, sid) == []


def handler_lookups(stack, path):
    return sum(1 for method, p, _, _ in list(stack.handlers.requests) if method == "GET" and p == path)


def test_a_slow_handler_lookup_holds_no_schedule_row(stack):
    """An estimator's schedule looks its handler up (handlers service) before
    the transaction that takes its row: while the lookup hangs the row is free
    (a NOWAIT lock on it succeeds); once it answers, the due time gives one
    task, though both schedulers looked the handler up."""
    body = task_body("estimator", str(uuid.uuid4()), netdisk=stack.netdisk)
    path = "/handlers/" + body["content"]["handler"]["handler_id"]
    sid = create(stack, {"task_type": TASK_TYPES["estimator"], "task": body, "cron": "0 0 1 1 *"})
    gate = threading.Event()
    stack.handlers.holds[("GET", path)] = gate
    try:
        asked = handler_lookups(stack, path)
        stack.sql("UPDATE schedule SET next_run_time = UTC_TIMESTAMP() WHERE schedule_id = %s", (sid,))
        deadline = time.time() + 30
        while handler_lookups(stack, path) == asked:
            assert time.time() < deadline, "no scheduler looked the handler up"
            time.sleep(0.1)
        stack.sql("SELECT schedule_id FROM schedule WHERE schedule_id = %s FOR UPDATE NOWAIT", (sid,))
    finally:
        gate.set()
        stack.handlers.holds.pop(("GET", path), None)
    wait_runs(stack, [sid], 1, 30)
    s = schedule(stack, sid)
    assert s["runs"] == 1 and s["last_error"] is None, s
    assert [t["task_id"] for t in tasks_of(stack, sid)] == [s["last_task_id"]]
