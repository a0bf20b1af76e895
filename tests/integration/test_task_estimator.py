"""Estimator tasks end to end: images from a zip archive by URL and from a
network-disk folder, sent to the handlers stand-in; hostile archives and
paths; handler checks; the spec's prefix/postfix tables row by row."""
import contextlib
import os
import uuid

import pytest

from estimator_env import Repointed, by_filename, errors_of, result_of, run_task, servers
from luna import assert_error

STATIC = "c42ad7cb-9078-4be4-8457-4d3c744477df"
DYNAMIC = "8c335656-3145-4c0d-9e99-fa9d6843ab95"


@pytest.fixture(scope="module")
def env(stack, tmp_path_factory):
    fake = servers.FakeHandlers()
    fake.add_handler(STATIC, 1)
    fake.add_handler(DYNAMIC, 2, {"detect_policy": {"detect_face": 1}})
    files = tmp_path_factory.mktemp("zips")
    web = servers.FileServer(str(files))
    rp = Repointed(stack, {("HANDLERS", "URL"): fake.url, ("HANDLERS", "CONCURRENCY"): "3",
                           ("TASKS", "ESTIMATOR_CHUNK"): "2"})

    class Env:
        pass
    e = Env()
    e.fake, e.web, e.files, e.stack = fake, web, str(files), stack
    e.netdisk = os.path.join(stack.netdisk, "est-" + uuid.uuid4().hex[:8])
    os.makedirs(e.netdisk)
    yield e
    rp.undo()
    web.close()
    fake.close()


def body(account, source, handler=None):
    return {"account_id": account, "description": "estimator test",
            "content": {"handler": handler or {"handler_id": STATIC}, "source": source,
                        "filters": {"account_id": account}}}


def zip_source(env, name, files=None, password=None, raw=None):
    path = os.path.join(env.files, name)
    if raw is not None:
        with open(path, "wb") as f:
            f.write(raw)
    elif password:
        servers.make_zip_with_password(path, files, password)
    else:
        servers.make_zip(path, files)
    src = {"source_type": "zip", "reference": env.web.url + "/" + name, "image_type": 0}
    return src


def events_requests(env):
    return [r for r in env.fake.requests() if r["path"].endswith("/events")]


# -- zip by URL -----------------------------------------------------------------------

def test_zip_archive_end_to_end(env, account_id):
    files = {"a/one.png": servers.png(1), "b/two.png": servers.png(2), "three.png": servers.png(3),
             "notes.txt": b"just text", "bad.png": servers.png(4, b"luna-fake:bad"),
             "filtered.png": servers.png(5, b"luna-fake:filtered")}
    src = zip_source(env, "plain.zip", files)
    src["image_type"] = 1
    env.fake.reset()
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    assert task["task_status"] == 5, task
    assert task["count_task_parts_all"] == 3          # 6 files in chunks of 2
    assert task["count_task_parts_done"] == 3
    res = result_of(env.stack, tid)
    got = by_filename(res)
    assert sorted(got) == sorted(files)
    for name in ("a/one.png", "b/two.png", "three.png"):
        e = got[name]
        assert e["errors"] == []
        assert len(e["result"]["events"]) == 1
        assert e["result"]["filtered_detections"] == {"face_detections": []}
    assert got["notes.txt"]["result"] is None
    assert got["notes.txt"]["errors"][0]["error_code"] == 28106
    assert "not an image" in got["notes.txt"]["errors"][0]["detail"]
    assert got["bad.png"]["result"] is None
    assert got["bad.png"]["errors"][0]["error_code"] == 11002      # the service's own error
    assert got["filtered.png"]["result"]["events"] == []
    assert got["filtered.png"]["result"]["filtered_detections"]["face_detections"][0]["filter_reasons"]
    # Per-image errors are also task errors.
    codes = sorted(e["error_code"] for e in errors_of(env.stack, tid))
    assert codes == sorted(e["error_code"] for e in res["errors"])
    assert 28106 in codes
    # The handler got every image (not the text file), with the task's image type.
    reqs = events_requests(env)
    assert len(reqs) == 5
    assert {r["path"] for r in reqs} == {"/6/handlers/%s/events" % STATIC}
    assert {r["query"]["image_type"] for r in reqs} == {"1"}
    assert {r["content_type"] for r in reqs} == {"image/png"}


