"""Service endpoints: /version, /healthcheck, /2/docs/spec, /2/docs/dev, /2/config,
and the rules every answer follows (Luna-Request-Id, JSON errors)."""

import os
import re
import time
import uuid

import pytest

from luna import REQUEST_ID_RE, ROOT, SECRETS, assert_error, assert_json

SPEC_PATH = os.path.join(ROOT, "docs", "luna-tasks.yaml")
CLIENT_RID = "1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a"


def spec_text():
    with open(SPEC_PATH, "rb") as f:
        return f.read()


def wait_healthy(stack, timeout=30, params=None, query=None):
    deadline = time.time() + timeout
    r = None
    while time.time() < deadline:
        r = stack.get("/healthcheck" + ("?" + query if query else ""), params=params)
        if r.status == 200:
            return r
        time.sleep(0.3)
    raise AssertionError("healthcheck did not become healthy: %r" % r)


def components(resp):
    body = assert_json(resp, 502)
    assert set(body) == {"errors"}, body
    assert isinstance(body["errors"], list) and body["errors"], body
    out = {}
    for c in body["errors"]:
        assert set(c) >= {"component", "error", "status"}, c
        assert c["status"] in (0, 1), c
        assert set(c["error"]) >= {"error_code", "desc", "detail", "link"}, c
        assert c["error"]["link"].endswith("code-%d" % c["error"]["error_code"]), c
        out[c["component"]] = c
    return out


# -- /version ---------------------------------------------------------------

def test_version(stack):
    body = assert_json(stack.get("/version"))
    assert set(body) == {"Version"}, body
    v = body["Version"]
    for k in ("api", "major", "minor", "patch"):
        assert isinstance(v[k], int) and v[k] >= 0, v
    m = re.search(rb"^  version: 'v\.(\d+)\.(\d+)\.(\d+)'", spec_text(), re.M)
    assert (v["major"], v["minor"], v["patch"]) == tuple(int(x) for x in m.groups()), v


# -- Luna-Request-Id --------------------------------------------------------

def test_request_id_echoed(stack):
    r = stack.get("/version", headers={"Luna-Request-Id": CLIENT_RID})
    assert r.status == 200
    assert r.headers["luna-request-id"] == CLIENT_RID


@pytest.mark.parametrize("sent", [
    "abc",
    "1536751345",
    "153675134,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a",      # 9 digits
    "1536751345,8B8B5937-2E9C-4E8B-A7A7-5CAF86621B5A",     # upper case
    "1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5",      # short uuid
    "1536751345,8b8b5937-2e9c-4e8b-a7a7-5caf86621b5a,x",
    "",
])
def test_request_id_generated_for_invalid(stack, sent):
    r = stack.get("/version", headers={"Luna-Request-Id": sent})
    assert r.status == 200
    rid = r.headers.get("luna-request-id", "")
    assert REQUEST_ID_RE.match(rid), rid
    assert rid != sent


def test_request_id_generated(stack):
    ids = []
    for _ in range(3):
        r = stack.get("/version")
        rid = r.headers.get("luna-request-id", "")
        assert REQUEST_ID_RE.match(rid), rid
        ids.append(rid)
    assert len(set(ids)) == 3, ids
    seconds, u = ids[0].split(",")
    assert abs(int(seconds) - time.time()) < 600, ids[0]
    assert uuid.UUID(u).version == 4, ids[0]


def test_request_id_on_errors(stack):
    r = stack.get("/2/tasks/999999999", headers={"Luna-Request-Id": CLIENT_RID})
    assert_error(r, 404, 28001)
    assert r.headers["luna-request-id"] == CLIENT_RID
    r = stack.get("/2/tasks", params={"page": 0})
    assert_error(r, 400, 12012)


def test_unknown_route_is_json_404(stack):
    r = stack.get("/2/no-such-thing")
    assert r.status == 404, r
    assert r.content_type == "application/json", r
    body = r.json()
    assert set(body) >= {"error_code", "desc", "detail", "link"}, body
    assert REQUEST_ID_RE.match(r.headers.get("luna-request-id", ""))


