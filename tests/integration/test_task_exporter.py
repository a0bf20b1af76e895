"""Exporter tasks: the archive is read back (zipfile, csv) and compared with
the imported objects, column by column, for both column lists, several
delimiters (also inside values), with and without images; filters choose
the objects; a running export can be cancelled; bad content is refused at
creation."""
import random
import uuid

import exportref as er
import objdata as od
from luna import assert_error


def create(stack, account_id, content):
    r = stack.post("/2/tasks/exporter", json={"account_id": account_id, "content": content})
    assert r.status == 202, r.text
    return r.json()["task_id"]


def run(stack, account_id, content, timeout=120):
    tid = create(stack, account_id, content)
    task = stack.wait_task(tid, timeout=timeout)
    assert task["task_status"] == 5, (task, stack.get("/2/tasks/%d/errors" % tid).text)
    return tid, task


def task_errors(stack, tid):
    return stack.get("/2/tasks/%d/errors" % tid).json()["errors"]


def import_events(stack, rnd, account_id, n, **kw):
    events = [er.full_event(rnd, account_id, i, **kw) for i in range(n)]
    od.import_rows(stack, "events", od.strip(events))
    return events


def test_events_every_column_and_the_defaults(stack, account_id):
    rnd = random.Random(801)
    events = import_events(stack, rnd, account_id, 24)
    filters = {"account_id": account_id}
    tid, _ = run(stack, account_id, {"objects_type": "events", "filters": filters,
                                     "columns": er.EXPORT_EVENT_COLUMNS})
    archive = er.fetch_archive(stack, tid)
    assert archive.names == ["export.csv"]
    header, rows = archive.csv_rows("export.csv")
    er.check_rows(header, rows, er.EXPORT_EVENT_COLUMNS, events, "event_id")
    # Rows come in ascending id order.
    assert [r[0] for r in rows] == sorted(e["event_id"] for e in events)
    # Without columns: the spec's default list, which is every column.
    tid, _ = run(stack, account_id, {"objects_type": "events", "filters": filters})
    header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
    er.check_rows(header, rows, er.EXPORT_EVENT_COLUMNS, events, "event_id")


def test_values_look_like_the_spec_examples(stack, account_id):
    rnd = random.Random(802)
    ev = er.full_event(rnd, account_id, 0)
    ev["top_match"] = {"face_id": "23978f64-305f-4c43-8c01-c40bafabe554", "label": "3a118ebc-18e2-4ed0-a0f0-3a50db652729",
                       "similarity": 0.6, "external_id": "e0"}
    ev["location"]["geo_position"] = {"latitude": 55.752, "longitude": 36.616}
    bare = {"event_id": od.new_id(rnd), "account_id": account_id, "create_time": od.iso(1700000000)}
    od.import_rows(stack, "events", od.strip([ev, bare]))
    tid, _ = run(stack, account_id, {"objects_type": "events", "filters": {"account_id": account_id},
                                     "columns": ["event_id", "top_match", "geo_position", "gender", "tags", "source"]})
    header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
    got = {r[0]: r for r in rows}
    assert got[ev["event_id"]][1] == ("{'face_id': '23978f64-305f-4c43-8c01-c40bafabe554', "
                                      "'label': '3a118ebc-18e2-4ed0-a0f0-3a50db652729', 'similarity': 0.6, "
                                      "'external_id': 'e0'}")
    assert got[ev["event_id"]][2] == "55.752, 36.616"
    # Empty values are empty fields.
    assert got[bare["event_id"]][1:] == ["", "", "", "", ""]


def test_faces_every_column(stack, account_id):
    rnd = random.Random(803)
    lists = [od.new_id(rnd) for _ in range(3)]
    faces = [er.full_face(rnd, account_id, i, lists=lists[:i % 4]) for i in range(17)]
    od.import_rows(stack, "faces", od.strip(faces))
    filters = {"account_id": account_id}
    tid, _ = run(stack, account_id, {"objects_type": "faces", "filters": filters, "columns": er.EXPORT_FACE_COLUMNS})
    header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
    er.check_rows(header, rows, er.EXPORT_FACE_COLUMNS, faces, "face_id")
    # Column order is the order given; the defaults leave lists out.
    order = ["lists", "event_id", "face_id"]
    tid, _ = run(stack, account_id, {"objects_type": "faces", "filters": filters, "columns": order})
    header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
    er.check_rows(header, rows, order, faces, "face_id")
    tid, _ = run(stack, account_id, {"objects_type": "faces", "filters": filters})
    header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
    er.check_rows(header, rows, er.EXPORT_FACE_DEFAULT, faces, "face_id")


