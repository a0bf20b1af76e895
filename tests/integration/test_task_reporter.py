"""Reporter tasks over done clustering tasks: the archive is read back
(zipfile, csv) and each row checked against the clustering result (cluster
number, object id) and the imported object (every report column of events
and faces); objects deleted since keep their first two fields; images with
save_images; the source task's errors at creation (28001, 28013, 28015,
28016)."""
import random

import exportref as er
import objdata as od
from luna import assert_error


def run(stack, kind, account_id, content, timeout=120):
    tid, task = od.run_task(stack, kind, {"account_id": account_id, "content": content}, timeout=timeout)
    assert task["task_status"] == 5, (task, stack.get("/2/tasks/%d/errors" % tid).text)
    return tid


def cluster(stack, account_id, objects_type, threshold=0.5):
    tid = run(stack, "clustering", account_id, {"objects_type": objects_type, "threshold": threshold,
                                                "filters": {"account_id": account_id}})
    res = stack.get("/2/tasks/%d/result" % tid).json()["result"]
    return tid, res["clusters"]


def report(stack, account_id, source, **content):
    content["filters"] = {"task_id": source}
    return run(stack, "reporter", account_id, content)


def task_errors(stack, tid):
    return stack.get("/2/tasks/%d/errors" % tid).json()["errors"]


def check_report(archive, clusters, columns, objects, id_column, delimiter=",", missing=()):
    """Rows: one per clustered object, cluster by cluster; each field as expected."""
    header, rows = archive.csv_rows("report.csv", delimiter)
    assert header == ["cluster", id_column] + columns
    assert [(int(r[0]), r[1]) for r in rows] == [(c, oid) for c, ids in enumerate(clusters) for oid in ids]
    by_id = {o[id_column]: o for o in objects}
    for row in rows:
        assert len(row) == len(header), row
        if row[1] in missing:
            assert row[2:] == [""] * len(columns)
            continue
        for col, got in zip(columns, row[2:]):
            er.check_value(by_id[row[1]], col, got)
    return rows


def events_in_clusters(stack, rnd, account_id, people=4, per_person=3, **kw):
    centres = od.people(rnd, people)
    events = [er.full_event(rnd, account_id, i, centre=centres[i % people], **kw) for i in range(people * per_person)]
    od.import_rows(stack, "events", od.strip(events))
    return events


def test_events_every_column_and_the_defaults(stack, account_id):
    rnd = random.Random(301)
    events = events_in_clusters(stack, rnd, account_id)
    source, clusters = cluster(stack, account_id, "events")
    assert len(clusters) == 4
    tid = report(stack, account_id, source, columns=er.REPORT_EVENT_COLUMNS)
    archive = er.fetch_archive(stack, tid)
    assert archive.names == ["report.csv"]
    check_report(archive, clusters, er.REPORT_EVENT_COLUMNS, events, "event_id")
    # The spec's defaults are every event column; the order given is kept.
    tid = report(stack, account_id, source)
    check_report(er.fetch_archive(stack, tid), clusters, er.REPORT_EVENT_COLUMNS, events, "event_id")
    # No columns: the cluster and the object id only.
    tid = report(stack, account_id, source, columns=[])
    check_report(er.fetch_archive(stack, tid), clusters, [], events, "event_id")
    order = ["geo_position", "top_match", "user_data", "create_time"]
    tid = report(stack, account_id, source, columns=order, csv_delimiter=";")
    check_report(er.fetch_archive(stack, tid), clusters, order, events, "event_id", delimiter=";")


def test_faces_every_column_and_the_defaults(stack, account_id):
    rnd = random.Random(302)
    centres = od.people(rnd, 3)
    lists = [od.new_id(rnd) for _ in range(2)]
    faces = [er.full_face(rnd, account_id, i, lists=lists[:i % 3], centre=centres[i % 3]) for i in range(9)]
    od.import_rows(stack, "faces", od.strip(faces))
    source, clusters = cluster(stack, account_id, "faces")
    tid = report(stack, account_id, source, columns=er.REPORT_FACE_COLUMNS, csv_delimiter="|")
    check_report(er.fetch_archive(stack, tid), clusters, er.REPORT_FACE_COLUMNS, faces, "face_id", delimiter="|")
    tid = report(stack, account_id, source)
    check_report(er.fetch_archive(stack, tid), clusters, er.REPORT_FACE_DEFAULT, faces, "face_id")


