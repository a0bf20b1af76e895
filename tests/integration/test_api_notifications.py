"""The notification policy operations (an extension beyond v.3.8.8):
the optional notification_policy of every create body, GET | PUT
/2/tasks/{task_id}/notification_policy and the delivery log GET
/2/tasks/{task_id}/notifications. No scheduler is needed: nothing is
delivered here (test_task_notifications.py delivers).

- a policy given at creation is stored and answered, secrets masked; a body
  without one answers an empty policy (a v.3.8.8 client sees nothing new);
- every task type takes one;
- a callback URL outside [OUTBOUND] ALLOW is refused with 400/12022 naming its
  JSON path, at creation and by PUT; so are the [NOTIFICATIONS] limits
  (callbacks, timeout, headers) and header names a callback may not set;
- PUT replaces the policy, keeping the secrets sent back masked; the log of a
  task without notifications is empty;
  an unknown task is 404 for the three operations.
"""
import pytest

from luna import assert_error, task_body
from notify_receiver import gc_body

OUTSIDE = "http://10.255.255.1:8080/hook"


@pytest.fixture(scope="module", autouse=True)
def no_callbacks_left(stack, no_scheduler):
    """The module's policies point at nothing that listens: they are dropped
    before the scheduler comes back (no_scheduler then cancels the tasks left),
    so nothing is sent for them while later tests count deliveries."""
    first = stack.max_task_id()
    yield
    stack.sql("DELETE FROM task_callback WHERE task_id > %s", (first,))


def put_policy(stack, task_id, policy):
    return stack.request("PUT", "/2/tasks/%d/notification_policy" % task_id, json=policy)


def get_policy(stack, task_id):
    r = stack.get("/2/tasks/%d/notification_policy" % task_id)
    assert r.status == 200, r
    return r.json()


def test_a_policy_given_at_creation_is_answered_masked(stack, account_id, no_scheduler):
    policy = {"task_callbacks": [{"url": "http://127.0.0.1:9/a", "authorization": {"type": "bearer",
                                                                                   "token": "t0p-secret"},
                                  "params": {"timeout": 5, "headers": {"Cookie": "c=1", "X-Plain": "v"}}}],
              "subtask_callbacks": [{"url": "http://user:pa55@127.0.0.1:9/b", "enable": 0}]}
    r = stack.post("/2/tasks/gc", json=gc_body(account_id, policy))
    assert r.status == 202, r
    got = get_policy(stack, r.json()["task_id"])
    assert got["task_callbacks"] == [{"type": "http", "url": "http://127.0.0.1:9/a",
                                      "authorization": {"type": "bearer", "token": "********"},
                                      "params": {"timeout": 5, "headers": {"Cookie": "********", "X-Plain": "v"}},
                                      "enable": 1}], got
    assert got["subtask_callbacks"] == [{"type": "http", "url": "http://***@127.0.0.1:9/b", "enable": 0}], got


def test_a_task_without_a_policy_has_empty_lists(stack, account_id, no_scheduler):
    r = stack.post("/2/tasks/gc", json=gc_body(account_id))
    assert r.status == 202, r
    task_id = r.json()["task_id"]
    assert get_policy(stack, task_id) == {"task_callbacks": [], "subtask_callbacks": []}
    r = stack.get("/2/tasks/%d/notifications" % task_id)
    assert r.status == 200 and r.json() == {"notifications": []}, r


@pytest.mark.parametrize("task_type", ["clustering", "exporter", "linker", "gc", "reporter", "additional_extract",
                                       "cross_match", "roc", "estimator"])
def test_every_task_type_takes_a_policy(stack, account_id, no_scheduler, task_type):
    """The schema of every create body has the property; its checks run
    before the type's own checks of the content."""
    body = task_body(task_type, account_id, source_task_id=1)
    body["notification_policy"] = {"task_callbacks": [{"url": OUTSIDE}]}
    r = stack.post("/2/tasks/" + task_type, json=body)
    assert_error(r, 400, 12022, detail_contains="Path: 'notification_policy.task_callbacks.0.url'")
    assert "is not allowed by the outbound policy ([OUTBOUND] ALLOW)" in r.json()["detail"], r


@pytest.mark.parametrize("policy, path, words", [
    ({"task_callbacks": [{"url": "http://127.0.0.1/ok"}, {"url": OUTSIDE}]}, "task_callbacks.1.url",
     "outbound policy"),
    ({"subtask_callbacks": [{"url": "ftp://127.0.0.1/x"}]}, "subtask_callbacks.0.url", "scheme 'ftp'"),
    ({"task_callbacks": [{"url": "http://127.0.0.1/"}] * 11}, "task_callbacks", "[NOTIFICATIONS] MAX_CALLBACKS"),
    ({"task_callbacks": [{"url": "http://127.0.0.1/", "params": {"timeout": 61}}]}, "task_callbacks.0.params.timeout",
     "[NOTIFICATIONS] MAX_TIMEOUT"),
    ({"task_callbacks": [{"url": "http://127.0.0.1/", "params": {"headers": {"H%d" % i: "v" for i in range(17)}}}]},
     "task_callbacks.0.params.headers", "[NOTIFICATIONS] MAX_HEADERS"),
    ({"task_callbacks": [{"url": "http://127.0.0.1/", "params": {"headers": {"X-Big": "v" * 1100}}}]},
     "task_callbacks.0.params.headers", "[NOTIFICATIONS] MAX_HEADER_BYTES"),
    ({"task_callbacks": [{"url": "http://127.0.0.1/", "params": {"headers": {"Content-Type": "text/plain"}}}]},
     "task_callbacks.0.params.headers", "not a header name"),
    ({"task_callbacks": [{"url": "http://127.0.0.1/", "params": {"headers": {"Bad Name": "v"}}}]},
     "task_callbacks.0.params.headers", "not a header name"),
])
def test_refusals_name_the_path(stack, account_id, no_scheduler, policy, path, words):
    r = stack.post("/2/tasks/gc", json=gc_body(account_id, policy))
    assert_error(r, 400, 12022, detail_contains="Path: 'notification_policy.%s'" % path)
    assert words in r.json()["detail"], r
    task_id = stack.insert_task(task_type=3, status=0, account_id=account_id)
    r = put_policy(stack, task_id, policy)
    assert_error(r, 400, 12022, detail_contains="Path: '%s'" % path)
    assert words in r.json()["detail"], r
    assert get_policy(stack, task_id) == {"task_callbacks": [], "subtask_callbacks": []}