def test_wrong_method_is_json_error(stack):
    r = stack.request("PUT", "/2/tasks", json={})
    assert r.status == 405, r
    assert r.content_type == "application/json", r
    assert set(r.json()) >= {"error_code", "desc", "detail", "link"}


# -- /healthcheck -----------------------------------------------------------

def test_healthcheck_ok(stack):
    r = wait_healthy(stack)
    body = assert_json(r)
    assert set(body) == {"execution_time"}, body
    assert isinstance(body["execution_time"], (int, float)) and 0 <= body["execution_time"] < 10, body


@pytest.mark.parametrize("value", ["0", "1"])
def test_healthcheck_include_luna_services(stack, value):
    r = wait_healthy(stack, params={"include_luna_services": value})
    assert set(r.json()) == {"execution_time"}, r


@pytest.mark.parametrize("query", [
    "include_luna_services=2", "include_luna_services=-1", "include_luna_services=yes",
    "include_luna_services=", "include_luna_services=1.5", "foo=1",
])
def test_healthcheck_bad_query(stack, query):
    """/healthcheck declares 200, 500 and 502 only: a parameter it cannot use
    is ignored, and the answer is about health (as with no parameter)."""
    r = wait_healthy(stack, params=None, query=query)
    assert set(r.json()) == {"execution_time"}, r


@pytest.mark.parametrize("path", ["/version", "/2/docs/dev", "/healthcheck", "/2/ui"])
@pytest.mark.parametrize("query", ["foo=1", "page=abc", "%zz", "a=%00"])
def test_operations_without_400_ignore_their_query(stack, path, query):
    r = stack.get(path + "?" + query)
    assert r.status in ((200, 502) if path == "/healthcheck" else (200,)), r


def test_healthcheck_failing_luna_service(stack, handlers_service):
    """A dependent service that fails its own healthcheck is reported only
    when include_luna_services=1."""
    handlers_service.routes[("GET", "/healthcheck")] = (500, {"error": "down"})
    try:
        wait_healthy(stack)
        r = stack.get("/healthcheck", params={"include_luna_services": 1})
        comps = components(r)
        failing = [c for c in comps.values() if c["status"] == 0]
        assert failing, comps
        assert all(c["error"]["error_code"] != 0 for c in failing), comps
        assert all(c["component"] not in ("tasks_db", "tasks_worker") for c in failing), comps
    finally:
        del handlers_service.routes[("GET", "/healthcheck")]
    wait_healthy(stack, params={"include_luna_services": 1})


def test_healthcheck_without_scheduler(stack):
    """No fresh scheduler heartbeat: 502 with tasks_worker failing; healthy again
    once a scheduler runs."""
    wait_healthy(stack)
    stack.stop_scheduler()
    try:
        # A stopped scheduler's last heartbeat stays fresh for HEARTBEAT_TTL; make it old.
        stack.sql("UPDATE scheduler_heartbeat SET last_seen = UTC_TIMESTAMP(6) - INTERVAL 1 DAY")
        r = stack.get("/healthcheck")
        comps = components(r)
        assert comps["tasks_worker"]["status"] == 0, comps
        assert comps["tasks_worker"]["error"]["error_code"] != 0, comps
        if "tasks_db" in comps:
            assert comps["tasks_db"]["status"] == 1, comps
            assert comps["tasks_db"]["error"]["error_code"] == 0, comps
    finally:
        stack.start_scheduler()
    wait_healthy(stack, timeout=60)


# -- /2/docs/spec and /2/docs/dev -------------------------------------------

def test_spec_yaml(stack):
    r = stack.get("/2/docs/spec", headers={"Accept": "application/x-yaml"})
    assert r.status == 200, r
    assert r.content_type == "application/x-yaml", r
    assert REQUEST_ID_RE.match(r.headers.get("luna-request-id", ""))
    assert r.body == spec_text()


