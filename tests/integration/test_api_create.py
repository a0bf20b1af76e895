"""POST /2/tasks/<type>: valid bodies are stored as pending tasks (202 + task_id);
invalid ones are refused with 400/12022 naming the JSON path, non-JSON bodies
and media types with clear 4xx answers."""

import json
import shutil
import uuid

import pytest

from luna import (REQUEST_ID_RE, TASK_TYPES, TIME_RE, assert_error, assert_json, estimator_bodies,
                  task_body)

pytestmark = pytest.mark.usefixtures("no_scheduler", "known_handlers")

STATIC_HANDLER = "c42ad7cb-9078-4be4-8457-4d3c744477df"    # the spec examples' handler
DYNAMIC_HANDLER = "8c335656-3145-4c0d-9e99-fa9d6843ab95"

SECRET_VALUES = ("123456", "password", "secret-password")


def subset(sent, got, path=""):
    """Every key/value of sent is in got (got may hold defaults on top)."""
    if isinstance(sent, dict):
        assert isinstance(got, dict), (path, got)
        for k, v in sent.items():
            assert k in got, (path + "." + k, got)
            subset(v, got[k], path + "." + k)
    elif isinstance(sent, list):
        assert isinstance(got, list) and len(got) == len(sent), (path, got)
        for i, (a, b) in enumerate(zip(sent, got)):
            subset(a, b, "%s[%d]" % (path, i))
    elif isinstance(sent, float) or isinstance(got, float):
        assert abs(float(sent) - float(got)) < 1e-6, (path, sent, got)
    else:
        assert sent == got, (path, sent, got)


def strings(doc):
    if isinstance(doc, dict):
        for v in doc.values():
            yield from strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from strings(v)
    elif isinstance(doc, str):
        yield doc


def create(stack, name, body, status=202):
    r = stack.post("/2/tasks/" + name, json=body)
    out = assert_json(r, status)
    if status == 202:
        assert set(out) == {"task_id"}, out
        assert isinstance(out["task_id"], int) and out["task_id"] >= 1, out
        return out["task_id"]
    return out


def check_stored(stack, task_id, name, body, secrets=False):
    t = assert_json(stack.get("/2/tasks/%d" % task_id))
    assert t["task_id"] == task_id
    assert t["task_type"] == TASK_TYPES[name]
    assert t["task_status"] == 0
    assert t["account_id"] == body["account_id"]
    if "description" in body:
        assert t["description"] == body["description"], t
    else:
        assert t.get("description") in (None, ""), t
    assert TIME_RE.match(t["create_time"]), t
    assert TIME_RE.match(t["last_update_time"]), t
    assert t.get("end_time") is None, t
    assert t.get("result_id") is None, t
    assert t["count_task_parts_done"] == 0, t
    assert t["count_task_parts_all"] >= 1, t
    if secrets:
        for value in strings(t["content"]):
            assert value not in SECRET_VALUES, t["content"]
    else:
        subset(body["content"], t["content"], "content")
    return t


@pytest.fixture(scope="module")
def known_handlers(stack):
    """The handlers service knows a static and a dynamic handler (GET /handlers/{id})."""
    routes = {("GET", "/handlers/" + STATIC_HANDLER): (200, {"handler_id": STATIC_HANDLER, "handler_type": 1,
                                                              "policies": {}}),
              ("GET", "/handlers/" + DYNAMIC_HANDLER): (200, {"handler_id": DYNAMIC_HANDLER, "handler_type": 2,
                                                               "policies": {}})}
    stack.handlers.routes.update(routes)
    yield
    for k in routes:
        stack.handlers.routes.pop(k, None)


@pytest.fixture(scope="module")
def clustering_done(stack):
    """A done clustering task with a result, the source a reporter needs."""
    acc = str(uuid.uuid4())
    rid = str(uuid.uuid4())
    stack.put_blob(rid, json.dumps({"result": {"clusters": [], "total_objects": 0, "total_clusters": 0},
                                    "errors": []}))
    tid = stack.insert_task(task_type=2, status=5, account_id=acc, result_id=rid)
    return acc, tid


@pytest.mark.parametrize("name", [n for n in TASK_TYPES if n != "reporter"])
def test_create_valid(stack, name, account_id):
    body = task_body(name, account_id, netdisk=stack.netdisk)
    r = stack.post("/2/tasks/" + name, json=body)
    out = assert_json(r, 202)
    assert REQUEST_ID_RE.match(r.headers["luna-request-id"])
    check_stored(stack, out["task_id"], name, body)