def test_deleted_objects_keep_cluster_and_id(stack, account_id):
    rnd = random.Random(303)
    events = events_in_clusters(stack, rnd, account_id, people=3, per_person=2)
    source, clusters = cluster(stack, account_id, "events")
    gone = events[1]["event_id"]
    stack.sql("DELETE FROM event WHERE event_id = %s", (gone,), db="luna_objects")
    cols = ["user_data", "create_time", "tags"]
    tid = report(stack, account_id, source, columns=cols)
    rows = check_report(er.fetch_archive(stack, tid), clusters, cols, events, "event_id", missing={gone})
    assert [r for r in rows if r[1] == gone][0][2:] == ["", "", ""]


def test_save_images_both_ways(stack, account_id):
    rnd = random.Random(304)
    centres = od.people(rnd, 3)
    # Event 3's face sample has no stored image.
    events = [er.full_event(rnd, account_id, i, centre=centres[i % 3], with_images=(i != 3)) for i in range(6)]
    od.import_rows(stack, "events", od.strip(events))
    broken = events[3]
    source, clusters = cluster(stack, account_id, "events")
    tid = report(stack, account_id, source, columns=["user_data"], save_images=0)
    assert er.fetch_archive(stack, tid).names == ["report.csv"]
    tid = report(stack, account_id, source, columns=["user_data"], save_images=1)
    archive = er.fetch_archive(stack, tid)
    number = {oid: c for c, ids in enumerate(clusters) for oid in ids}
    want = {"images/%d/%s_%s.jpg" % (number[e["event_id"]], e["event_id"], s): data
            for e in events for s, data in e["_images"].items()}
    assert archive.images() == want and len(want) == len(events) - 1
    check_report(archive, clusters, ["user_data"], events, "event_id")
    # The missing image is a task error; the task is done all the same.
    errors = task_errors(stack, tid)
    assert [e["error_code"] for e in errors] == [28100]
    assert broken["event_id"] in errors[0]["detail"]


def test_face_avatars(stack, account_id):
    rnd = random.Random(305)
    centres = od.people(rnd, 2)
    faces = [er.full_face(rnd, account_id, i, avatar_sample=od.new_id(rnd), centre=centres[i % 2]) for i in range(4)]
    od.import_rows(stack, "faces", od.strip(faces))
    source, clusters = cluster(stack, account_id, "faces")
    tid = report(stack, account_id, source, save_images=1)
    number = {oid: c for c, ids in enumerate(clusters) for oid in ids}
    want = {"images/%d/%s_%s.jpg" % (number[f["face_id"]], f["face_id"], s): data
            for f in faces for s, data in f["_images"].items()}
    assert er.fetch_archive(stack, tid).images() == want
    assert task_errors(stack, tid) == []


def test_source_task_errors_at_creation(stack, account_id):
    def refused(source, code, status=400, account=account_id, detail_contains=None):
        r = stack.post("/2/tasks/reporter", json={"account_id": account, "content": {"filters": {"task_id": source}}})
        assert_error(r, status, code, detail_contains=detail_contains)

    refused(10 ** 12, 28001, detail_contains=str(10 ** 12))
    # Another account's clustering task is not found either.
    rnd = random.Random(306)
    events_in_clusters(stack, rnd, account_id, people=2, per_person=2)
    source, _ = cluster(stack, account_id, "events")
    refused(source, 28001, account=od.new_id(rnd))
    linker = stack.insert_task(task_type=1, status=5, account_id=account_id, result_id=od.new_id(rnd))
    refused(linker, 28013, detail_contains="'1'")
    running = stack.insert_task(task_type=2, status=1, account_id=account_id)
    refused(running, 28015, detail_contains="'1'")
    failed = stack.insert_task(task_type=2, status=3, account_id=account_id)
    refused(failed, 28015, detail_contains="'3'")
    no_result = stack.insert_task(task_type=2, status=5, account_id=account_id, result_id=None)
    refused(no_result, 28016)


def test_columns_must_fit_the_clustered_objects(stack, account_id):
    rnd = random.Random(307)
    centres = od.people(rnd, 2)
    faces = [er.full_face(rnd, account_id, i, centre=centres[i % 2]) for i in range(4)]
    od.import_rows(stack, "faces", od.strip(faces))
    source, _ = cluster(stack, account_id, "faces")
    r = stack.post("/2/tasks/reporter", json={"account_id": account_id, "content": {
        "filters": {"task_id": source}, "columns": ["user_data", "top_match"]}})
    assert_error(r, 400, 12022, detail_contains="content.columns")
    r = stack.post("/2/tasks/reporter", json={"account_id": account_id, "content": {
        "filters": {"task_id": source}, "csv_delimiter": '"'}})
    assert_error(r, 400, 12022, detail_contains="csv_delimiter")