def test_zip_result_is_deterministic(env, account_id):
    files = {"x%d.png" % i: servers.png(100 + i) for i in range(5)}
    src = zip_source(env, "det.zip", files)
    t1, _ = run_task(env.stack, "estimator", body(account_id, src))
    t2, _ = run_task(env.stack, "estimator", body(account_id, src))
    assert result_of(env.stack, t1)["result"] == result_of(env.stack, t2)["result"]


def test_zip_with_password(env, account_id):
    files = {"p1.png": servers.png(11), "p2.png": servers.png(12)}
    src = zip_source(env, "secret.zip", files, password="s3cret")
    src["authorization"] = {"password": "s3cret"}
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    assert task["task_status"] == 5
    got = by_filename(result_of(env.stack, tid))
    assert all(e["errors"] == [] and len(e["result"]["events"]) == 1 for e in got.values()), got
    # The stored content never shows the password.
    t = env.stack.get("/2/tasks/%d" % tid).json()
    assert "s3cret" not in str(t)


@pytest.mark.parametrize("password, expect", [(None, "no password"), ("wrong", "password")])
def test_zip_password_missing_or_wrong(env, account_id, password, expect):
    files = {"p1.png": servers.png(21)}
    src = zip_source(env, "secret2.zip", files, password="right-one")
    if password:
        src["authorization"] = {"password": password}
    env.fake.reset()
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    assert task["task_status"] == 5
    e = by_filename(result_of(env.stack, tid))["p1.png"]
    assert e["result"] is None
    assert expect in e["errors"][0]["detail"] or "damaged" in e["errors"][0]["detail"]
    assert events_requests(env) == []


def test_zip_bomb_entry_is_refused(env, account_id):
    files = {"bomb.png": b"\x89PNG\r\n\x1a\n" + bytes(60 << 20), "ok.png": servers.png(31)}
    src = zip_source(env, "bomb.zip", files)
    assert os.path.getsize(os.path.join(env.files, "bomb.zip")) < 1 << 20
    env.fake.reset()
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    assert task["task_status"] == 5
    got = by_filename(result_of(env.stack, tid))
    assert got["bomb.png"]["result"] is None
    assert "larger than" in got["bomb.png"]["errors"][0]["detail"]
    assert got["ok.png"]["errors"] == []
    assert len(events_requests(env)) == 1


def test_zip_ratio_bomb_below_size_limit(env, account_id):
    files = {"flat.png": b"\x89PNG\r\n\x1a\n" + bytes(20 << 20)}
    src = zip_source(env, "ratio.zip", files)
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    e = by_filename(result_of(env.stack, tid))["flat.png"]
    assert e["result"] is None and "zip bomb" in e["errors"][0]["detail"]


def test_zip_slip_names_are_refused(env, account_id):
    files = {"../../evil.png": servers.png(41), "/abs.png": servers.png(42), "dir/../../up.png": servers.png(43),
             "..\\win.png": servers.png(44), "C:/drive.png": servers.png(45), "fine/ok.png": servers.png(46)}
    src = zip_source(env, "slip.zip", files)
    env.fake.reset()
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    assert task["task_status"] == 5
    got = by_filename(result_of(env.stack, tid))
    for name in files:
        if name == "fine/ok.png":
            assert got[name]["errors"] == []
        else:
            assert got[name]["result"] is None, name
            assert "not allowed" in got[name]["errors"][0]["detail"], got[name]
    assert len(events_requests(env)) == 1