def test_spec_html(stack):
    r = stack.get("/2/docs/spec", headers={"Accept": "text/html"})
    assert r.status == 200, r
    # The contract's Content-Type header is an enum of bare media types; the
    # page declares its charset itself.
    assert r.headers["content-type"] == "text/html", r
    assert '<meta charset="utf-8">' in r.text
    html = r.text
    assert "<html" in html.lower()
    # Every operation and path of the contract is on the page.
    spec = spec_text().decode()
    for op in re.findall(r"operationId: (\w+)", spec):
        assert op in html, op
    for path in re.findall(r"^  (/[^:]*):$", spec, re.M):
        assert path in html, path
    for schema in ("clustering_task", "estimator_task", "task_reply", "health_errors"):
        assert schema in html, schema
    # Self-contained: the machines are offline.
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", html, re.I)
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", html, re.I)


def test_spec_html_for_a_browser(stack):
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
    r = stack.get("/2/docs/spec", headers={"Accept": accept})
    assert r.status == 200, r
    assert r.content_type == "text/html", r


@pytest.mark.parametrize("accept", ["*/*", None])
def test_spec_yaml_without_a_preference(stack, accept):
    # curl's default "Accept: */*" (or no Accept at all) names no preference: YAML.
    headers = {"Accept": accept} if accept else None  # http.client sends no Accept
    r = stack.get("/2/docs/spec", headers=headers)
    assert r.status == 200, r
    assert r.content_type == "application/x-yaml", r
    assert r.body.startswith(b"openapi:"), r.body[:40]


@pytest.mark.parametrize("accept", ["application/json", "image/png", "text/plain"])
def test_spec_unsupported_accept(stack, accept):
    r = stack.get("/2/docs/spec", headers={"Accept": accept})
    assert_error(r, 415, 12024)


def test_docs_dev(stack):
    r = stack.get("/2/docs/dev")
    assert r.status == 200, r
    assert r.headers["content-type"] == "text/html", r
    assert '<meta charset="utf-8">' in r.text
    assert REQUEST_ID_RE.match(r.headers.get("luna-request-id", ""))
    assert "<html" in r.text.lower()
    assert len(r.body) > 1000


# -- /2/ui (extension: the task console) ------------------------------------

@pytest.mark.parametrize("path,ctype,marker", [
    ("/2/ui", "text/html", '<script src="/2/ui/console.js" defer></script>'),
    ("/2/ui/console.js", "text/javascript", '"use strict";'),
    ("/2/ui/console.css", "text/css", ".progress"),
])
def test_console_files(stack, path, ctype, marker):
    r = stack.get(path)
    assert r.status == 200, r
    assert r.content_type == ctype, r
    assert marker in r.text
    assert REQUEST_ID_RE.match(r.headers.get("luna-request-id", ""))
    # Nothing from another host: every URL the files load is a path of this service.
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', r.text), r.text[:300]
    assert not re.search(r'@import|url\(\s*["\']?(https?:)?//', r.text)


# -- /2/config --------------------------------------------------------------

def check_config_json(cfg, stack):
    for section in ("LUNA_TASKS_DB", "OBJECTS", "STORAGE", "HANDLERS", "API", "SCHEDULER", "TASKS", "LOGGING"):
        assert isinstance(cfg.get(section), dict), (section, cfg)
    db = cfg["LUNA_TASKS_DB"]
    assert db["PASSWORD"] == "********", db
    assert db["USER"] == "luna", db
    assert db["NAME"] == "luna_tasks", db
    assert isinstance(db["PORT"], int), db
    assert cfg["STORAGE"]["S3_SECRET_KEY"] == "********", cfg["STORAGE"]
    assert cfg["API"]["MAX_BODY_SIZE"] == 10485760, cfg["API"]
    assert cfg["HANDLERS"]["URL"] == stack.handlers.url, cfg["HANDLERS"]


def test_config_json_default(stack):
    r = stack.get("/2/config")
    cfg = assert_json(r)
    check_config_json(cfg, stack)
    for secret in SECRETS.values():
        assert secret.encode() not in r.body


def test_config_json(stack):
    r = stack.get("/2/config", headers={"Accept": "application/json"})
    check_config_json(assert_json(r), stack)


