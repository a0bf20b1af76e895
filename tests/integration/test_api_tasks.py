"""GET /2/tasks (filters, pagination), /2/tasks/count, GET/PATCH/DELETE
/2/tasks/{id}, /2/tasks/{id}/subtasks and /2/tasks/{id}/result."""

import datetime
import json
import os
import time
import uuid

import pytest

import objdata as od
from luna import TIME_RE, assert_error, assert_json, task_body

pytestmark = pytest.mark.usefixtures("no_scheduler")

TASK_KEYS = {"task_id", "create_time", "last_update_time", "task_type", "task_status",
             "count_task_parts_done", "count_task_parts_all", "content"}


def uid():
    return str(uuid.uuid4())


def parse_time(s):
    assert TIME_RE.match(s), s
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def utc(s):
    return datetime.datetime.fromisoformat(s).replace(tzinfo=datetime.timezone.utc)


def create(stack, name, account_id):
    r = stack.post("/2/tasks/" + name, json=task_body(name, account_id))
    return assert_json(r, 202)["task_id"]


def ids(resp):
    body = assert_json(resp)
    assert set(body) == {"tasks"}, body
    for t in body["tasks"]:
        assert set(t) >= TASK_KEYS, t
    return [t["task_id"] for t in body["tasks"]]


def count(stack, **params):
    body = assert_json(stack.get("/2/tasks/count", params=params))
    assert set(body) == {"count"} and isinstance(body["count"], int), body
    return body["count"]


@pytest.fixture(scope="module")
def data(stack):
    a, b, d = uid(), uid(), uid()
    out = {"a": a, "b": b, "d": d}
    out["gc"] = [create(stack, "gc", a) for _ in range(3)]
    out["clustering"] = [create(stack, "clustering", a) for _ in range(2)]
    out["linker_b"] = create(stack, "linker", b)
    # Account d: rows with known times (UTC) and statuses.
    out["r2021"] = uid()
    out["t2020"] = stack.insert_task(task_type=2, status=5, account_id=d, create_time="2020-01-01 10:00:00.123456",
                                     end_time="2020-01-02 00:00:00")
    out["t2021"] = stack.insert_task(task_type=4, status=5, account_id=d, create_time="2021-01-01 00:00:00",
                                     end_time="2021-01-05 00:00:00", result_id=out["r2021"])
    out["t2022"] = stack.insert_task(task_type=2, status=0, account_id=d, create_time="2022-01-01 00:00:00")
    return out


# -- list and count ---------------------------------------------------------

def test_list_by_account(stack, data):
    got = ids(stack.get("/2/tasks", params={"account_id": data["a"]}))
    assert sorted(got) == sorted(data["gc"] + data["clustering"])
    assert ids(stack.get("/2/tasks", params={"account_id": data["b"]})) == [data["linker_b"]]
    assert ids(stack.get("/2/tasks", params={"account_id": uid()})) == []


def test_list_fields(stack, data):
    body = assert_json(stack.get("/2/tasks", params={"account_id": data["b"]}))
    t = body["tasks"][0]
    assert t["task_id"] == data["linker_b"]
    assert t["task_type"] == 1 and t["task_status"] == 0
    assert t["account_id"] == data["b"]
    assert t["content"]["objects_type"] == "faces"
    parse_time(t["create_time"])
    parse_time(t["last_update_time"])
    assert t.get("end_time") is None and t.get("result_id") is None