@pytest.mark.parametrize("what", ["truncated", "not_zip", "empty_file"])
def test_broken_archive_fails_the_task(env, account_id, what):
    good = open(servers.make_zip(os.path.join(env.files, "good.zip"),
                                 {"a%d.png" % i: servers.png(i) for i in range(20)}), "rb").read()
    raw = {"truncated": good[:len(good) // 2], "not_zip": b"<html>not a zip</html>", "empty_file": b""}[what]
    src = zip_source(env, what + ".zip", raw=raw)
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    assert task["task_status"] == 3, task
    errs = errors_of(env.stack, tid)
    assert any(e["error_code"] == 28103 and "zip" in e["detail"] for e in errs), errs


def test_archive_url_not_found_fails_the_task(env, account_id):
    src = {"source_type": "zip", "reference": env.web.url + "/missing.zip", "image_type": 0}
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    assert task["task_status"] == 3
    assert any("404" in e["detail"] for e in errors_of(env.stack, tid))


@pytest.mark.parametrize("ref", ["file:///etc/passwd", "ftp://127.0.0.1/a.zip", "gopher://127.0.0.1/"])
def test_zip_reference_must_be_http(env, account_id, ref):
    r = env.stack.post("/2/tasks/estimator", json=body(account_id, {"source_type": "zip", "reference": ref}))
    assert_error(r, 400, 28103, detail_contains="http")


def test_empty_archive_gives_an_empty_result(env, account_id):
    src = zip_source(env, "empty.zip", {})
    tid, task = run_task(env.stack, "estimator", body(account_id, src))
    assert task["task_status"] == 5
    assert result_of(env.stack, tid)["result"] == []


# -- handlers -------------------------------------------------------------------------

def test_handler_not_found(env, account_id):
    src = zip_source(env, "h.zip", {"a.png": servers.png(1)})
    r = env.stack.post("/2/tasks/estimator", json=body(account_id, src, {"handler_id": str(uuid.uuid4())}))
    assert_error(r, 400, 34000, detail_contains="not found")


def test_dynamic_handler_without_policies(env, account_id):
    src = zip_source(env, "h.zip", {"a.png": servers.png(1)})
    r = env.stack.post("/2/tasks/estimator", json=body(account_id, src, {"handler_id": DYNAMIC}))
    assert_error(r, 400, 12031, detail="Handler %s is dynamic. Dynamic handler not supported" % DYNAMIC)


def test_static_handler_with_policies(env, account_id):
    src = zip_source(env, "h.zip", {"a.png": servers.png(1)})
    r = env.stack.post("/2/tasks/estimator", json=body(account_id, src, {"handler_id": STATIC,
                                                                          "policies": {"a": 1}}))
    assert_error(r, 400, 12032, detail_contains="static")


def test_dynamic_handler_gets_the_policies(env, account_id):
    src = zip_source(env, "dyn.zip", {"a.png": servers.png(51)})
    policies = {"detect_policy": {"detect_face": 1}, "face": True}
    env.fake.reset()
    tid, task = run_task(env.stack, "estimator", body(account_id, src, {"handler_id": DYNAMIC,
                                                                         "policies": policies}))
    assert task["task_status"] == 5
    reqs = events_requests(env)
    assert len(reqs) == 1 and reqs[0]["policies"] == policies
    assert [p["name"] for p in reqs[0]["parts"]] == ["policies", "image"]
    assert reqs[0]["parts"][1]["filename"] == "a.png"


def test_new_handler_from_policies(env, account_id):
    src = zip_source(env, "new.zip", {"a.png": servers.png(61)})
    env.fake.reset()
    tid, task = run_task(env.stack, "estimator", body(account_id, src, {"policies": {"detect_policy": {}}}))
    assert task["task_status"] == 5
    created = [r for r in env.fake.requests() if r["method"] == "POST" and r["path"] == "/6/handlers"]
    assert len(created) == 1 and created[0]["policies"] == {"detect_policy": {}}
    reqs = events_requests(env)
    assert len(reqs) == 1 and STATIC not in reqs[0]["path"]


def wait_until(cond, timeout, what):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def test_retried_planning_reuses_the_created_handler(env, stack, account_id):
    """Planning creates a handler from the task's policies, then waits for the
    archive download, and its scheduler is killed (kill -9) right there. The
    scheduler that plans the task again uses the handler recorded on the task:
    the handlers service sees one creation, and every image goes to it."""
    src = zip_source(env, "retry-plan.zip", {"r1.png": servers.png(81), "r2.png": servers.png(82)})
    env.fake.reset()
    env.web.hold()
    try:
        with own_schedulers(stack, ["plan-a"], {("SCHEDULER", "LEASE_SECONDS"): 3}) as start:
            r = stack.post("/2/tasks/estimator", json=body(account_id, src, {"policies": {"detect_policy": {}}}))
            assert r.status == 202, r.body
            tid = r.json()["task_id"]
            wait_until(lambda: any(p.endswith("/retry-plan.zip") for p in env.web.asked), 30,
                       "planning to download the archive")
            stack.kill_scheduler("plan-a")
            env.web.release()
            row = stack.sql("SELECT task_status, planned, created_handler_id FROM task WHERE task_id = %s", (tid,))
            assert row[0][:2] == ("0", "0") and row[0][2], row
            handler = row[0][2]
            start("plan-b")
            task = stack.wait_task(tid, timeout=60)
            with open(os.path.join(stack.dir, "scheduler-plan-b.log"), errors="replace") as f:
                log_b = f.read()
    finally:
        env.web.release()
    assert task["task_status"] == 5, task
    created = [q for q in env.fake.requests() if q["method"] == "POST" and q["path"] == "/6/handlers"]
    assert len(created) == 1, created
    assert {q["path"] for q in events_requests(env)} == {"/6/handlers/%s/events" % handler}
    assert "task %d: using handler %s, created by an earlier planning attempt" % (tid, handler) in log_b, log_b
    assert sorted(by_filename(result_of(stack, tid))) == ["r1.png", "r2.png"]


def test_handlers_service_unreachable_at_creation(env, stack, account_id):
    # The API's own [HANDLERS] URL is the stand-in; a stopped stand-in is a 5xx with an upstream code.
    env.fake.down(3)
    try:
        src = zip_source(env, "h.zip", {"a.png": servers.png(1)})
        r = env.stack.post("/2/tasks/estimator", json=body(account_id, src))
        assert r.status >= 500 and r.json()["error_code"] in (10, 11), r.body
    finally:
        import time
        time.sleep(3.2)


# -- network disk -----------------------------------------------------------------------

def nd_source(path, prefix=None, postfix=None, recursive=True, follow_links=False):
    ref = {"path": path, "follow_links": follow_links}
    if prefix is not None:
        ref["prefix"] = prefix
    if postfix is not None:
        ref["postfix"] = postfix
    return {"source_type": "network_disk", "reference": ref, "recursive": recursive, "image_type": 0}


def nd_names(env, account, src):
    tid, task = run_task(env.stack, "estimator", body(account, src))
    assert task["task_status"] == 5, (task, errors_of(env.stack, tid))
    return sorted(by_filename(result_of(env.stack, tid)))


@pytest.fixture(scope="module")
def prefix_tree(env):
    root = os.path.join(env.netdisk, "prefix-table")
    servers.write_tree(root, {"prefix/123_file.jpg": servers.png(1), "prefix/file2.jpg": servers.png(2),
                              "temp_file.jpg": servers.png(3), "prefix_file.jpg": servers.png(4)})
    return root


@pytest.fixture(scope="module")
def postfix_tree(env):
    root = os.path.join(env.netdisk, "postfix-table")
    servers.write_tree(root, {"dir/face1.jpg": servers.png(5), "dir/face2.png": servers.png(6),
                              "temp_file.png": servers.png(7), "file.jpg": servers.png(8)})
    return root


# The spec's prefix_schema and postfix_schema tables, row by row, over
# prefix_tree and postfix_tree (the network disk and FTP tests share them).
PREFIX_TABLE = [
    ("prefix", ["prefix/123_file.jpg", "prefix/file2.jpg", "prefix_file.jpg"]),
    ("prefix/", ["prefix/123_file.jpg", "prefix/file2.jpg"]),
    ("prefix/123", ["prefix/123_file.jpg"]),
    ("temp", ["temp_file.jpg"]),
]
POSTFIX_TABLE = [
    (".jpg", ["dir/face1.jpg", "file.jpg"]),
    (".png", ["dir/face2.png", "temp_file.png"]),
]


@pytest.mark.parametrize("prefix, expected", PREFIX_TABLE)
def test_network_disk_prefix_table(env, prefix_tree, account_id, prefix, expected):
    assert nd_names(env, account_id, nd_source(prefix_tree, prefix=prefix)) == expected


@pytest.mark.parametrize("postfix, expected", POSTFIX_TABLE)
def test_network_disk_postfix_table(env, postfix_tree, account_id, postfix, expected):
    assert nd_names(env, account_id, nd_source(postfix_tree, postfix=postfix)) == expected


def test_network_disk_not_recursive(env, postfix_tree, account_id):
    assert nd_names(env, account_id, nd_source(postfix_tree, recursive=False)) == ["file.jpg", "temp_file.png"]


@pytest.fixture(scope="module")
def link_tree(env, tmp_path_factory):
    outside = str(tmp_path_factory.mktemp("outside-roots"))
    servers.write_tree(outside, {"secret.png": servers.png(90), "sub/deep.png": servers.png(91)})
    root = os.path.join(env.netdisk, "links")
    servers.write_tree(root, {"real/in.png": servers.png(92), "top.png": servers.png(93)})
    os.symlink(os.path.join(outside, "secret.png"), os.path.join(root, "escape.png"))
    os.symlink(os.path.join(outside, "sub"), os.path.join(root, "escape-dir"))
    os.symlink(os.path.join(root, "real"), os.path.join(root, "inside-dir"))
    os.symlink(os.path.join(root, "top.png"), os.path.join(root, "inside.png"))
    os.symlink(root, os.path.join(root, "real", "loop"))
    return root, outside


def test_network_disk_links_not_followed(env, link_tree, account_id):
    root, _ = link_tree
    assert nd_names(env, account_id, nd_source(root)) == ["real/in.png", "top.png"]


def test_network_disk_links_followed_only_inside_roots(env, link_tree, account_id):
    root, _ = link_tree
    env.fake.reset()
    tid, task = run_task(env.stack, "estimator", body(account_id, nd_source(root, follow_links=True)))
    assert task["task_status"] == 5
    got = by_filename(result_of(env.stack, tid))
    assert sorted(got) == ["escape.png", "inside-dir/in.png", "inside.png", "real/in.png", "top.png"]
    assert got["escape.png"]["result"] is None
    assert "outside the allowed folders" in got["escape.png"]["errors"][0]["detail"]
    for name in ("inside-dir/in.png", "inside.png", "real/in.png", "top.png"):
        assert got[name]["errors"] == [], got[name]
    assert len(events_requests(env)) == 4


def test_network_disk_path_checks_at_creation(env, link_tree, account_id):
    root, outside = link_tree
    for path, words in [(outside, "outside"), (root + "/../../..", ".."), ("/etc", "outside"),
                        ("relative/path", "absolute"), (root + "/escape-dir", "outside"),
                        (root + "/missing", "missing"), (root + "/top.png", "not a folder")]:
        r = env.stack.post("/2/tasks/estimator", json=body(account_id, nd_source(path)))
        assert_error(r, 400, 28103, detail_contains=words)


def test_network_disk_unreadable_and_non_image_files(env, account_id):
    root = os.path.join(env.netdisk, "mixed")
    servers.write_tree(root, {"ok.png": servers.png(70), "readme.txt": b"hello", "big.png": b"\x89PNG" + bytes(33 << 20)})
    tid, task = run_task(env.stack, "estimator", body(account_id, nd_source(root)))
    assert task["task_status"] == 5
    got = by_filename(result_of(env.stack, tid))
    assert got["ok.png"]["errors"] == []
    assert "not an image" in got["readme.txt"]["errors"][0]["detail"]
    assert "larger than" in got["big.png"]["errors"][0]["detail"]


@contextlib.contextmanager
def own_schedulers(stack, names, overrides):
    """The stack's scheduler s1 stops; schedulers `names` run on the (repointed)
    config with overrides instead. Yields a function that starts one more.
    They stop, and s1 is back, afterwards."""
    conf = stack.write_config(overrides)
    started = []

    def start(name):
        stack.start_scheduler(name, config=conf)
        started.append(name)

    stack.stop_scheduler()
    try:
        for name in names:
            start(name)
        yield start
    finally:
        for name in started:
            stack.stop_scheduler(name)
        stack.start_scheduler()


def test_max_errors_is_exact_across_schedulers(env, stack, account_id):
    """[TASKS] MAX_ERRORS = 3 and two schedulers of two workers running the
    four subtasks of a folder of eight bad files at once: exactly three error
    rows are kept, and the task's error counter says so; every file's entry
    in the result still carries its own error."""
    root = os.path.join(env.netdisk, "manybad")
    servers.write_tree(root, {"bad%d.txt" % i: b"not an image %d" % i for i in range(8)})
    with own_schedulers(stack, ["maxerr-a", "maxerr-b"], {("TASKS", "MAX_ERRORS"): 3,
                                                          ("SCHEDULER", "WORKERS"): 2}):
        tid, task = run_task(stack, "estimator", body(account_id, nd_source(root)))
    assert task["task_status"] == 5, task
    assert task["count_task_parts_all"] == 4
    got = by_filename(result_of(stack, tid))
    assert len(got) == 8 and all(e["errors"] and e["result"] is None for e in got.values()), got
    assert len(errors_of(stack, tid)) == 3
    assert stack.sql("SELECT error_count, (SELECT COUNT(*) FROM task_error WHERE task_id = %s) FROM task "
                     "WHERE task_id = %s", (tid, tid)) == [("3", "3")]


def test_cancel_running_estimator(env, account_id):
    root = os.path.join(env.netdisk, "slow")
    servers.write_tree(root, {"s%d.png" % i: servers.png(i, b"luna-fake:slow") for i in range(12)})
    r = env.stack.post("/2/tasks/estimator", json=body(account_id, nd_source(root)))
    tid = r.json()["task_id"]
    env.stack.wait_task(tid, statuses=(1,), timeout=30)
    assert env.stack.patch("/2/tasks/%d" % tid, json={"task_status": 2}).status in (200, 202, 204)
    task = env.stack.wait_task(tid, statuses=(2, 3, 5), timeout=30)
    assert task["task_status"] == 2


# -- S3 bucket ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(env):
    assert servers.s3rver_available(), "s3rver is not installed (./dev deps, or npm ci --prefix tests/fakes)"
    srv = servers.S3Server(buckets=["images"])
    for key, seed in [("prefix/123_file.jpg", 1), ("prefix/file2.jpg", 2), ("temp_file.jpg", 3),
                      ("prefix_file.jpg", 4), ("prefix/deeper/x.jpg", 5)]:
        srv.put("images", key, servers.png(seed))
    srv.put("images", "notes/readme.txt", b"text")
    yield srv
    srv.close()


def s3_source(s3, prefix=None, recursive=True, secret=servers.S3_SECRET_KEY, sigver="s3v4", save_origin=True):
    ref = {"endpoint": s3.url, "bucket_name": "images"}
    if prefix is not None:
        ref["prefix"] = prefix
    return {"source_type": "s3", "reference": ref, "recursive": recursive, "save_origin": save_origin,
            "authorization": {"public_access_key": servers.S3_ACCESS_KEY, "secret_access_key": secret,
                              "signature_version": sigver}, "image_type": 0}


# The spec's prefix_schema table, row by row, on a bucket.
@pytest.mark.parametrize("prefix, expected", [
    ("prefix", ["prefix/123_file.jpg", "prefix/deeper/x.jpg", "prefix/file2.jpg", "prefix_file.jpg"]),
    ("prefix/", ["prefix/123_file.jpg", "prefix/deeper/x.jpg", "prefix/file2.jpg"]),
    ("prefix/123", ["prefix/123_file.jpg"]),
    ("temp", ["temp_file.jpg"]),
])
def test_s3_prefix_table(env, s3, account_id, prefix, expected):
    assert nd_names(env, account_id, s3_source(s3, prefix)) == expected


def test_s3_not_recursive_and_sigv2(env, s3, account_id):
    assert nd_names(env, account_id, s3_source(s3, "prefix/", recursive=False, sigver="s3v2")) == [
        "prefix/123_file.jpg", "prefix/file2.jpg"]
    assert {e["auth"] for e in s3.log() if e["path"].startswith("/images")} >= {"v2", "v4"}
    assert all(e["ok"] for e in s3.log())


def test_s3_images_and_origin(env, s3, account_id):
    env.fake.reset()
    tid, task = run_task(env.stack, "estimator", body(account_id, s3_source(s3, "notes/")))
    got = by_filename(result_of(env.stack, tid))
    assert "not an image" in got["notes/readme.txt"]["errors"][0]["detail"]
    tid, task = run_task(env.stack, "estimator", body(account_id, s3_source(s3, "temp")))
    reqs = events_requests(env)
    assert reqs[-1]["query"]["image_origin"] == s3.url + "/images/temp_file.jpg"
    tid, task = run_task(env.stack, "estimator", body(account_id, s3_source(s3, "temp", save_origin=False)))
    assert "image_origin" not in events_requests(env)[-1]["query"]


def test_s3_wrong_secret_fails_the_task(env, s3, account_id):
    tid, task = run_task(env.stack, "estimator", body(account_id, s3_source(s3, "temp", secret="wrong")))
    assert task["task_status"] == 3
    assert any("SignatureDoesNotMatch" in e["detail"] for e in errors_of(env.stack, tid))


def test_s3_arn_rules_at_creation(env, s3, account_id):
    src = s3_source(s3)
    src["reference"] = {"bucket_name": "arn:aws:s3:eu-central-1:000000000000:accesspoint/b", "region": "x"}
    assert_error(env.stack.post("/2/tasks/estimator", json=body(account_id, src)), 400, 28103,
                 detail_contains="ARN")
    src["reference"] = {"bucket_name": "plain"}
    assert_error(env.stack.post("/2/tasks/estimator", json=body(account_id, src)), 400, 28103,
                 detail_contains="endpoint")


# -- FTP ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ftp(env, tmp_path_factory):
    assert servers.python_has("pyftpdlib"), "python3-pyftpdlib is not installed (./dev deps)"
    root = str(tmp_path_factory.mktemp("ftp-root"))
    servers.write_tree(os.path.join(root, "image-storage"), {
        "prefix/123_file.jpg": servers.png(1), "prefix/file2.jpg": servers.png(2), "temp_file.jpg": servers.png(3),
        "prefix_file.jpg": servers.png(4)})
    servers.write_tree(os.path.join(root, "postfix"), {
        "dir/face1.jpg": servers.png(5), "dir/face2.png": servers.png(6), "temp_file.png": servers.png(7),
        "file.jpg": servers.png(8)})
    srv = servers.FtpServer(root)
    yield srv
    srv.close()


def ftp_source(ftp, path, prefix=None, postfix=None, recursive=True, password=None, max_sessions=2):
    ref = {"host": "127.0.0.1", "port": ftp.port, "path": path, "max_sessions": max_sessions}
    if prefix is not None:
        ref["prefix"] = prefix
    if postfix is not None:
        ref["postfix"] = postfix
    return {"source_type": "ftp", "reference": ref, "recursive": recursive, "image_type": 0,
            "authorization": {"user": ftp.user, "password": password or ftp.password}}


@pytest.mark.parametrize("prefix, expected", PREFIX_TABLE)
def test_ftp_prefix_table(env, ftp, account_id, prefix, expected):
    assert nd_names(env, account_id, ftp_source(ftp, "image-storage/", prefix=prefix)) == expected


@pytest.mark.parametrize("postfix, expected", POSTFIX_TABLE)
def test_ftp_postfix_table(env, ftp, account_id, postfix, expected):
    assert nd_names(env, account_id, ftp_source(ftp, "/postfix", postfix=postfix)) == expected


def test_ftp_not_recursive_one_session(env, ftp, account_id):
    env.fake.reset()
    names = nd_names(env, account_id, ftp_source(ftp, "postfix", recursive=False, max_sessions=1))
    assert names == ["file.jpg", "temp_file.png"]
    assert len(events_requests(env)) == 2


def test_ftp_wrong_password_fails_the_task(env, ftp, account_id):
    tid, task = run_task(env.stack, "estimator", body(account_id, ftp_source(ftp, "postfix", password="nope")))
    assert task["task_status"] == 3
    assert any("FTP" in e["detail"] for e in errors_of(env.stack, tid))