def test_a_list_chooses_the_faces(stack, account_id):
    """list_id reads the list's own rows: its faces alone, in id order, with
    the other filters applied too; another account's list gives none."""
    rnd = random.Random(810)
    lst, other_list = od.new_id(rnd), od.new_id(rnd)
    faces = [er.full_face(rnd, account_id, i, lists=[lst] if i % 4 == 1 else [other_list] if i % 4 == 2 else [])
             for i in range(24)]
    od.import_rows(stack, "faces", od.strip(faces))
    other_account = od.new_id(rnd)
    foreign_list = od.new_id(rnd)
    od.import_rows(stack, "faces", od.strip([er.full_face(rnd, other_account, 0, lists=[foreign_list])]))
    members = sorted((f for f in faces if lst in f["lists"]), key=lambda f: f["face_id"])
    cols = ["face_id", "lists", "external_id"]
    for extra, chosen in (({}, members), ({"external_ids": [members[1]["external_id"]]}, members[1:2])):
        tid, _ = run(stack, account_id, {"objects_type": "faces", "columns": cols,
                                         "filters": dict(extra, account_id=account_id, list_id=lst)})
        header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
        er.check_rows(header, rows, cols, chosen, "face_id")
        assert [r[0] for r in rows] == [f["face_id"] for f in chosen]
    tid, _ = run(stack, account_id, {"objects_type": "faces", "columns": cols,
                                     "filters": {"account_id": account_id, "list_id": foreign_list}})
    assert er.fetch_archive(stack, tid).csv_rows("export.csv") == (cols, [])


def test_delimiters_inside_values(stack, account_id):
    rnd = random.Random(804)
    faces = [er.full_face(rnd, account_id, i) for i in range(len(er.AWKWARD))]
    for i, f in enumerate(faces):
        f["user_data"] = "a;b|c¦d,e\"f\r\ng %d" % i
        f["external_id"] = ";|¦,%d" % i
    od.import_rows(stack, "faces", od.strip(faces))
    cols = ["face_id", "user_data", "external_id", "create_time"]
    for delim in (";", "|", "¦", "\t", ",", "x"):
        tid, _ = run(stack, account_id, {"objects_type": "faces", "filters": {"account_id": account_id},
                                         "columns": cols, "csv_delimiter": delim})
        header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv", delimiter=delim)
        er.check_rows(header, rows, cols, faces, "face_id")


def test_filters_choose_the_objects(stack, account_id):
    rnd = random.Random(805)
    events = import_events(stack, rnd, account_id, 12, with_images=False)
    chosen = [e for e in events if e["gender"] == 1 and e["age"] < 30]
    other_account = od.new_id(rnd)
    import_events(stack, rnd, other_account, 3, with_images=False)
    tid, _ = run(stack, account_id, {"objects_type": "events", "columns": ["event_id", "age"],
                                     "filters": {"account_id": account_id, "gender": 1, "age__lt": 30}})
    header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
    er.check_rows(header, rows, ["event_id", "age"], chosen, "event_id")
    # Nothing matches: a header row alone.
    tid, task = run(stack, account_id, {"objects_type": "events",
                                        "filters": {"account_id": account_id, "event_ids": [od.new_id(rnd)]}})
    header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
    assert header == er.EXPORT_EVENT_COLUMNS and rows == []
    assert task["count_task_parts_done"] == task["count_task_parts_all"] == 1


def test_save_images_both_ways(stack, account_id):
    rnd = random.Random(806)
    events = [er.full_event(rnd, account_id, i, missing_image=(i == 2)) for i in range(5)]
    od.import_rows(stack, "events", od.strip(events))
    base = {"objects_type": "events", "filters": {"account_id": account_id}, "columns": ["event_id", "user_data"]}
    tid, _ = run(stack, account_id, dict(base, save_images=0))
    assert er.fetch_archive(stack, tid).names == ["export.csv"]
    assert task_errors(stack, tid) == []
    # Face samples (the default descriptor type): one file per sample, named by the object and the sample.
    tid, _ = run(stack, account_id, dict(base, save_images=1))
    archive = er.fetch_archive(stack, tid)
    want = {"images/%s_%s.jpg" % (e["event_id"], s): data for e in events for s, data in e["_images"].items()}
    assert archive.images() == want
    header, rows = archive.csv_rows("export.csv")
    er.check_rows(header, rows, base["columns"], events, "event_id")
    # The sample without an image is a task error, and the task is still done.
    errors = task_errors(stack, tid)
    assert len(errors) == 1 and errors[0]["error_code"] == 28100
    missing = next(iter(events[2]["_missing"]))
    assert events[2]["event_id"] in errors[0]["detail"] and missing in errors[0]["detail"]
    # Body samples.
    tid, _ = run(stack, account_id, dict(base, save_images=1, descriptor={"type": "body"}))
    want = {"images/%s_%s.png" % (e["event_id"], s): data for e in events for s, data in e["_body_images"].items()}
    assert er.fetch_archive(stack, tid).images() == want
    assert task_errors(stack, tid) == []