def test_config_text(stack):
    r = stack.get("/2/config", headers={"Accept": "text/plain"})
    assert r.status == 200, r
    assert r.headers["content-type"] == "text/plain", r
    assert REQUEST_ID_RE.match(r.headers.get("luna-request-id", ""))
    text = r.text
    for secret in SECRETS.values():
        assert secret not in text
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert "=" in line and current is not None, line
        k, v = line.split("=", 1)
        current[k.strip()] = v.strip()
    assert sections["LUNA_TASKS_DB"]["PASSWORD"] == "********", sections
    assert sections["LUNA_TASKS_DB"]["USER"] == "luna", sections
    assert sections["STORAGE"]["S3_SECRET_KEY"] == "********", sections
    assert sections["API"]["MAX_BODY_SIZE"] == "10485760", sections


@pytest.mark.parametrize("accept", ["image/png", "application/x-yaml"])
def test_config_unsupported_accept(stack, accept):
    assert_error(stack.get("/2/config", headers={"Accept": accept}), 415, 12024)


# -- logs, configuration and migrations -------------------------------------

def test_request_id_in_every_log_line(stack):
    rid = "%d,%s" % (int(time.time()), uuid.uuid4())
    r = stack.get("/2/tasks/999999998", headers={"Luna-Request-Id": rid})
    assert r.headers["luna-request-id"] == rid
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline and not lines:
        with open(os.path.join(stack.dir, "api.log"), errors="replace") as f:
            lines = [line for line in f if rid in line]
        time.sleep(0.1)
    assert lines, "no api.log line carries %s" % rid


@pytest.mark.parametrize("section,key,value", [
    ("SCHEDULER", "WORKERS", "many"),
    ("SCHEDULER", "SPARES_IDLE_S", "-1"),
    ("API", "MAX_BODY_SIZE", "-5"),
    ("API", "TIME_ZONE", "Mars/Olympus"),
    ("LOGGING", "LEVEL", "LOUD"),
])
def test_bad_config_names_the_key(stack, section, key, value):
    path = stack.write_config({(section, key): value})
    p = stack.admin("config", "check", config=path, check=False)
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert key in p.stdout + p.stderr, (p.stdout, p.stderr)
    # The api refuses to start with it, naming the key too.
    import subprocess
    api = subprocess.run([os.path.join(stack.build, "luna-tasks-api"), "-c", path], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=60)
    assert api.returncode != 0
    assert key in api.stdout + api.stderr, (api.stdout, api.stderr)


def test_config_check_ok(stack):
    p = stack.admin("config", "check")
    assert p.returncode == 0
    assert "\nSPARES_IDLE_S = 60\n" in p.stdout, p.stdout


def test_migrate_is_idempotent(stack):
    for _ in range(2):
        p = stack.admin("db", "migrate")
        assert "up to date" in p.stdout, p.stdout
    assert int(stack.sql("SELECT COUNT(*) FROM schema_version")[0][0]) >= 1


def test_nginx_errors_are_json(stack):
    """nginx answers itself when no api process is there, in the API's format:
    500 with error 11 (every operation declares 500, none 502)."""
    import signal
    pids = stack.api_pids()
    try:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        r = stack.get("/2/tasks", headers={"Luna-Request-Id": CLIENT_RID})
        assert r.status == 500, r
        body = assert_json(r, 500)
        assert body["error_code"] == 11, body
        assert set(body) >= {"error_code", "desc", "detail", "link"}, body
        assert body["link"].endswith("code-%d" % body["error_code"]), body
        assert r.headers["luna-request-id"] == CLIENT_RID
        r = stack.get("/2/tasks")
        assert REQUEST_ID_RE.match(r.headers.get("luna-request-id", "")), r.headers
    finally:
        stack.restart_api()
    assert_json(stack.get("/2/tasks", params={"page_size": 1}))


@pytest.mark.direct("Prism refuses long request lines and headers itself")
def test_nginx_refusals_are_json(stack):
    # A request line too long for nginx is a bad query to the operations,
    # which declare 400 and no 414.
    r = stack.get("/2/tasks?account_id=" + "a" * 9000)
    e = assert_error(r, 400, 12012)
    assert e["desc"] == "Bad/incomplete input data"
    r = stack.get("/version", headers={"X-Big": "b" * 20000})
    assert_error(r, 400, 12012)


def test_malformed_percent_encoding(stack):
    r = stack.get("/2/tasks?account_id=%zz")
    assert_error(r, 400, 12012)
