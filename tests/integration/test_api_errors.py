"""Task errors: /2/tasks/errors, /2/tasks/errors/count, /2/tasks/errors/{error_id},
/2/tasks/{task_id}/errors and /2/tasks/{task_id}/errors/count. The rows are made
in the tasks database directly, as a scheduler would write them."""

import datetime
import os
import uuid

import pytest

from luna import ERROR_LINK, ROOT, TIME_RE, assert_error, assert_json

pytestmark = pytest.mark.usefixtures("no_scheduler")

ERROR_KEYS = {"error_id", "task_id", "subtask_id", "error_code", "link", "description", "detail", "error_time"}


def uid():
    return str(uuid.uuid4())


def error_ids(resp):
    body = assert_json(resp)
    assert set(body) == {"errors"}, body
    for e in body["errors"]:
        assert set(e) >= ERROR_KEYS, e
        assert e["link"] == ERROR_LINK + str(e["error_code"]), e
        assert TIME_RE.match(e["error_time"]), e
    return [e["error_id"] for e in body["errors"]]


def count(stack, path, **params):
    body = assert_json(stack.get(path, params=params))
    assert set(body) == {"count"} and isinstance(body["count"], int), body
    return body["count"]


@pytest.fixture(scope="module")
def data(stack):
    a, b = uid(), uid()
    d = {"a": a, "b": b}
    d["ta"] = stack.insert_task(task_type=2, status=3, account_id=a)       # clustering, failed
    d["ta2"] = stack.insert_task(task_type=2, status=5, account_id=a)      # no errors
    d["tb"] = stack.insert_task(task_type=4, status=5, account_id=b)       # gc
    sa = stack.insert_subtask(d["ta"], status=3)
    sb = stack.insert_subtask(d["tb"], status=4)
    d["sa"], d["sb"] = sa, sb
    d["e1"] = stack.insert_error(d["ta"], error_code=28010, subtask_id=sa, description="Objects not found",
                                 detail="Objects for clustering not found", additional_info=None,
                                 error_time="2021-01-01 00:00:00")
    d["e2"] = stack.insert_error(d["ta"], error_code=12022, subtask_id=sa, description="Bad/incomplete input data",
                                 detail="Failed to validate input json", additional_info="face 42",
                                 error_time="2022-01-01 00:00:00.250000")
    d["e3"] = stack.insert_error(d["tb"], error_code=28001, subtask_id=sb, description="Object not found",
                                 detail="Task with id '1' not found", error_time="2023-01-01 00:00:00")
    d["tasks"] = "%d,%d" % (d["ta"], d["tb"])
    return d


def test_errors_list(stack, data):
    body = assert_json(stack.get("/2/tasks/errors", params={"task_ids": data["tasks"]}))
    by_id = {e["error_id"]: e for e in body["errors"]}
    assert set(by_id) == {data["e1"], data["e2"], data["e3"]}
    e2 = by_id[data["e2"]]
    assert e2["task_id"] == data["ta"] and e2["subtask_id"] == data["sa"]
    assert e2["error_code"] == 12022
    assert e2["description"] == "Bad/incomplete input data"
    assert e2["detail"] == "Failed to validate input json"
    assert e2["additional_info"] == "face 42"
    assert e2["link"] == ERROR_LINK + "12022"
    t = datetime.datetime.fromisoformat(e2["error_time"])
    assert t == datetime.datetime(2022, 1, 1, 0, 0, 0, 250000, tzinfo=datetime.timezone.utc)
    assert by_id[data["e1"]].get("additional_info") is None


