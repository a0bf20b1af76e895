"""The S3 client and the S3 result store against a real S3 REST server:
s3rver (npm) behind tests/fakes/sigv4_proxy.py, which checks every SigV4
signature with botocore, so a request signed wrongly fails here.

The store's own checks live in tests/unit/test_sources.c (run here with
LUNA_S3_TEST_ENDPOINT set); the stack-level tests run an estimator task and a cross match with
[STORAGE] BACKEND = s3 for the api and the scheduler: a stack or scheduler
that cannot use the S3 store fails the test."""
import os
import random
import subprocess
import uuid

import pytest

import objdata as od
from estimator_env import Repointed, result_of, run_task, servers
from luna import default_build

@pytest.fixture(scope="module")
def s3():
    # A missing S3 server is a broken test set-up, not a reason to pass.
    assert servers.s3rver_available(), "s3rver is not installed (./dev deps, or npm ci --prefix tests/fakes)"
    srv = servers.S3Server(buckets=["store", "images"])
    yield srv
    srv.close()


def unit_binary():
    build = default_build()
    subprocess.run(["make", "-C", build, "tests/unit/test_sources"], check=True, capture_output=True)
    return os.path.join(build, "tests", "unit", "test_sources")


def test_client_and_store_against_s3rver(s3):
    env = dict(os.environ, LUNA_S3_TEST_ENDPOINT=s3.url, LUNA_S3_TEST_BUCKET="store")
    p = subprocess.run([unit_binary()], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert " 0 failed" in p.stdout
    log = s3.log()
    refused = [e for e in log if not e["ok"]]
    # Every request was signed and checked; only the one with a wrong secret was refused.
    assert [(e["method"], e["path"], e["auth"]) for e in refused] == [("PUT", "/store/blob-3", "v4")], refused
    assert sum(1 for e in log if e["auth"] == "v4") > 1000
    assert sum(1 for e in log if e["auth"] == "v2") == 2
    assert s3.keys("store", "blob-2") == ["blob-2"]


def test_stack_with_s3_result_store(stack, s3, account_id, tmp_path):
    fake = servers.FakeHandlers()
    fake.add_handler("c42ad7cb-9078-4be4-8457-4d3c744477df")
    web = servers.FileServer(str(tmp_path))
    servers.make_zip(str(tmp_path / "a.zip"), {"x.png": servers.png(1), "y.png": servers.png(2)})
    try:
        rp = Repointed(stack, {("HANDLERS", "URL"): fake.url, ("STORAGE", "BACKEND"): "s3",
                               ("STORAGE", "S3_ENDPOINT"): s3.url, ("STORAGE", "S3_BUCKET"): "store",
                               ("STORAGE", "S3_ACCESS_KEY"): "S3RVER", ("STORAGE", "S3_SECRET_KEY"): "S3RVER"})
    except Exception:
        fake.close()
        web.close()
        raise
    try:
        body = {"account_id": account_id, "content": {
            "handler": {"handler_id": "c42ad7cb-9078-4be4-8457-4d3c744477df"},
            "source": {"source_type": "zip", "reference": web.url + "/a.zip"}, "filters": {"account_id": account_id}}}
        tid, task = run_task(stack, "estimator", body)
        assert task["task_status"] == 5, ("the scheduler cannot use the S3 store", task)
        assert sorted(e["filename"] for e in result_of(stack, tid)["result"]) == ["x.png", "y.png"]
        stored = s3.keys("store")
        rid = stack.sql("SELECT result_id FROM task WHERE task_id = %s", (tid,))[0][0]
        assert rid in stored
        assert not any(k.startswith("estimator-%d-" % tid) for k in stored)   # the kept archive is gone
        assert stack.delete("/2/tasks/%d" % tid).status in (200, 204)
        assert rid not in s3.keys("store")
        h = stack.get("/healthcheck", params={"include_luna_services": 1})
        assert h.status == 200, h.body
    finally:
        rp.undo()
        fake.close()
        web.close()


def test_a_one_subtask_cross_match_result_is_adopted_unread(stack, s3, account_id):
    """A cross match planned as one subtask stores its result document once;
    collecting adopts that blob by the subtask row's mark (result_document)
    without reading it: the store sees one PUT of the result and no GET until
    a client asks for the result."""
    rnd = random.Random(31)
    faces = od.make_faces(rnd, account_id, od.people(rnd, 3), 4)
    od.import_rows(stack, "faces", od.strip(faces))
    rp = Repointed(stack, {("STORAGE", "BACKEND"): "s3", ("STORAGE", "S3_ENDPOINT"): s3.url,
                           ("STORAGE", "S3_BUCKET"): "store", ("STORAGE", "S3_ACCESS_KEY"): "S3RVER",
                           ("STORAGE", "S3_SECRET_KEY"): "S3RVER"})
    try:
        seen = len(s3.log())
        tid, task = od.run_task(stack, "cross_match", {"account_id": account_id, "content": {
            "filters": {"reference_type": "faces", "candidate_type": "faces", "reference_filters": {},
                        "candidate_filters": {}}, "threshold": 0.1, "limit": 2}})
        assert task["task_status"] == 5, task
        rid = stack.sql("SELECT result_id FROM task WHERE task_id = %s", (tid,))[0][0]
        marks = stack.sql("SELECT result_document FROM subtask WHERE task_id = %s", (tid,))
        on_blob = [(e["method"], e["ok"]) for e in s3.log()[seen:] if e["path"].endswith("/" + rid)]
        assert [int(m[0]) for m in marks] == [1], marks
        assert on_blob == [("PUT", True)], on_blob
        doc = result_of(stack, tid)
    finally:
        rp.undo()
    assert doc["errors"] == []
    vecs = [(f["face_id"], f["_vec"]) for f in faces]
    want = od.cross_match(vecs, vecs, 0.1, 2)
    assert [m["reference_id"] for m in doc["result"]] == [w[0] for w in want]
