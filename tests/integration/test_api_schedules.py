"""/2/tasks/schedules (extension): create, list (filters, paging, count), get,
replace, start/stop and delete; the task body is checked as its type's POST
checks it, the cron expression and the time zone name their field when
refused. No scheduler runs here: test_schedules.py watches schedules fire."""

import re

import pytest

from luna import TASK_TYPES, TIME_RE, assert_error, assert_json, estimator_bodies, task_body
from test_api_create import clustering_done, known_handlers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("no_scheduler", "known_handlers", "schedules_stopped")

ROOT = "/2/tasks/schedules"
YEARLY = "0 3 1 jan *"


@pytest.fixture(scope="module")
def schedules_stopped(stack):
    """Schedules this module leaves are stopped, so that no later module sees their tasks."""
    yield
    stack.sql("UPDATE schedule SET status = 0, next_run_time = NULL")


def body_of(stack, name, account_id, source=None, **extra):
    b = {"task_type": TASK_TYPES[name], "task": task_body(name, account_id, source_task_id=source,
                                                          netdisk=stack.netdisk), "cron": YEARLY}
    b.update(extra)
    return b


def create(stack, body, status=201):
    r = stack.post(ROOT, json=body)
    return assert_json(r, status)["schedule_id"]


def get(stack, sid, **params):
    return assert_json(stack.get("%s/%d" % (ROOT, sid), params=params or None))


@pytest.mark.parametrize("name", [n for n in TASK_TYPES if n != "reporter"])
def test_schedule_of_each_type(stack, name, account_id):
    body = body_of(stack, name, account_id)
    sid = create(stack, body)
    s = get(stack, sid)
    assert s["schedule_id"] == sid and s["task_type"] == TASK_TYPES[name]
    assert s["account_id"] == account_id
    assert s["cron"] == YEARLY and s["timezone"] == "UTC"
    assert s["status"] == "running"
    assert TIME_RE.match(s["next_run_time"]) and s["next_run_time"][5:16] == "01-01T03:00"
    assert s["last_run_time"] is None and s["last_task_id"] is None and s["last_error"] is None
    assert s["runs"] == 0 and s["missed_runs"] == 0
    assert s["task"]["content"] and s["task"]["description"] == body["task"]["description"]


def test_schedule_of_reporter(stack, clustering_done):  # noqa: F811
    acc, source = clustering_done
    sid = create(stack, body_of(stack, "reporter", acc, source=source))
    assert get(stack, sid)["task_type"] == TASK_TYPES["reporter"]
    # The reporter's own check (its source task) runs for a schedule too.
    r = stack.post(ROOT, json=body_of(stack, "reporter", acc, source=source + 100000))
    assert r.status == 400, r


def test_defaults_of_the_task_body_are_stored(stack, account_id):
    body = body_of(stack, "gc", account_id)
    del body["task"]["content"]["remove_samples"]
    sid = create(stack, body)
    assert get(stack, sid)["task"]["content"]["remove_samples"] is False


def test_time_zone_and_next_run(stack, account_id):
    sid = create(stack, body_of(stack, "gc", account_id, cron="30 2 1 jul *", timezone="Europe/Berlin"))
    s = get(stack, sid)
    assert s["timezone"] == "Europe/Berlin"
    # 02:30 CEST is 00:30 UTC; the API shows times in UTC here.
    assert re.match(r"^\d{4}-07-01T00:30:00(\.0+)?(\+00:00|Z)$", s["next_run_time"]), s


def test_secrets_are_masked(stack, account_id):
    body = {"task_type": 9, "task": estimator_bodies(account_id, stack.netdisk)["estimate_from_zip_archive"],
            "cron": YEARLY}
    sid = create(stack, body)
    text = stack.get("%s/%d" % (ROOT, sid)).text
    assert "123456" not in text and "********" in text


def test_created_stopped_then_started_stopped_and_deleted(stack, account_id):
    sid = create(stack, body_of(stack, "gc", account_id, create_stopped=True))
    s = get(stack, sid)
    assert s["status"] == "stopped" and s["next_run_time"] is None
    s = assert_json(stack.patch("%s/%d" % (ROOT, sid), json={"action": "start"}))
    assert s["status"] == "running" and TIME_RE.match(s["next_run_time"])
    again = assert_json(stack.patch("%s/%d" % (ROOT, sid), json={"action": "start"}))
    assert again["next_run_time"] == s["next_run_time"] and again["last_update_time"] == s["last_update_time"]
    s = assert_json(stack.patch("%s/%d" % (ROOT, sid), json={"action": "stop"}))
    assert s["status"] == "stopped" and s["next_run_time"] is None
    r = stack.delete("%s/%d" % (ROOT, sid))
    assert r.status == 204 and r.body == b"", r
    assert_error(stack.get("%s/%d" % (ROOT, sid)), 404, 28107, "Schedule with id '%d' not found" % sid)
    assert_error(stack.delete("%s/%d" % (ROOT, sid)), 404, 28107)
    assert_error(stack.patch("%s/%d" % (ROOT, sid), json={"action": "stop"}), 404, 28107)