def test_errors_pagination(stack, data):
    pages = [error_ids(stack.get("/2/tasks/errors", params={"task_ids": data["tasks"], "page": p, "page_size": 2}))
             for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [2, 1, 0]
    assert sorted(pages[0] + pages[1]) == sorted([data["e1"], data["e2"], data["e3"]])


@pytest.mark.parametrize("params,want", [
    ({"error_code": 28010}, ["e1"]),
    ({"error_code": 12022}, ["e2"]),
    ({"task_type": 2}, ["e1", "e2"]),
    ({"task_type": 4}, ["e3"]),
    ({"task_type": 9}, []),
    ({"error_time__gte": "2022-01-01T00:00:00.25Z"}, ["e2", "e3"]),
    ({"error_time__lt": "2022-01-01T00:00:00.25Z"}, ["e1"]),
    ({"error_time__gte": "2021-06-01T03:00:00+03:00", "error_time__lt": "2022-06-01T00:00:00Z"}, ["e2"]),
    ({"status_code": 404}, ["e3"]),
    ({"status_code": 503}, []),
])
def test_errors_filters(stack, data, params, want):
    q = dict(params, task_ids=data["tasks"])
    assert sorted(error_ids(stack.get("/2/tasks/errors", params=q))) == sorted(data[w] for w in want)
    if "status_code" not in params:
        assert count(stack, "/2/tasks/errors/count", **q) == len(want)


def test_errors_filter_ids_and_account(stack, data):
    q = {"error_ids": "%d,%d" % (data["e1"], data["e3"])}
    assert sorted(error_ids(stack.get("/2/tasks/errors", params=q))) == sorted([data["e1"], data["e3"]])
    assert error_ids(stack.get("/2/tasks/errors", params=dict(q, account_id=data["b"]))) == [data["e3"]]
    assert sorted(error_ids(stack.get("/2/tasks/errors", params={"account_id": data["a"]}))) == \
        sorted([data["e1"], data["e2"]])
    assert error_ids(stack.get("/2/tasks/errors", params={"account_id": uid()})) == []
    assert count(stack, "/2/tasks/errors/count", **q) == 2
    assert count(stack, "/2/tasks/errors/count", account_id=data["a"]) == 2
    assert count(stack, "/2/tasks/errors/count", task_ids=str(data["ta2"])) == 0


def test_errors_count_total(stack, data):
    assert count(stack, "/2/tasks/errors/count") >= 3


def test_error_by_id(stack, data):
    e = assert_json(stack.get("/2/tasks/errors/%d" % data["e3"]))
    assert set(e) >= ERROR_KEYS
    assert e["error_id"] == data["e3"] and e["task_id"] == data["tb"] and e["error_code"] == 28001
    assert e["subtask_id"] == data["sb"]
    assert e["detail"] == "Task with id '1' not found"
    e = assert_json(stack.get("/2/tasks/errors/%d" % data["e3"], params={"account_id": data["b"]}))
    assert e["error_id"] == data["e3"]


def test_error_by_id_not_found(stack, data):
    e = assert_error(stack.get("/2/tasks/errors/999999999"), 404, 28003,
                     detail="Task error with id '999999999' not found")
    assert e["desc"] == "Object not found"
    assert_error(stack.get("/2/tasks/errors/%d" % data["e3"], params={"account_id": data["a"]}), 404, 28003)


def test_task_errors(stack, data):
    path = "/2/tasks/%d/errors" % data["ta"]
    assert sorted(error_ids(stack.get(path))) == sorted([data["e1"], data["e2"]])
    assert sorted(error_ids(stack.get(path, params={"account_id": data["a"]}))) == sorted([data["e1"], data["e2"]])
    assert len(error_ids(stack.get(path, params={"page": 1, "page_size": 1}))) == 1
    assert len(error_ids(stack.get(path, params={"page": 2, "page_size": 1}))) == 1
    assert error_ids(stack.get(path, params={"page": 3, "page_size": 1})) == []
    assert error_ids(stack.get("/2/tasks/%d/errors" % data["ta2"])) == []


def test_task_errors_not_found(stack, data):
    assert_error(stack.get("/2/tasks/999999999/errors"), 404, 28001)
    assert_error(stack.get("/2/tasks/%d/errors" % data["ta"], params={"account_id": data["b"]}), 404, 28001)
    assert_error(stack.get("/2/tasks/999999999/errors/count"), 404, 28001)
    assert_error(stack.get("/2/tasks/%d/errors/count" % data["ta"], params={"account_id": data["b"]}), 404, 28001)


def test_task_errors_count(stack, data):
    path = "/2/tasks/%d/errors/count" % data["ta"]
    assert count(stack, path) == 2
    assert count(stack, path, account_id=data["a"]) == 2
    assert count(stack, path, error_code=28010) == 1
    assert count(stack, path, error_time__gte="2021-06-01T00:00:00Z") == 1
    assert count(stack, path, error_time__lt="2021-06-01T00:00:00Z") == 1
    assert count(stack, "/2/tasks/%d/errors/count" % data["ta2"]) == 0


def test_errors_go_with_their_task(stack, account_id):
    tid = stack.insert_task(task_type=2, status=3, account_id=account_id)
    eid = stack.insert_error(tid)
    assert error_ids(stack.get("/2/tasks/errors", params={"task_ids": str(tid)})) == [eid]
    assert stack.delete("/2/tasks/%d" % tid).status == 204
    assert error_ids(stack.get("/2/tasks/errors", params={"task_ids": str(tid)})) == []
    assert_error(stack.get("/2/tasks/errors/%d" % eid), 404, 28003)


def test_migration_gives_old_rows_contract_values(stack, account_id):
    """Rows written before migration 006 (errors of planning or collecting
    without a subtask, tasks without a description) are rendered validly."""
    migration = os.path.join(ROOT, "sql", "tasks", "006_contract_rows.sql")
    stack.sql("ALTER TABLE task_error MODIFY subtask_id BIGINT NULL; "
              "ALTER TABLE task MODIFY description VARCHAR(128) NULL")
    try:
        planning = stack.insert_task(task_type=1, status=3, account_id=account_id, description=None)
        collecting = stack.insert_task(task_type=2, status=3, account_id=account_id, parts_all=1, parts_done=1)
        done = stack.insert_subtask(collecting, status=4)
        for tid in (planning, collecting):
            stack.sql("INSERT INTO task_error (task_id, subtask_id, error_code, description, detail, error_time) "
                      "VALUES (%s, NULL, 28101, 'Object not found', 'gone', '2021-07-28 01:23:21')", (tid,))
    finally:
        with open(migration) as f:
            stack.sql(f.read())
    t = assert_json(stack.get("/2/tasks/%d" % planning))
    assert t["description"] == "" and (t["count_task_parts_all"], t["count_task_parts_done"]) == (1, 1), t
    for tid, stage, others in ((planning, "planning", []), (collecting, "collecting", [done])):
        errs = assert_json(stack.get("/2/tasks/%d/errors" % tid))["errors"]
        subs = assert_json(stack.get("/2/tasks/%d/subtasks" % tid))["subtasks"]
        assert [s["subtask_id"] for s in subs[:-1]] == others, subs
        assert subs[-1]["content"] == {"stage": stage} and subs[-1]["subtask_status"] == 3, subs
        assert [e["subtask_id"] for e in errs] == [subs[-1]["subtask_id"]], errs
    assert stack.sql("SELECT IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                     "AND TABLE_NAME = 'task_error' AND COLUMN_NAME = 'subtask_id'") == [("NO",)]