def test_pagination(stack, data):
    all_ids = sorted(data["gc"] + data["clustering"])
    pages = [ids(stack.get("/2/tasks", params={"account_id": data["a"], "page": p, "page_size": 2}))
             for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [2, 2, 1, 0], pages
    seen = [i for p in pages for i in p]
    assert sorted(seen) == all_ids
    assert ids(stack.get("/2/tasks", params={"account_id": data["a"], "page_size": 1, "page": 5})) != []
    assert ids(stack.get("/2/tasks", params={"account_id": data["a"], "page": 1000})) == []


def test_default_page_size(stack):
    acc = uid()
    made = [stack.insert_task(task_type=4, status=5, account_id=acc) for _ in range(12)]
    first = ids(stack.get("/2/tasks", params={"account_id": acc}))
    second = ids(stack.get("/2/tasks", params={"account_id": acc, "page": 2}))
    assert len(first) == 10 and len(second) == 2
    assert sorted(first + second) == sorted(made)
    assert len(ids(stack.get("/2/tasks", params={"account_id": acc, "page_size": 100}))) == 12
    assert count(stack, account_id=acc) == 12


def test_filter_task_type(stack, data):
    assert sorted(ids(stack.get("/2/tasks", params={"account_id": data["a"], "task_type": 4}))) == sorted(data["gc"])
    assert sorted(ids(stack.get("/2/tasks", params={"account_id": data["a"], "task_type": 2}))) == \
        sorted(data["clustering"])
    assert ids(stack.get("/2/tasks", params={"account_id": data["a"], "task_type": 9})) == []
    assert count(stack, account_id=data["a"], task_type=4) == 3


def test_filter_task_status(stack, data):
    d = data["d"]
    assert sorted(ids(stack.get("/2/tasks", params={"account_id": d, "task_status": 5}))) == \
        sorted([data["t2020"], data["t2021"]])
    assert ids(stack.get("/2/tasks", params={"account_id": d, "task_status": 0})) == [data["t2022"]]
    assert count(stack, account_id=d, task_status=5) == 2
    assert count(stack, account_id=d, task_status=3) == 0


def test_filter_task_ids(stack, data):
    want = [data["gc"][0], data["clustering"][1]]
    q = "%d,%d" % tuple(want)
    assert sorted(ids(stack.get("/2/tasks", params={"task_ids": q}))) == sorted(want)
    assert ids(stack.get("/2/tasks", params={"task_ids": str(data["linker_b"])})) == [data["linker_b"]]
    assert ids(stack.get("/2/tasks", params={"task_ids": q, "account_id": data["b"]})) == []
    assert count(stack, task_ids=q) == 2
    assert count(stack, task_ids="%s,999999999" % data["linker_b"]) == 1


def test_filter_create_time(stack, data):
    d = data["d"]
    assert sorted(ids(stack.get("/2/tasks", params={"account_id": d, "create_time__gte": "2021-01-01T00:00:00Z"}))) == \
        sorted([data["t2021"], data["t2022"]])
    assert ids(stack.get("/2/tasks", params={"account_id": d, "create_time__lt": "2021-01-01T00:00:00Z"})) == \
        [data["t2020"]]
    # The same instant written with an offset and microseconds.
    assert ids(stack.get("/2/tasks", params={"account_id": d, "create_time__lt": "2021-01-01T03:00:00.000000+03:00"})) \
        == [data["t2020"]]
    both = {"account_id": d, "create_time__gte": "2020-06-01T00:00:00Z", "create_time__lt": "2021-06-01T00:00:00Z"}
    assert ids(stack.get("/2/tasks", params=both)) == [data["t2021"]]
    assert count(stack, **both) == 1


def test_filter_end_time(stack, data):
    d = data["d"]
    assert ids(stack.get("/2/tasks", params={"account_id": d, "end_time__gte": "2021-01-05T00:00:00Z"})) == \
        [data["t2021"]]
    # A task without end_time is in neither range.
    assert ids(stack.get("/2/tasks", params={"account_id": d, "end_time__lt": "2021-01-05T00:00:00Z"})) == \
        [data["t2020"]]
    assert count(stack, account_id=d, end_time__lt="2030-01-01T00:00:00Z") == 2


def test_filter_result_id(stack, data):
    assert ids(stack.get("/2/tasks", params={"result_id": data["r2021"]})) == [data["t2021"]]
    assert ids(stack.get("/2/tasks", params={"result_id": uid()})) == []


def test_count(stack, data):
    assert count(stack, account_id=data["a"]) == 5
    assert count(stack, account_id=data["d"]) == 3
    assert count(stack) >= 9


def test_times_are_rendered_with_offset(stack, data):
    t = assert_json(stack.get("/2/tasks/%d" % data["t2020"]))
    assert parse_time(t["create_time"]) == utc("2020-01-01 10:00:00.123456")
    assert parse_time(t["end_time"]) == utc("2020-01-02 00:00:00")
    assert t["create_time"].split(".")[1][:6] == "123456", t


# -- one task ---------------------------------------------------------------

def test_get_task(stack, data):
    tid = data["gc"][0]
    t = assert_json(stack.get("/2/tasks/%d" % tid))
    assert set(t) >= TASK_KEYS
    assert t["task_id"] == tid and t["task_type"] == 4 and t["account_id"] == data["a"]
    assert t["content"]["target"] == "events"
    assert assert_json(stack.get("/2/tasks/%d" % tid, params={"account_id": data["a"]}))["task_id"] == tid


def test_get_task_not_found(stack):
    e = assert_error(stack.get("/2/tasks/999999999"), 404, 28001, detail="Task with id '999999999' not found")
    assert e["desc"] == "Object not found"


def test_get_task_of_another_account(stack, data):
    tid = data["gc"][0]
    assert_error(stack.get("/2/tasks/%d" % tid, params={"account_id": data["b"]}), 404, 28001)


@pytest.mark.parametrize("path", ["/2/tasks/0", "/2/tasks/abc", "/2/tasks/-1", "/2/tasks/1.5",
                                  "/2/tasks/99999999999999999999999"])
def test_get_task_bad_id(stack, path):
    r = stack.get(path)
    assert r.status in (400, 404), r
    assert r.content_type == "application/json", r
    assert set(r.json()) >= {"error_code", "desc", "detail", "link"}


# -- cancel -----------------------------------------------------------------

def test_cancel_pending(stack, account_id):
    tid = create(stack, "gc", account_id)
    before = assert_json(stack.get("/2/tasks/%d" % tid))
    time.sleep(0.01)
    r = stack.patch("/2/tasks/%d" % tid)
    assert r.status == 202, r
    assert r.headers.get("luna-request-id")
    t = assert_json(stack.get("/2/tasks/%d" % tid))
    assert t["task_status"] == 2, t
    assert parse_time(t["end_time"]) >= parse_time(t["create_time"])
    assert parse_time(t["last_update_time"]) > parse_time(before["last_update_time"])
    e = assert_error(stack.patch("/2/tasks/%d" % tid), 400, 28019,
                     detail="Task '%d' with status 2 can not canceled" % tid)
    assert e["desc"] == "Bad/incomplete input data"


@pytest.mark.parametrize("status", [3, 5])
def test_cancel_finished(stack, account_id, status):
    tid = stack.insert_task(task_type=4, status=status, account_id=account_id)
    assert_error(stack.patch("/2/tasks/%d" % tid), 400, 28019,
                 detail="Task '%d' with status %d can not canceled" % (tid, status))
    assert assert_json(stack.get("/2/tasks/%d" % tid))["task_status"] == status


@pytest.mark.parametrize("status", [1, 4])
def test_cancel_running_cancels_subtasks(stack, account_id, status):
    tid = stack.insert_task(task_type=2, status=status, account_id=account_id, parts_all=3, parts_done=1)
    s_pending = stack.insert_subtask(tid, status=0)
    s_running = stack.insert_subtask(tid, status=1)
    s_done = stack.insert_subtask(tid, status=4, end_time="2021-07-28 01:30:00")
    r = stack.patch("/2/tasks/%d" % tid, params={"account_id": account_id})
    assert r.status == 202, r
    subs = assert_json(stack.get("/2/tasks/%d/subtasks" % tid))["subtasks"]
    by_id = {s["subtask_id"]: s["subtask_status"] for s in subs}
    assert by_id == {s_pending: 2, s_running: 2, s_done: 4}, subs


def test_cancel_not_found(stack):
    assert_error(stack.patch("/2/tasks/999999999"), 404, 28001)


def test_cancel_other_account(stack, account_id):
    tid = create(stack, "gc", account_id)
    assert_error(stack.patch("/2/tasks/%d" % tid, params={"account_id": uid()}), 404, 28001)
    assert assert_json(stack.get("/2/tasks/%d" % tid))["task_status"] == 0


# -- delete -----------------------------------------------------------------

def test_delete(stack, account_id):
    tid = create(stack, "gc", account_id)
    r = stack.delete("/2/tasks/%d" % tid, params={"account_id": account_id})
    assert r.status == 204, r
    assert r.body == b""
    assert r.headers.get("luna-request-id")
    assert_error(stack.get("/2/tasks/%d" % tid), 404, 28001)
    assert_error(stack.delete("/2/tasks/%d" % tid), 404, 28001)
    assert ids(stack.get("/2/tasks", params={"account_id": account_id})) == []


def test_delete_other_account(stack, account_id):
    tid = create(stack, "gc", account_id)
    assert_error(stack.delete("/2/tasks/%d" % tid, params={"account_id": uid()}), 404, 28001)
    assert assert_json(stack.get("/2/tasks/%d" % tid))["task_id"] == tid


def test_delete_running_task_with_everything(stack, account_id):
    """A task in progress goes with its subtasks, errors and stored blobs."""
    rid, sid = uid(), uid()
    tid = stack.insert_task(task_type=2, status=1, account_id=account_id, parts_all=2, result_id=rid)
    s1 = stack.insert_subtask(tid, status=4, result_id=sid, end_time="2021-07-28 01:30:00")
    stack.insert_subtask(tid, status=1)
    eid = stack.insert_error(tid, subtask_id=s1)
    paths = [stack.put_blob(rid, "{}"), stack.put_blob(sid, "{}")]
    r = stack.delete("/2/tasks/%d" % tid)
    assert r.status == 204, r
    assert stack.sql("SELECT COUNT(*) FROM subtask WHERE task_id = %s", (tid,)) == [("0",)]
    assert stack.sql("SELECT COUNT(*) FROM task_error WHERE task_id = %s", (tid,)) == [("0",)]
    assert_error(stack.get("/2/tasks/errors/%d" % eid), 404, 28003)
    deadline = time.time() + 5
    while any(os.path.exists(p) for p in paths) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(p) for p in paths), paths