@pytest.mark.parametrize("policy, path", [
    ({"task_callbacks": [{"url": "http://127.0.0.1/", "authorization": {"type": "digest"}}]},
     "task_callbacks.0.authorization"),
    ({"task_callbacks": [{}]}, "task_callbacks.0"),
    ({"other_callbacks": []}, ""),
    ({"task_callbacks": [{"url": "http://127.0.0.1/", "params": {"headers": {"X": "a\r\nInjected: 1"}}}]},
     "task_callbacks.0.params.headers.X"),
])
def test_the_schema_refuses_malformed_policies(stack, account_id, no_scheduler, policy, path):
    r = stack.post("/2/tasks/gc", json=gc_body(account_id, policy))
    assert_error(r, 400, 12022, detail_contains="Path: 'notification_policy%s" % ("." + path if path else ""))


def test_put_replaces_the_policy(stack, account_id, no_scheduler):
    r = stack.post("/2/tasks/gc", json=gc_body(account_id, {"task_callbacks": [{"url": "http://127.0.0.1/1"}]}))
    task_id = r.json()["task_id"]
    new = {"task_callbacks": [{"url": "http://127.0.0.1/2"}],
           "subtask_callbacks": [{"url": "http://127.0.0.1/3", "authorization": {"type": "basic", "login": "l",
                                                                                  "password": "p"}}]}
    r = put_policy(stack, task_id, new)
    assert r.status == 204 and r.body == b"", r
    got = get_policy(stack, task_id)
    assert [c["url"] for c in got["task_callbacks"]] == ["http://127.0.0.1/2"], got
    assert got["subtask_callbacks"][0]["authorization"] == {"type": "basic", "login": "l", "password": "********"}
    r = put_policy(stack, task_id, {})
    assert r.status == 204, r
    assert get_policy(stack, task_id) == {"task_callbacks": [], "subtask_callbacks": []}


def test_a_policy_read_and_put_back_keeps_its_secrets(stack, account_id, no_scheduler):
    policy = {"task_callbacks": [{"url": "http://127.0.0.1/a", "authorization": {"type": "bearer", "token": "tk-1"},
                                  "params": {"headers": {"X-Api-Key": "k-1", "X-Plain": "p"}}}],
              "subtask_callbacks": [{"url": "http://127.0.0.1/b",
                                     "authorization": {"type": "basic", "login": "l", "password": "pw-1"}}]}
    task_id = stack.post("/2/tasks/gc", json=gc_body(account_id, policy)).json()["task_id"]
    shown = get_policy(stack, task_id)
    shown["task_callbacks"][0]["params"]["headers"]["X-Plain"] = "q"
    r = put_policy(stack, task_id, shown)
    assert r.status == 204, r
    stored = stack.sql("SELECT callback FROM task_callback WHERE task_id = %s AND replaced = 0 "
                       "ORDER BY events, position", (task_id,))
    assert '"token":"tk-1"' in stored[0][0] and '"X-Api-Key":"k-1"' in stored[0][0], stored
    assert '"X-Plain":"q"' in stored[0][0] and '"password":"pw-1"' in stored[1][0], stored
    # A masked secret where the current policy has none (another index, another header) is refused.
    shown["task_callbacks"].insert(0, {"url": "http://127.0.0.1/c", "authorization": {
        "type": "basic", "login": "l", "password": "********"}})
    r = put_policy(stack, task_id, shown)
    assert_error(r, 400, 12022, detail_contains="Path: 'task_callbacks.0.authorization.password'")
    r = put_policy(stack, task_id, {"subtask_callbacks": [{"url": "http://127.0.0.1/b",
                                                           "params": {"headers": {"X-Other": "********"}}}]})
    assert_error(r, 400, 12022, detail_contains="Path: 'subtask_callbacks.0.params.headers.X-Other'")


def test_other_accounts_and_unknown_tasks_are_404(stack, account_id, no_scheduler):
    task_id = stack.max_task_id() + 1000
    for r in (stack.get("/2/tasks/%d/notification_policy" % task_id), put_policy(stack, task_id, {}),
              stack.get("/2/tasks/%d/notifications" % task_id)):
        assert_error(r, 404, 28001)
    mine = stack.insert_task(task_type=3, status=0, account_id=account_id)
    r = stack.get("/2/tasks/%d/notification_policy" % mine, params={"account_id": "7daa0e35-36a2-474a-8f2b-87f78b59d080"})
    assert_error(r, 404, 28001)