def test_create_reporter(stack, clustering_done):
    acc, source = clustering_done
    body = task_body("reporter", acc, source_task_id=source)
    tid = create(stack, "reporter", body)
    check_stored(stack, tid, "reporter", body)


@pytest.mark.parametrize("example", sorted(estimator_bodies("x")))
def test_create_estimator_examples(stack, example, account_id):
    body = estimator_bodies(account_id, stack.netdisk)[example]
    tid = create(stack, "estimator", body)
    has_secret = "authorization" in body["content"]["source"]
    t = check_stored(stack, tid, "estimator", body, secrets=has_secret)
    assert t["content"]["source"]["source_type"] == body["content"]["source"]["source_type"]


def test_create_estimator_new_handler(stack, account_id):
    body = estimator_bodies(account_id, stack.netdisk)["estimate_from_network_disk"]
    body["content"]["handler"] = {"policies": {"detect_policy": {"detect_face": 1}}, "description": "h"}
    create(stack, "estimator", body)


def test_create_more_variants(stack, account_id):
    a = account_id
    variants = [
        ("clustering", {"account_id": a, "content": {
            "objects_type": "events", "filters": {"account_id": a, "sources": ["cam1"], "age__gte": 18,
                                                  "emotions": [1, 4], "track_ids": ["track_1"]},
            "params": {"use_track_info": 1}, "descriptor": {"type": "body"}}}),
        ("gc", {"account_id": a, "content": {"target": "face_descriptors", "filters": {"descriptor_version": 56}}}),
        ("gc", {"account_id": a, "content": {"target": "event_descriptors",
                                             "filters": {"descriptor_version": 56, "descriptor_type": "face"}}}),
        ("linker", {"account_id": a, "content": {"objects_type": "events", "create_list": 1,
                                                 "filters": {"account_id": a, "handler_ids": [str(uuid.uuid4())]}}}),
        ("additional_extract", {"account_id": a, "content": {
            "extraction_target": "basic_attributes", "filters": {"objects_type": "events", "account_id": a}}}),
        ("additional_extract", {"account_id": a, "content": {
            "extraction_target": "body_descriptor", "options": {"descriptor_version": 110},
            "filters": {"objects_type": "events", "account_id": a}}}),
        ("roc", {"account_id": a, "content": {
            "markup": [{"attribute_id": str(uuid.uuid4()), "label": 1},
                       {"attribute_id": str(uuid.uuid4()), "label": 2}], "filters": {}}}),
        ("cross_match", {"account_id": a, "content": {"filters": {
            "reference_type": "attributes", "candidate_type": "events",
            "reference_filters": {"attribute_ids": [str(uuid.uuid4())]},
            "candidate_filters": {"sources": ["cam2"], "age__lt": 40}}}}),
        ("exporter", {"account_id": a, "content": {"objects_type": "faces", "filters": {"account_id": a},
                                                   "columns": ["face_id", "lists"], "save_images": 1}}),
    ]
    for name, body in variants:
        tid = create(stack, name, body)
        check_stored(stack, tid, name, body)


def test_create_estimator_handler_checks(stack, account_id):
    body = estimator_bodies(account_id, stack.netdisk)["estimate_from_network_disk"]
    body["content"]["handler"] = {"handler_id": DYNAMIC_HANDLER, "policies": {"detect_policy": {}}}
    create(stack, "estimator", body)
    missing = str(uuid.uuid4())
    body["content"]["handler"] = {"handler_id": missing}
    assert_error(stack.post("/2/tasks/estimator", json=body), 400, 34000,
                 detail="Handler with id %s not found" % missing)


@pytest.mark.parametrize("name", [n for n in TASK_TYPES if n != "reporter"])
def test_description_defaults_to_empty_string(stack, name, account_id):
    """task_description is a non-nullable string; the create schemas default it to ""."""
    body = task_body(name, account_id, netdisk=stack.netdisk)
    del body["description"]
    tid = create(stack, name, body)
    assert assert_json(stack.get("/2/tasks/%d" % tid))["description"] == ""
    listed = assert_json(stack.get("/2/tasks", params={"account_id": account_id}))["tasks"]
    assert [t["description"] for t in listed] == [""], listed