def test_bad_action(stack, account_id):
    sid = create(stack, body_of(stack, "gc", account_id))
    assert_error(stack.patch("%s/%d" % (ROOT, sid), json={"action": "pause"}), 400, 12022,
                 detail_contains="'action'")


def test_replace(stack, account_id):
    sid = create(stack, body_of(stack, "gc", account_id))
    before = get(stack, sid)
    body = body_of(stack, "linker", account_id, cron="15 4 * * sun", timezone="America/New_York")
    s = assert_json(stack.put("%s/%d" % (ROOT, sid), json=body))
    assert s["task_type"] == 1 and s["cron"] == "15 4 * * sun" and s["timezone"] == "America/New_York"
    assert s["status"] == "running" and s["next_run_time"] != before["next_run_time"]
    assert s["create_time"] == before["create_time"]
    # A bad replacement changes nothing.
    assert_error(stack.put("%s/%d" % (ROOT, sid), json=dict(body, cron="* * *")), 400, 12022,
                 detail_contains="Path: 'cron'")
    assert get(stack, sid)["cron"] == "15 4 * * sun"
    assert_error(stack.put("%s/%d" % (ROOT, 999999999), json=body), 404, 28107)
    # Scoped to an account, a replacement stays in it.
    other = body_of(stack, "gc", "00000000-0000-4000-8000-000000000000")
    assert_error(stack.put("%s/%d" % (ROOT, sid), json=other, params={"account_id": account_id}), 400, 12022,
                 detail_contains="task.account_id")
    s = assert_json(stack.put("%s/%d" % (ROOT, sid), json=body, params={"account_id": account_id}))
    assert s["account_id"] == account_id


@pytest.mark.parametrize("cron,says", [
    ("61 * * * *", "minute field"), ("* * * *", "4 fields"), ("* * * * * *", "more than 5 fields"),
    ("0 0 30 feb *", "matches no time"), ("*/0 * * * *", "minute field"), ("* * * nov-jan *", "month field"),
])
def test_bad_cron_names_the_field(stack, account_id, cron, says):
    r = stack.post(ROOT, json=body_of(stack, "gc", account_id, cron=cron))
    assert_error(r, 400, 12022, detail_contains=["Path: 'cron'", says])


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "utc+3", ""])
def test_bad_time_zone_names_the_field(stack, account_id, zone):
    r = stack.post(ROOT, json=body_of(stack, "gc", account_id, timezone=zone))
    assert_error(r, 400, 12022, detail_contains="'timezone'")


def test_task_body_checked_as_its_post(stack, account_id):
    body = body_of(stack, "gc", account_id)
    body["task"]["content"]["target"] = "cats"
    assert_error(stack.post(ROOT, json=body), 400, 12022, detail_contains="Path: 'task.content")
    body = body_of(stack, "gc", account_id)
    body["task"]["unknown"] = 1
    assert_error(stack.post(ROOT, json=body), 400, 12022, detail_contains="Path: 'task")
    body = body_of(stack, "gc", account_id)
    del body["task"]["account_id"]
    assert_error(stack.post(ROOT, json=body), 400, 12022, detail_contains="Path: 'task")
    # The account rule: an account_id in the content must be the task's.
    body = body_of(stack, "gc", account_id)
    body["task"]["content"]["filters"]["account_id"] = "00000000-0000-4000-8000-000000000000"
    assert_error(stack.post(ROOT, json=body), 400, 12022, detail_contains="task.content.filters.account_id")
    assert_error(stack.post(ROOT, json=dict(body_of(stack, "gc", account_id), task_type=0)), 400, 12022,
                 detail_contains="task_type")
    assert_error(stack.post(ROOT, json={"task_type": 4, "cron": YEARLY}), 400, 12022, detail_contains="task")


def test_list_filters_paging_and_count(stack, account_id):
    ids = [create(stack, body_of(stack, "gc", account_id)) for _ in range(3)]
    ids.append(create(stack, body_of(stack, "linker", account_id, create_stopped=True)))
    out = assert_json(stack.get(ROOT, params={"account_id": account_id}))
    assert out["count"] == 4 and [s["schedule_id"] for s in out["schedules"]] == ids[::-1]
    out = assert_json(stack.get(ROOT, params={"account_id": account_id, "page_size": 2, "page": 2}))
    assert out["count"] == 4 and [s["schedule_id"] for s in out["schedules"]] == ids[1::-1]
    out = assert_json(stack.get(ROOT, params={"account_id": account_id, "task_type": 1}))
    assert out["count"] == 1 and out["schedules"][0]["schedule_id"] == ids[3]
    out = assert_json(stack.get(ROOT, params={"account_id": account_id, "status": "running"}))
    assert out["count"] == 3
    assert_error(stack.get(ROOT, params={"status": "paused"}), 400, 12012)
    # Account scoping of one schedule.
    assert get(stack, ids[0], account_id=account_id)["schedule_id"] == ids[0]
    assert_error(stack.get("%s/%d" % (ROOT, ids[0]), params={"account_id": "00000000-0000-4000-8000-000000000000"}),
                 404, 28107)
