"""The outbound policy and credentials in URLs.

The session's stack allows client-given URLs to reach 127.0.0.1 only
([OUTBOUND] ALLOW = 127.0.0.1, see conftest.py). Two small web servers stand
in for an image server the operator allows (on 127.0.0.1) and a host inside
the network it does not (on 127.0.0.2); both record every request they get.

- a URL outside the allow-list is refused at creation (400/12022 naming the
  JSON path) and nothing is fetched;
- a redirect from the allowed server to the other one is refused at the hop:
  the task fails with an error row and the second server sees no request;
- a password or a signature in a zip URL never reaches the scheduler log, the
  API log, the task's error rows or its GET reply;
- GC deletes only image origins of the result store that nothing else uses;
  any other origin stays, gets an error row, and no request is sent to it;
- a network-disk path outside the roots gets the same error whether it exists.
"""
import base64
import http.server
import os
import random
import threading
import uuid

import pytest

import objdata as od
from estimator_env import Repointed, errors_of, result_of, run_task, servers
from luna import assert_error

STATIC = "5a0c7a43-3f59-4b36-9f5e-2d0b7f1d2c11"
PASSWORD = "Pa55InUrl-7f3e"
SIGNATURE = "SigInUrl-9c1d"


class RecordingServer:
    """A loopback web server: /redirect?to=URL answers 302 to URL, /<name> a
    file given to serve(); every request is recorded (method, path)."""

    def __init__(self, host):
        self.files = {}
        self.requests = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self):
                rec.requests.append((self.command, self.path))
                if self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path[len("/redirect?to="):])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = rec.files.get(self.path.split("?")[0])
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                if data and self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_DELETE = do_POST = _answer

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://%s:%d" % (host, self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, name, data):
        self.files["/" + name] = data

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def env(stack, tmp_path_factory):
    fake = servers.FakeHandlers()
    fake.add_handler(STATIC, 1)
    allowed, other = RecordingServer("127.0.0.1"), RecordingServer("127.0.0.2")
    rp = Repointed(stack, {("HANDLERS", "URL"): fake.url})
    zips = tmp_path_factory.mktemp("outbound-zips")
    archive = servers.make_zip(os.path.join(str(zips), "a.zip"), {"one.png": servers.png(1)})
    with open(archive, "rb") as f:
        data = f.read()
    allowed.serve("a.zip", data)
    other.serve("a.zip", data)

    class Env:
        pass
    e = Env()
    e.stack, e.fake, e.allowed, e.other = stack, fake, allowed, other
    yield e
    rp.undo()
    allowed.close()
    other.close()
    fake.close()


def body(account, source):
    return {"account_id": account, "description": "outbound test",
            "content": {"handler": {"handler_id": STATIC}, "source": source, "filters": {"account_id": account}}}


def zip_source(url):
    return {"source_type": "zip", "reference": url, "image_type": 0}


def log_text(stack, name):
    with open(os.path.join(stack.dir, name), errors="replace") as f:
        return f.read()


# -- the allow-list at creation ---------------------------------------------------------

@pytest.mark.parametrize("source, path", [
    (lambda e: zip_source(e.other.url + "/a.zip"), "content.source.reference"),
    (lambda e: zip_source("http://169.254.169.254/latest/meta-data/"), "content.source.reference"),
    (lambda e: zip_source("http://[::1]:%s/a.zip" % e.allowed.url.rsplit(":", 1)[1]), "content.source.reference"),
    (lambda e: {"source_type": "s3", "reference": {"bucket_name": "b", "endpoint": e.other.url},
                "authorization": {"public_access_key": "k", "secret_access_key": "s"}},
     "content.source.reference.endpoint"),
    (lambda e: {"source_type": "ftp", "reference": {"host": "127.0.0.2", "port": 21}},
     "content.source.reference.host"),
], ids=["zip-other-host", "zip-metadata", "zip-ipv6-loopback", "s3-endpoint", "ftp-host"])
def test_url_outside_the_allow_list_is_refused_at_creation(env, account_id, source, path):
    before = len(env.other.requests)
    r = env.stack.post("/2/tasks/estimator", json=body(account_id, source(env)))
    assert_error(r, 400, 12022, detail_contains=["Path: '%s'" % path, "outbound policy", "[OUTBOUND] ALLOW"])
    assert len(env.other.requests) == before


def test_allowed_url_runs(env, account_id):
    tid, task = run_task(env.stack, "estimator", body(account_id, zip_source(env.allowed.url + "/a.zip")))
    assert task["task_status"] == 5, (task, errors_of(env.stack, tid))
    assert [e["filename"] for e in result_of(env.stack, tid)["result"]] == ["one.png"]


# -- redirects: every hop is checked ------------------------------------------------------

def test_redirect_to_a_host_outside_the_list_is_refused_at_the_hop(env, account_id):
    env.other.requests.clear()
    env.allowed.requests.clear()
    url = env.allowed.url + "/redirect?to=" + env.other.url + "/a.zip"
    tid, task = run_task(env.stack, "estimator", body(account_id, zip_source(url)))
    assert task["task_status"] == 3, task
    errs = errors_of(env.stack, tid)
    assert any(e["error_code"] == 28103 and "127.0.0.2" in e["detail"] and "outbound policy" in e["detail"]
               for e in errs), errs
    assert ("GET", "/redirect?to=" + env.other.url + "/a.zip") in env.allowed.requests
    assert env.other.requests == []       # nothing was fetched from the second server