@pytest.mark.direct("Prism replaces an upstream 501 with a mock")
def test_body_checked_before_capabilities(stack, account_id):
    """Without a handlers service, estimator and additional extract bodies are
    still checked first: a bad one gets its own error, a good one 28105."""
    backup = stack.conf + ".with-handlers"
    shutil.copyfile(stack.conf, backup)
    shutil.copyfile(stack.write_config({("HANDLERS", "URL"): ""}), stack.conf)
    stack.restart_api()
    try:
        est = estimator_bodies(account_id, stack.netdisk)["estimate_from_network_disk"]
        est["content"]["source"]["reference"]["path"] = "/etc"
        e = assert_error(stack.post("/2/tasks/estimator", json=est), 400, 28103)
        assert "/etc" in e["detail"], e
        ae = task_body("additional_extract", account_id)
        ae["content"]["options"]["missing"] = False
        assert_error(stack.post("/2/tasks/additional_extract", json=ae), 501, 12029)
        for name, body in (("estimator", estimator_bodies(account_id, stack.netdisk)["estimate_from_network_disk"]),
                           ("additional_extract", task_body("additional_extract", account_id))):
            assert_error(stack.post("/2/tasks/" + name, json=body), 400, 28105)
    finally:
        shutil.copyfile(backup, stack.conf)
        stack.restart_api()