# -- subtasks ---------------------------------------------------------------

def test_subtasks_of_new_task(stack, account_id):
    tid = create(stack, "gc", account_id)
    body = assert_json(stack.get("/2/tasks/%d/subtasks" % tid))
    assert body == {"subtasks": []}


def test_subtasks(stack, account_id):
    tid = stack.insert_task(task_type=2, status=1, account_id=account_id, parts_all=2)
    rid = uid()
    s1 = stack.insert_subtask(tid, status=4, content={"face_ids": ["a"]}, result_id=rid,
                              create_time="2021-07-28 01:23:21.5", end_time="2021-07-28 01:24:00")
    s2 = stack.insert_subtask(tid, status=0, content={"face_ids": ["b"]})
    subs = assert_json(stack.get("/2/tasks/%d/subtasks" % tid, params={"account_id": account_id}))["subtasks"]
    assert [s["subtask_id"] for s in subs] == [s1, s2]
    first, second = subs
    assert set(first) >= {"subtask_id", "task_id", "create_time", "subtask_status", "content"}
    assert first["task_id"] == tid and first["subtask_status"] == 4
    assert first["result_id"] == rid and first["content"] == {"face_ids": ["a"]}
    assert parse_time(first["create_time"]) == utc("2021-07-28 01:23:21.5")
    assert parse_time(first["end_time"]) == utc("2021-07-28 01:24:00")
    assert second["subtask_status"] == 0 and second.get("end_time") is None and second.get("result_id") is None


