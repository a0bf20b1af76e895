"""Schedules never hold up the scheduler's main thread (extension): a
schedule's task checks may wait on the handlers service (an estimator's
handler lookup, up to [HANDLERS] TIMEOUT), and they do so on the schedules
thread. While such a lookup hangs, the one running scheduler still recovers
the expired lease of a dead scheduler's subtask (the main thread's duty), and
a SIGTERM still stops it, leaving the hung lookup behind.

Only this module's scheduler runs meanwhile, so nobody else could recover
the lease; the stack's "s1" restarts afterwards."""

import os
import signal
import threading
import time
import uuid

import pytest

from luna import TASK_TYPES, assert_json, task_body
from test_api_create import known_handlers  # noqa: F401 (fixture)

ROOT = "/2/tasks/schedules"
NAME = "lone"
# Longer than any wait below: on a main thread stuck in the lookup, nothing
# would happen before the test gives up.
HANDLERS_TIMEOUT = 60

pytestmark = pytest.mark.usefixtures("known_handlers")


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out after %s s waiting for %s" % (timeout, what))


def log(stack):
    try:
        with open(os.path.join(stack.dir, "scheduler-%s.log" % NAME), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def lone_scheduler(stack):
    """One scheduler with a long handlers timeout; no other runs."""
    stack.sql("UPDATE schedule SET status = 0, next_run_time = NULL")
    for name in set(stack.scheduler_names()) | {"s1"}:
        stack.stop_scheduler(name)
    conf = stack.write_config({("HANDLERS", "TIMEOUT"): HANDLERS_TIMEOUT, ("SCHEDULER", "LEASE_SECONDS"): 3})
    stack.start_scheduler(NAME, config=conf)
    yield
    stack.sql("UPDATE schedule SET status = 0, next_run_time = NULL")
    if NAME in stack.scheduler_names():
        stack.stop_scheduler(NAME)
    stack.start_scheduler()


@pytest.fixture
def hung_lookup(stack, lone_scheduler):
    """An estimator schedule that is due, whose handler lookup the handlers
    service holds until the test ends; yields the schedule id once the
    scheduler asked."""
    body = task_body("estimator", str(uuid.uuid4()), netdisk=stack.netdisk)
    path = "/handlers/" + body["content"]["handler"]["handler_id"]
    sid = assert_json(stack.post(ROOT, json={"task_type": TASK_TYPES["estimator"], "task": body,
                                             "cron": "0 0 1 1 *"}), 201)["schedule_id"]
    gate = threading.Event()
    stack.handlers.holds[("GET", path)] = gate

    def lookups():
        return sum(1 for method, p, _, _ in list(stack.handlers.requests) if method == "GET" and p == path)

    asked = lookups()
    try:
        stack.sql("UPDATE schedule SET next_run_time = UTC_TIMESTAMP() WHERE schedule_id = %s", (sid,))
        wait_for(lambda: lookups() > asked, 30, "the scheduler to look the handler up")
        yield sid, gate
    finally:
        gate.set()
        stack.handlers.holds.pop(("GET", path), None)


def dead_schedulers_subtask(stack):
    """A subtask leased by a scheduler that died, its lease run out, of a task
    cancelled meanwhile: recovery cancels it (and nothing runs it after)."""
    tid = stack.insert_task(task_type=TASK_TYPES["gc"], status=2, account_id=str(uuid.uuid4()))
    sub = stack.insert_subtask(tid, status=1)
    stack.sql("UPDATE subtask SET worker_id = 'gone:1', attempts = 1, "
              "lease_until = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE subtask_id = %s", (sub,))
    return tid, sub


def test_recovery_goes_on_while_a_schedule_waits_for_the_handlers_service(stack, hung_lookup):
    sid, gate = hung_lookup
    tid, sub = dead_schedulers_subtask(stack)

    def recovered():
        return stack.sql("SELECT subtask_status FROM subtask WHERE subtask_id = %s", (sub,))[0][0] == "2"

    wait_for(recovered, 20, "recovery of the expired lease while the handler lookup hangs")
    assert not gate.is_set()
    assert "task %d subtask %d: expired lease of a stopped task; subtask cancelled" % (tid, sub) in log(stack)
    # Once the lookup answers, the schedule's task is created.
    gate.set()
    wait_for(lambda: assert_json(stack.get("%s/%d" % (ROOT, sid)))["runs"] == 1, 30, "the schedule's task")
    assert assert_json(stack.get("%s/%d" % (ROOT, sid)))["last_error"] is None


def test_sigterm_stops_while_a_schedule_waits_for_the_handlers_service(stack, hung_lookup):
    sid, gate = hung_lookup
    pid = stack.scheduler_pid(NAME)
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), 30, "the scheduler to stop while the handler lookup hangs")
    assert not gate.is_set()
    text = log(stack)
    assert "SIGTERM received: stopping" in text
    assert "the schedules thread is still checking a task (a handlers or database call); exiting anyway" in text
    # The hung check was dropped: the schedule is still due, its row free.
    s = assert_json(stack.get("%s/%d" % (ROOT, sid)))
    assert s["runs"] == 0 and s["next_run_time"] is not None, s
    stack.sql("SELECT schedule_id FROM schedule WHERE schedule_id = %s FOR UPDATE NOWAIT", (sid,))