def test_create_content_type_with_charset(stack, account_id):
    body = json.dumps(task_body("gc", account_id))
    r = stack.post("/2/tasks/gc", body=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert_json(r, 202)


def test_created_tasks_are_listed(stack, account_id):
    ids = {create(stack, "gc", task_body("gc", account_id)) for _ in range(3)}
    got = assert_json(stack.get("/2/tasks", params={"account_id": account_id}))
    assert {t["task_id"] for t in got["tasks"]} == ids


# -- validation -------------------------------------------------------------

def bad(stack, name, body, *fragments):
    r = stack.post("/2/tasks/" + name, json=body)
    e = assert_error(r, 400, 12022)
    assert e["desc"] == "Bad/incomplete input data", e
    assert e["detail"].startswith("Failed to validate input json. Path: '"), e
    assert "message: '" in e["detail"], e
    for f in fragments:
        assert f in e["detail"], (f, e)
    return e


def path_of(detail):
    return detail.split("Path: '", 1)[1].split("', message", 1)[0]


A = "c42ad7cb-9078-4be4-8457-4d3c744477df"


def test_missing_content(stack):
    bad(stack, "gc", {"account_id": A}, "content")


def test_missing_account_id(stack):
    body = task_body("gc", A)
    del body["account_id"]
    bad(stack, "gc", body, "account_id")


def test_unknown_property_at_root(stack):
    body = task_body("linker", A)
    body["userdata"] = "x"
    e = bad(stack, "linker", body, "userdata")
    assert path_of(e["detail"]) == "", e


def test_unknown_property_nested(stack):
    body = task_body("gc", A)
    body["content"]["bogus_option"] = 1
    bad(stack, "gc", body, "bogus_option")


def test_unknown_property_in_filters(stack):
    body = task_body("clustering", A)
    body["content"]["filters"]["no_such_filter"] = 1
    bad(stack, "clustering", body, "no_such_filter")


def test_wrong_type(stack):
    body = task_body("clustering", A)
    body["content"]["threshold"] = "high"
    e = bad(stack, "clustering", body)
    assert "threshold" in e["detail"], e


def test_out_of_range(stack):
    body = task_body("clustering", A)
    body["content"]["threshold"] = 1.5
    bad(stack, "clustering", body, "threshold")
    body["content"]["threshold"] = 0.5
    body["content"]["limit"] = 20001
    bad(stack, "clustering", body, "limit")


def test_bad_enum(stack):
    body = task_body("linker", A)
    body["content"]["objects_type"] = "people"
    bad(stack, "linker", body, "objects_type")
    body = task_body("linker", A)
    body["content"]["create_list"] = 2
    bad(stack, "linker", body, "create_list")


def test_bad_uuid(stack):
    body = task_body("gc", A)
    body["account_id"] = "not-a-uuid"
    e = bad(stack, "gc", body, "account_id")
    assert path_of(e["detail"]) == "account_id", e
    body = task_body("linker", A)
    body["content"]["create_list"] = 0
    body["content"]["list_id"] = "123"
    bad(stack, "linker", body, "list_id")
    body = task_body("roc", A)
    body["content"]["markup"][0]["face_id"] = "8950722F-3FD4-4223-B48F-03F95F0E8DFB"
    bad(stack, "roc", body, "markup")


def test_bad_time(stack):
    body = task_body("gc", A)
    body["content"]["filters"]["create_time__lt"] = "yesterday"
    bad(stack, "gc", body, "create_time__lt")
    body["content"]["filters"]["create_time__lt"] = "2020-13-01T00:00:00Z"
    bad(stack, "gc", body, "create_time__lt")
    body["content"]["filters"]["create_time__lt"] = "2020-02-30T00:00:00Z"
    bad(stack, "gc", body, "create_time__lt")
    body["content"]["filters"]["create_time__lt"] = "2020-01-01"
    bad(stack, "gc", body, "create_time__lt")


def test_bad_discriminator(stack):
    body = task_body("gc", A)
    body["content"]["target"] = "everything"
    bad(stack, "gc", body, "target")
    body = estimator_bodies(A)["estimate_from_zip_archive"]
    body["content"]["source"]["source_type"] = "dropbox"
    bad(stack, "estimator", body, "source")


def test_discriminated_branch_is_checked(stack):
    body = task_body("gc", A)
    body["content"] = {"target": "event_descriptors", "filters": {"descriptor_version": 56}}
    bad(stack, "gc", body, "descriptor_type")


def test_string_limits(stack):
    body = task_body("exporter", A)
    body["description"] = "x" * 129
    bad(stack, "exporter", body, "description")
    body = task_body("exporter", A)
    body["content"]["csv_delimiter"] = ";;"
    bad(stack, "exporter", body, "csv_delimiter")


def test_array_limits(stack):
    body = task_body("roc", A)
    body["content"]["markup"] = body["content"]["markup"][:1]
    bad(stack, "roc", body, "markup")


def test_missing_nested_required(stack):
    body = {"account_id": A, "content": {"filters": {"account_id": A}}}
    bad(stack, "reporter", body, "task_id")
    body = task_body("cross_match", A)
    del body["content"]["filters"]["candidate_type"]
    bad(stack, "cross_match", body, "candidate_type")


@pytest.mark.direct("Prism parses JSON bodies itself")
@pytest.mark.parametrize("doc", ["[]", "\"text\"", "42", "null", "true"])
def test_body_not_an_object(stack, doc):
    r = stack.post("/2/tasks/gc", body=doc, headers={"Content-Type": "application/json"})
    e = assert_error(r, 400, 12022)
    assert path_of(e["detail"]) == "", e


@pytest.mark.parametrize("name", list(TASK_TYPES))
def test_empty_object(stack, name):
    bad(stack, name, {})


# -- bodies that are not JSON ----------------------------------------------

@pytest.mark.parametrize("name", list(TASK_TYPES))
def test_empty_body(stack, name):
    r = stack.post("/2/tasks/" + name, body=b"", headers={"Content-Type": "application/json"})
    assert_error(r, 400, 12002)


@pytest.mark.direct("Prism parses JSON bodies itself")
@pytest.mark.parametrize("text", [b"{bad json", b"{\"account_id\": ", b"{} {}", b"\xff\xfe{}", b"{'a': 1}",
                                  b"[" * 100000 + b"]" * 100000])
def test_not_json(stack, text):
    r = stack.post("/2/tasks/gc", body=text, headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    body = assert_error(r, 400, r.json().get("error_code"))
    assert body["error_code"] in (12002, 12022), body


@pytest.mark.parametrize("name", list(TASK_TYPES))
@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                                   "multipart/form-data; boundary=x"])
def test_wrong_content_type(stack, name, ctype):
    """The create operations declare 202/400/500/504 only: a body that is not
    JSON by its media type is a 400 whose code (12024) says why."""
    body = json.dumps(task_body(name, A, source_task_id=1, netdisk=stack.netdisk))
    r = stack.post("/2/tasks/" + name, body=body, headers={"Content-Type": ctype})
    assert_error(r, 400, 12024, detail="Unsupported media type")


def test_missing_content_type(stack):
    r = stack.post("/2/tasks/gc", body=json.dumps(task_body("gc", A)))
    assert_error(r, 400, 12024)