def test_face_avatars(stack, account_id):
    rnd = random.Random(807)
    faces = [er.full_face(rnd, account_id, i, avatar_sample=od.new_id(rnd) if i % 2 == 0 else None)
             for i in range(6)]
    faces[4]["avatar"] = "/6/samples/faces/%s" % od.new_id(rnd)   # names an image that was never stored
    faces[4]["_images"] = {}
    od.import_rows(stack, "faces", od.strip(faces))
    tid, _ = run(stack, account_id, {"objects_type": "faces", "filters": {"account_id": account_id},
                                     "save_images": 1})
    archive = er.fetch_archive(stack, tid)
    want = {"images/%s_%s.jpg" % (f["face_id"], s): data for f in faces for s, data in f["_images"].items()}
    assert archive.images() == want and len(want) == 2
    errors = task_errors(stack, tid)
    assert [e["error_code"] for e in errors] == [28100] and faces[4]["face_id"] in errors[0]["detail"]


def test_many_objects_in_several_parts(stack, account_id):
    """More objects than one subtask exports: the parts join into one CSV in id order."""
    rnd = random.Random(808)
    n = 60000
    rows = [{"event_id": od.new_id(rnd), "account_id": account_id, "user_data": "u%d,\"%d\"" % (i, i),
             "age": i % 100} for i in range(n)]
    od.import_rows(stack, "events", rows)
    tid, task = run(stack, account_id, {"objects_type": "events", "filters": {"account_id": account_id},
                                        "columns": ["event_id", "user_data", "age"]}, timeout=300)
    assert task["count_task_parts_all"] == task["count_task_parts_done"] == 3
    header, got = er.fetch_archive(stack, tid).csv_rows("export.csv")
    assert header == ["event_id", "user_data", "age"]
    want = sorted(([r["event_id"], r["user_data"], str(r["age"])] for r in rows), key=lambda r: r[0])
    assert got == want


def test_cancel_a_running_export(stack, account_id):
    rnd = random.Random(809)
    rows = [{"event_id": od.new_id(rnd), "account_id": account_id, "user_data": "x" * 100,
             "tags": ["a", "b"], "top_match": {"face_id": od.new_id(rnd), "label": "l", "similarity": 0.5}}
            for _ in range(100000)]
    od.import_rows(stack, "events", rows)
    tid = create(stack, account_id, {"objects_type": "events", "filters": {"account_id": account_id}})
    task = stack.wait_task(tid, statuses=(1, 2, 3, 4, 5), timeout=60)
    assert task["task_status"] == 1, task
    r = stack.patch("/2/tasks/%d" % tid, json={"task_status": 2})
    assert r.status in (200, 202, 204), r.text
    task = stack.wait_task(tid, timeout=30)
    assert task["task_status"] == 2
    assert task["count_task_parts_done"] < task["count_task_parts_all"]
    assert_error(stack.get("/2/tasks/%d/result" % tid), 400, 28020)
    # The scheduler goes on working.
    tid, _ = run(stack, account_id, {"objects_type": "events", "columns": ["event_id"],
                                     "filters": {"account_id": account_id, "event_ids": [rows[0]["event_id"]]}})
    assert er.fetch_archive(stack, tid).csv_rows("export.csv")[1] == [[rows[0]["event_id"]]]


def test_bad_content_is_refused(stack, account_id):
    def refused(content, path):
        r = stack.post("/2/tasks/exporter", json={"account_id": account_id, "content": content})
        assert_error(r, 400, 12022)
        assert path in r.json()["detail"], r.json()

    events = {"objects_type": "events", "filters": {"account_id": account_id}}
    faces = {"objects_type": "faces", "filters": {"account_id": account_id}}
    refused(dict(events, columns=["avatar"]), "content.columns")
    refused(dict(events, columns=[]), "content.columns")
    refused(dict(faces, columns=["face_id", "top_match"]), "content.columns")
    refused(dict(events, csv_delimiter='"'), "content.csv_delimiter")
    refused(dict(events, csv_delimiter="\n"), "content.csv_delimiter")
    refused(dict(events, csv_delimiter=";;"), "csv_delimiter")
    refused(dict(faces, filters={"account_id": account_id, "handler_ids": [account_id]}), "filters")


def test_filters_cannot_reach_another_account(stack, account_id):
    """A task exports its own account's objects only: naming another account
    in the filters is refused, and that account's ids give nothing."""
    rnd = random.Random(899)
    other = str(uuid.uuid4())
    events = import_events(stack, rnd, other, 5)
    r = stack.post("/2/tasks/exporter", json={"account_id": account_id, "content": {
        "objects_type": "events", "filters": {"account_id": other}}})
    assert_error(r, 400, 12022, detail_contains="content.filters.account_id")
    tid, _ = run(stack, account_id, {"objects_type": "events", "filters": {
        "account_id": account_id, "event_ids": [e["event_id"] for e in events]}})
    header, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
    assert header and rows == []