def test_redirect_within_the_list_is_followed(env, account_id):
    url = env.allowed.url + "/redirect?to=" + env.allowed.url + "/a.zip"
    tid, task = run_task(env.stack, "estimator", body(account_id, zip_source(url)))
    assert task["task_status"] == 5, (task, errors_of(env.stack, tid))


# -- credentials in URLs ---------------------------------------------------------------------

def test_password_in_a_zip_url_never_appears(env, account_id):
    host = env.allowed.url[len("http://"):]
    url = "http://luser:%s@%s/missing.zip?X-Amz-Signature=%s&part=1" % (PASSWORD, host, SIGNATURE)
    tid, task = run_task(env.stack, "estimator", body(account_id, zip_source(url)))
    assert task["task_status"] == 3, task
    # Refused at creation too (another host), with the URL in the request.
    refused = env.stack.post("/2/tasks/estimator", json=body(account_id, zip_source(
        "http://luser:%s@127.0.0.2/a.zip?X-Amz-Signature=%s" % (PASSWORD, SIGNATURE))))
    assert refused.status == 400
    errs = errors_of(env.stack, tid)
    reply = env.stack.get("/2/tasks/%d" % tid).body.decode()
    # The URL did reach the error rows and the reply, redacted (so the check below can fail).
    assert any("http://***@%s/missing.zip?X-Amz-Signature=***&part=1" % host in e["detail"] for e in errs), errs
    assert "***@%s/missing.zip" % host in reply, reply
    texts = {"error rows": str(errs), "GET task": reply, "refusal": refused.body.decode(),
             "api.log": log_text(env.stack, "api.log"), "scheduler.log": log_text(env.stack, "scheduler.log")}
    assert "***@%s" % host in texts["scheduler.log"]
    for where, text in texts.items():
        assert PASSWORD not in text, where
        assert SIGNATURE not in text, where


# -- GC and image origins ----------------------------------------------------------------------

def event(rnd, account, origin, sample_image=None):
    sid = od.new_id(rnd)
    e = {"event_id": od.new_id(rnd), "account_id": account,
         "face_detections": [{"sample_id": sid, "image_origin": origin}]}
    if sample_image:
        e["samples"] = [{"sample_id": sid, "image_b64": base64.b64encode(sample_image).decode()}]
    return e, sid


def test_gc_deletes_only_unused_origins_of_the_result_store(env, account_id):
    rnd = random.Random(71)
    other_account = str(uuid.uuid4())
    # Another account's event: its sample blob and its origin image.
    shared_origin = od.new_id(rnd)
    theirs, their_sample = event(rnd, other_account, "/6/images/%s" % shared_origin, b"their sample")
    own_origin, url_origin, path_origin = od.new_id(rnd), od.new_id(rnd), od.new_id(rnd)
    mine = {
        "own": event(rnd, account_id, "/6/images/%s" % own_origin)[0],
        "url": event(rnd, account_id, env.allowed.url + "/6/images/%s" % url_origin)[0],
        "path": event(rnd, account_id, "/srv/images/%s" % path_origin)[0],
        "their_sample": event(rnd, account_id, "/6/images/%s" % their_sample)[0],
        "their_origin": event(rnd, account_id, "/6/images/%s" % shared_origin)[0],
    }
    od.import_rows(env.stack, "events", [theirs] + list(mine.values()))
    for blob in (own_origin, url_origin, path_origin, shared_origin):
        env.stack.put_blob(blob, b"origin image")
    assert os.path.exists(env.stack.store_path(their_sample))
    env.allowed.requests.clear()

    tid, t = od.run_task(env.stack, "gc", {"account_id": account_id, "content": {
        "target": "events", "remove_image_origins": True, "filters": {"account_id": account_id}}})
    assert t["task_status"] == 5, t
    result = {r["event_id"]: r["image_origins"] for r in result_of(env.stack, tid)["result"]}
    assert set(result) == {e["event_id"] for e in mine.values()}     # every event is removed
    assert result[mine["own"]["event_id"]] == ["/6/images/%s" % own_origin]
    for k in ("url", "path", "their_sample", "their_origin"):
        assert result[mine[k]["event_id"]] == [], k
    assert not os.path.exists(env.stack.store_path(own_origin))
    for blob in (url_origin, path_origin, shared_origin, their_sample):
        assert os.path.exists(env.stack.store_path(blob)), blob
    assert env.allowed.requests == []       # no request to a URL found in the data
    details = [e["detail"] for e in errors_of(env.stack, tid)]
    assert len(details) == 4, details
    assert sum("is not an image of the result store" in d for d in details) == 2, details
    assert sum("still used by another object" in d for d in details) == 2, details
    # The other account's event is untouched.
    assert env.stack.sql("SELECT COUNT(*) FROM event WHERE event_id = %s", (theirs["event_id"],),
                         db="luna_objects") == [("1",)]


# -- network disk: the roots before any lookup ---------------------------------------------------

def test_network_disk_outside_the_roots_tells_nothing_about_existence(env, account_id, tmp_path):
    existing = str(tmp_path)
    missing = os.path.join(existing, "no-such-folder")
    details = []
    for path in (existing, missing, "/etc", "/etc-no-such-folder"):
        r = env.stack.post("/2/tasks/estimator", json=body(account_id, {
            "source_type": "network_disk", "reference": {"path": path}, "image_type": 0}))
        assert_error(r, 400, 28103, detail_contains="outside the allowed folders")
        details.append(r.json()["detail"].replace(path, "PATH"))
    assert len(set(details)) == 1, details