# Texts json-c alone would take; none of them is JSON (RFC 8259, I-JSON).
NOT_JSON = {
    "raw control character": b"gc \x01 task",
    "raw newline": b"gc \n task",
    "raw tab": b"gc \t task",
    "overlong UTF-8": b"gc \xc0\xaf task",
    "overlong 3-byte UTF-8": b"gc \xe0\x80\xaf task",
    "UTF-8 surrogate": b"gc \xed\xa0\x80 task",
    "beyond U+10FFFF": b"gc \xf4\x90\x80\x80 task",
    "invalid UTF-8": b"gc \xff\xfe task",
    "unpaired surrogate escape": b"gc \\ud800 task",
    "lone low surrogate escape": b"gc \\udc00 task",
}


@pytest.mark.direct("Prism parses JSON bodies itself")
@pytest.mark.parametrize("what", sorted(NOT_JSON))
def test_strings_that_are_not_json(stack, what):
    raw = json.dumps(task_body("gc", A)).encode().replace(b"gc task one", NOT_JSON[what])
    r = stack.post("/2/tasks/gc", body=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, 12002)


@pytest.mark.direct("Prism parses JSON bodies itself")
@pytest.mark.parametrize("number", [b"01", b"-01", b"00", b"NaN", b"Infinity", b"-Infinity", b"1.", b".5", b"+1"])
def test_numbers_that_are_not_json(stack, number):
    body = task_body("clustering", A)
    raw = json.dumps(body).encode().replace(b'"limit": 500', b'"limit": ' + number)
    assert raw != json.dumps(body).encode()
    r = stack.post("/2/tasks/clustering", body=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, 12002)


def test_valid_unicode_is_json(stack, account_id):
    body = task_body("gc", account_id)
    body["description"] = "caf\u00e9 \u2603 \U0001F600"
    raw = json.dumps(body, ensure_ascii=False).encode()
    tid = assert_json(stack.post("/2/tasks/gc", body=raw, headers={"Content-Type": "application/json"}), 202)["task_id"]
    assert assert_json(stack.get("/2/tasks/%d" % tid))["description"] == body["description"]
    escaped = json.dumps(body).encode()        # \ud83d\ude00: a surrogate pair, escaped
    assert b"\\ud83d\\ude00" in escaped
    assert_json(stack.post("/2/tasks/gc", body=escaped, headers={"Content-Type": "application/json"}), 202)


@pytest.mark.direct("Prism refuses large bodies itself")
def test_huge_body_refused_by_nginx(stack):
    """nginx refuses it before the api sees it, in the api's words: 400 (the
    create operations declare no 413) with 12037."""
    body = b'{"account_id": "%s", "x": "' % A.encode() + b"a" * (11 * 1024 * 1024) + b'"}'
    r = stack.post("/2/tasks/gc", body=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert_error(r, 400, 12037)


def test_large_body_under_limit_is_validated(stack):
    body = task_body("gc", A)
    body["junk"] = [0] * (3 * 1024 * 1024)
    r = stack.post("/2/tasks/gc", json=body, timeout=60)
    assert_error(r, 400, 12022, detail_contains="junk")


def test_get_with_body_is_not_a_create(stack):
    r = stack.get("/2/tasks/gc")
    assert r.status in (400, 404, 405), r
    assert r.content_type == "application/json", r


@pytest.mark.parametrize("name", ["linker", "clustering", "gc", "estimator"])
def test_long_description_is_not_a_server_error(stack, name, account_id):
    """Most request schemas put no maxLength on description, the reply's
    task_description has 128: a longer one is refused or kept, never a 500."""
    body = task_body(name, account_id, netdisk=stack.netdisk)
    body["description"] = "d" * 300
    r = stack.post("/2/tasks/" + name, json=body)
    assert r.status in (202, 400), r
    if r.status == 400:
        assert_error(r, 400, 12022, detail_contains="description")
    else:
        t = assert_json(stack.get("/2/tasks/%d" % r.json()["task_id"]))
        assert t["description"] == body["description"], t


def test_unicode_description(stack, account_id):
    body = task_body("exporter", account_id)
    body["description"] = "é☃" * 64
    tid = create(stack, "exporter", body)
    assert assert_json(stack.get("/2/tasks/%d" % tid))["description"] == body["description"]