def test_subtasks_not_found(stack, account_id):
    assert_error(stack.get("/2/tasks/999999999/subtasks"), 404, 28001)
    tid = create(stack, "gc", account_id)
    assert_error(stack.get("/2/tasks/%d/subtasks" % tid, params={"account_id": uid()}), 404, 28001)


# -- result -----------------------------------------------------------------

@pytest.mark.parametrize("status", [0, 1, 4])
def test_result_not_yet(stack, account_id, status):
    tid = stack.insert_task(task_type=2, status=status, account_id=account_id)
    e = assert_error(stack.get("/2/tasks/%d/result" % tid), 404, 28018)
    assert e["detail"].lower() == ("task '%d' does not have result yet" % tid)


def test_result_of_new_task(stack, account_id):
    tid = create(stack, "clustering", account_id)
    assert_error(stack.get("/2/tasks/%d/result" % tid), 404, 28018)


@pytest.mark.parametrize("status", [2, 3])
def test_result_of_cancelled_or_failed(stack, account_id, status):
    tid = stack.insert_task(task_type=2, status=status, account_id=account_id)
    e = assert_error(stack.get("/2/tasks/%d/result" % tid), 400, 28020,
                     detail="Impossible get a result of task %d with status %d" % (tid, status))
    assert e["desc"] == "Object not found"


