"""Query parameters are validated against the spec (types, ranges, enums, RFC 3339
times, uuids, comma-separated id lists); unknown or bad ones are 400/12012
naming the parameter."""

import pytest

from luna import assert_error, assert_json

pytestmark = pytest.mark.usefixtures("no_scheduler")

ACC = "7daa0e35-36a2-474a-8f2b-87f78b59d080"

BAD = [
    # (path, raw query, parameter named in the error)
    ("/2/tasks", "foo=1", "foo"),
    ("/2/tasks", "page=0", "page"),
    ("/2/tasks", "page=-1", "page"),
    ("/2/tasks", "page=abc", "page"),
    ("/2/tasks", "page=1.5", "page"),
    ("/2/tasks", "page=", "page"),
    ("/2/tasks", "page_size=0", "page_size"),
    ("/2/tasks", "page_size=101", "page_size"),
    ("/2/tasks", "page_size=99999999999999999999999", "page_size"),
    ("/2/tasks", "task_type=10", "task_type"),
    ("/2/tasks", "task_type=x", "task_type"),
    ("/2/tasks", "task_status=6", "task_status"),
    ("/2/tasks", "task_status=-1", "task_status"),
    ("/2/tasks", "create_time__lt=yesterday", "create_time__lt"),
    ("/2/tasks", "create_time__lt=2020-13-01T00:00:00Z", "create_time__lt"),
    ("/2/tasks", "create_time__gte=2020-01-01", "create_time__gte"),
    ("/2/tasks", "create_time__gte=2020-01-01T25:00:00Z", "create_time__gte"),
    ("/2/tasks", "end_time__lt=2020-01-01T00:00:00", "end_time__lt"),
    ("/2/tasks", "end_time__gte=0", "end_time__gte"),
    ("/2/tasks", "account_id=xyz", "account_id"),
    ("/2/tasks", "account_id=7DAA0E35-36A2-474A-8F2B-87F78B59D080", "account_id"),
    ("/2/tasks", "account_id=7daa0e35-36a2-474a-8f2b-87f78b59d08", "account_id"),
    ("/2/tasks", "result_id=1", "result_id"),
    ("/2/tasks", "task_ids=1,a", "task_ids"),
    ("/2/tasks", "task_ids=1,,2", "task_ids"),
    ("/2/tasks", "task_ids=", "task_ids"),
    ("/2/tasks", "task_ids=1;2", "task_ids"),
    ("/2/tasks", "task_ids=-3", "task_ids"),
    ("/2/tasks/count", "page=1", "page"),
    ("/2/tasks/count", "page_size=10", "page_size"),
    ("/2/tasks/count", "task_type=11", "task_type"),
    ("/2/tasks/count", "task_ids=x", "task_ids"),
    ("/2/tasks/count", "result_id=" + ACC, "result_id"),
    ("/2/tasks/1", "foo=bar", "foo"),
    ("/2/tasks/1", "account_id=1", "account_id"),
    ("/2/tasks/1/result", "account_id=1", "account_id"),
    ("/2/tasks/1/subtasks", "page=1", "page"),
    ("/2/tasks/1/errors", "page_size=500", "page_size"),
    ("/2/tasks/1/errors", "error_code=1", "error_code"),
    ("/2/tasks/1/errors/count", "error_code=abc", "error_code"),
    ("/2/tasks/1/errors/count", "error_time__lt=now", "error_time__lt"),
    ("/2/tasks/errors", "error_ids=a", "error_ids"),
    ("/2/tasks/errors", "error_ids=1,b", "error_ids"),
    ("/2/tasks/errors", "error_code=x", "error_code"),
    ("/2/tasks/errors", "status_code=399", "status_code"),
    ("/2/tasks/errors", "status_code=600", "status_code"),
    ("/2/tasks/errors", "error_time__gte=bad", "error_time__gte"),
    ("/2/tasks/errors", "task_type=12", "task_type"),
    ("/2/tasks/errors", "page_size=0", "page_size"),
    ("/2/tasks/errors", "create_time__lt=2020-01-01T00:00:00Z", "create_time__lt"),
    ("/2/tasks/errors/count", "page=1", "page"),
    ("/2/tasks/errors/count", "status_code=500", "status_code"),
    ("/2/tasks/errors/count", "error_ids=", "error_ids"),
    ("/2/tasks/errors/1", "account_id=nope", "account_id"),
    ("/2/tasks/errors/1", "page=1", "page"),
]
# /version, /2/config, /2/docs/* and /healthcheck declare no 400: they ignore
# their query (test_api_service.py).


@pytest.mark.parametrize("path,query,name", BAD)
def test_bad_query(stack, path, query, name):
    r = stack.get(path + "?" + query)
    e = assert_error(r, 400, 12012, detail="Bad query parameters '%s'" % name)
    assert e["desc"] == "Bad/incomplete input data"


@pytest.mark.parametrize("method,path", [("PATCH", "/2/tasks/1"), ("DELETE", "/2/tasks/1")])
def test_bad_query_on_patch_and_delete(stack, method, path):
    r = stack.request(method, path + "?account_id=123")
    assert_error(r, 400, 12012, detail="Bad query parameters 'account_id'")


def test_bad_query_on_post(stack):
    r = stack.post("/2/tasks/gc?foo=1", json={})
    assert r.status == 400, r
    assert r.json()["error_code"] in (12012, 12022), r


GOOD = [
    ("/2/tasks", "page=1&page_size=1"),
    ("/2/tasks", "page_size=100"),
    ("/2/tasks", "task_type=0&task_status=0"),
    ("/2/tasks", "task_ids=1"),
    ("/2/tasks", "task_ids=1,2,3"),
    ("/2/tasks", "create_time__gte=2020-01-01T00:00:00Z&create_time__lt=2030-01-01T00:00:00.123456%2B03:00"),
    ("/2/tasks", "end_time__gte=2020-01-01T00:00:00.5-05:00"),
    ("/2/tasks", "create_time__lt=2018-08-11T09:11:41.674Z"),
    ("/2/tasks", "account_id=" + ACC),
    ("/2/tasks", "result_id=8f4f0070-c464-460b-bf78-fac225df72e9"),
    ("/2/tasks/count", "task_ids=1,2&task_type=9&task_status=5&account_id=" + ACC),
    ("/2/tasks/errors", "error_ids=1,2&error_code=28001&status_code=404&task_type=2&page=2&page_size=5"),
    ("/2/tasks/errors", "error_time__gte=2020-01-01T00:00:00Z&error_time__lt=2030-01-01T00:00:00Z"),
    ("/2/tasks/errors/count", "error_ids=1&task_ids=1,2&error_code=1&task_type=1&account_id=" + ACC),
]


@pytest.mark.parametrize("path,query", GOOD)
def test_good_query(stack, path, query):
    assert_json(stack.get(path + "?" + query))


def test_query_values_are_url_decoded(stack, account_id):
    tid = stack.insert_task(task_type=4, status=5, account_id=account_id, create_time="2021-01-01 00:00:00")
    r = stack.get("/2/tasks?account_id=%s&task_ids=%d%%2C999999999&create_time__lt=2021-01-01T03%%3A00%%3A01%%2B03%%3A00"
                  % (account_id, tid))
    assert [t["task_id"] for t in assert_json(r)["tasks"]] == [tid]