def test_result_of_cancelled_via_api(stack, account_id):
    tid = create(stack, "gc", account_id)
    assert stack.patch("/2/tasks/%d" % tid).status == 202
    assert_error(stack.get("/2/tasks/%d/result" % tid), 400, 28020)


def test_result_missing(stack, account_id):
    tid = stack.insert_task(task_type=2, status=5, account_id=account_id)
    assert_error(stack.get("/2/tasks/%d/result" % tid), 404, 28017, detail="Result of the task '%d' not found" % tid)
    tid = stack.insert_task(task_type=2, status=5, account_id=account_id, result_id=uid())
    assert_error(stack.get("/2/tasks/%d/result" % tid), 404, 28017)


def test_result_not_found(stack):
    assert_error(stack.get("/2/tasks/999999999/result"), 404, 28001)


def test_result_json(stack, account_id):
    rid = uid()
    result = {"result": {"clusters": [[uid(), uid()]], "total_objects": 2, "total_clusters": 1}, "errors": []}
    stack.put_blob(rid, json.dumps(result))
    tid = stack.insert_task(task_type=2, status=5, account_id=account_id, result_id=rid)
    r = stack.get("/2/tasks/%d/result" % tid, params={"account_id": account_id})
    assert assert_json(r) == result
    # The contract marks Content-Disposition required for every result.
    assert r.headers.get("content-disposition") == "inline; filename=task_%d.json" % tid, r.headers
    assert_error(stack.get("/2/tasks/%d/result" % tid, params={"account_id": uid()}), 404, 28001)


# -- result as a picture (extension: Accept image/svg+xml on a roc task) -------

def roc_result(n):
    point = lambda f, t, s: {"FPR": f, "TPR": t, "similarity": s}  # noqa: E731
    curve = [point((i / (n - 1)) ** 2, (i / (n - 1)) ** 0.5, 1 - i / (n - 1)) for i in range(n)]
    return {"result": {"roc": curve, "auc": 0.91,
                       "hit_top_probability": {"top-1": 0.5, "top-2": 0.6, "top-3": 0.7, "top-4": None,
                                               "top-5": None},
                       "type_I_and_II_error_rates_equal_point": point(0.25, 0.75, 0.5),
                       "key_points": [point(0.001, 0.2, 0.9), point(0.01, 0.4, 0.8)]},
            "errors": []}


def test_result_svg_of_roc(stack, account_id):
    rid = uid()
    doc = roc_result(301)
    stack.put_blob(rid, json.dumps(doc))
    tid = stack.insert_task(task_type=7, status=5, account_id=account_id, result_id=rid)
    r = stack.get("/2/tasks/%d/result" % tid, params={"account_id": account_id},
                  headers={"Accept": "image/svg+xml"})
    assert r.status == 200, r
    assert r.content_type == "image/svg+xml", r
    assert r.headers.get("content-disposition") == "inline; filename=task_%d.svg" % tid, r.headers
    pairs, circles = od.svg_points(r.text)
    od.assert_curve_matches(pairs, doc["result"]["roc"])
    assert len(circles["eer"]) == 1 and len(circles["key-point"]) == 2
    assert float(circles["eer"][0].get("cx")) == 70 + 540 * 0.25
    # JSON first in Accept, or no preference: the result document as before.
    for accept in ("application/json, image/svg+xml", "*/*"):
        assert assert_json(stack.get("/2/tasks/%d/result" % tid, headers={"Accept": accept})) == doc


def test_result_svg_of_other_types(stack, account_id):
    rid = uid()
    stack.put_blob(rid, json.dumps({"result": {"clusters": [], "total_objects": 0, "total_clusters": 0},
                                    "errors": []}))
    tid = stack.insert_task(task_type=2, status=5, account_id=account_id, result_id=rid)
    assert_error(stack.get("/2/tasks/%d/result" % tid, headers={"Accept": "image/svg+xml"}), 415, 12024)
    # A roc task without its result yet answers as for JSON.
    tid = stack.insert_task(task_type=7, status=1, account_id=account_id)
    assert_error(stack.get("/2/tasks/%d/result" % tid, headers={"Accept": "image/svg+xml"}), 404, 28018)


@pytest.mark.parametrize("task_type", [3, 8])
def test_result_zip(stack, account_id, task_type):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("report.csv", "cluster,face_id\n0,%s\n" % uid())
    data = buf.getvalue() + os.urandom(0)
    rid = uid()
    stack.put_blob(rid, data)
    tid = stack.insert_task(task_type=task_type, status=5, account_id=account_id, result_id=rid)
    r = stack.get("/2/tasks/%d/result" % tid)
    assert r.status == 200, r
    assert r.content_type == "application/zip", r
    assert r.headers.get("content-disposition") == "attachment; filename=task_%d.zip" % tid, r.headers
    if stack.http_port == stack.port:       # through Prism a zip arrives re-encoded (contract.py)
        assert r.body == data
    assert r.headers.get("luna-request-id")


@pytest.mark.direct("Prism re-encodes binary answers")
def test_result_large_blob_streams(stack, account_id):
    rid = uid()
    data = os.urandom(8 * 1024 * 1024)
    stack.put_blob(rid, data)
    tid = stack.insert_task(task_type=8, status=5, account_id=account_id, result_id=rid)
    r = stack.get("/2/tasks/%d/result" % tid, timeout=60)
    assert r.status == 200, r
    assert r.body == data


@pytest.mark.breaks_contract_on_purpose
def test_self_check_reports_what_breaks_the_contract(stack, account_id):
    """[API] RESPONSE_SELF_CHECK is on in the test stack: an answer that breaks
    the contract (here a task row a client could never have written: a
    clustering content without its required objects_type) is still sent,
    and the api logs one "contract violation" line naming the operation,
    the status and the JSON path."""
    _, start = stack.contract_violations()
    tid = stack.insert_task(task_type=2, status=2, account_id=account_id, content={"threshold": 0.5})
    r = stack.get("/2/tasks/%d" % tid)
    assert r.status == 200 and r.json()["content"] == {"threshold": 0.5}, r
    found, _ = stack.contract_violations(start)
    assert len(found) == 1, found
    assert "contract violation: getTask (GET /2/tasks/{task_id}) status 200 at 'content" in found[0], found
    stack.sql("DELETE FROM task WHERE task_id = %s", (tid,))
