"""Shared by the reporter and exporter tests: objects with every report and
export column filled (awkward values included: delimiters, quotes, CR/LF,
non-ASCII), reading a result archive back with zipfile and the csv module,
and the value each column must show, computed from the imported object the
way the manual describes it (times as RFC 3339 instants, JSON documents and
id lists as Python literals, geo_position as "latitude, longitude", NULL as
an empty field)."""
import base64
import csv
import datetime
import io
import zipfile

from luna import TIME_RE
import objdata as od

EXPORT_EVENT_COLUMNS = [
    "event_id", "create_time", "external_id", "handler_id", "source", "top_match", "match_result",
    "face_detections", "face_id", "attach_result", "gender", "end_time", "age", "emotion", "ethnic_group",
    "tags", "user_data", "city", "area", "district", "street", "house_number", "geo_position",
    "body_detections", "mask", "track_id", "liveness"]
EXPORT_FACE_COLUMNS = ["face_id", "user_data", "create_time", "lists", "external_id", "avatar", "event_id"]
EXPORT_FACE_DEFAULT = ["face_id", "user_data", "create_time", "external_id", "avatar", "event_id"]
REPORT_EVENT_COLUMNS = [
    "create_time", "external_id", "handler_id", "source", "top_match", "match_result", "face_detections",
    "face_id", "attach_result", "gender", "age", "emotion", "ethnic_group", "tags", "user_data", "city", "area",
    "district", "street", "house_number", "geo_position", "body_detections", "mask", "track_id", "liveness",
    "end_time"]
REPORT_FACE_COLUMNS = ["user_data", "create_time", "lists", "external_id", "avatar", "event_id"]
REPORT_FACE_DEFAULT = ["user_data", "create_time", "external_id", "avatar", "event_id"]

TIME_COLUMNS = {"create_time", "end_time"}
LOCATION = ("city", "area", "district", "street", "house_number")
# Values that need quoting in CSV whatever the delimiter.
AWKWARD = ['comma, semicolon; pipe| tab\t', 'say "hi"', "line1\r\nline2\nline3", "Москва ü 日本 😀", " padded ",
           "it's", "", "=1+1"]

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


def jpeg(i):
    return JPEG + str(i).encode()


def b64(data):
    return base64.b64encode(data).decode("ascii")


def full_event(rnd, account, i, centre=None, with_images=True, missing_image=False):
    """An event with every exported field set; '_images' maps sample ids to their bytes
    (face samples; '_body_images' body ones), '_missing' the sample ids without an image."""
    eid, sid, bsid, msid = (od.new_id(rnd) for _ in range(4))
    awk = AWKWARD[i % len(AWKWARD)]
    ev = {
        "event_id": eid, "account_id": account,
        "create_time": od.iso(1700000000 + i * 37.25), "end_time": od.iso(1700000100 + i * 37.25),
        "handler_id": od.new_id(rnd), "external_id": ("ext,%d" % i)[:36], "source": ("src %s" % awk)[:128],
        "user_data": ("ud %d %s" % (i, awk))[:128], "face_id": od.new_id(rnd), "track_id": "tr_%d" % (i % 3),
        "gender": i % 2, "age": 20 + i, "emotion": 1 + i % 7, "ethnic_group": 1 + i % 4, "mask": 1 + i % 3,
        "liveness": i % 3, "tags": ["t%d" % i, "tag, with; delimiters|"],
        "location": {"city": "Москва", "area": "CAA, \"north\"", "district": "Arbat", "street": "Arbat\n%d" % i,
                     "house_number": str(i), "geo_position": {"latitude": 55.752 + i / 1000, "longitude": -36.616}},
        "top_match": {"face_id": od.new_id(rnd), "label": od.new_id(rnd), "similarity": 0.6,
                      "external_id": "e'%d" % i},
        "match_result": [{"label": "lbl%d" % i, "candidates": [
            {"face": {"face_id": od.new_id(rnd), "external_id": "x"}, "similarity": 0.123456789012345},
            {"face": {"face_id": od.new_id(rnd)}, "similarity": 1e-05}]}],
        "face_detections": [{"sample_id": sid, "detection": {"rect": {"x": 1, "y": 2, "width": 30, "height": 40}},
                             "detect_time": od.iso(1700000000 + i), "detect_ts": None,
                             "image_origin": "/6/images/%s" % od.new_id(rnd)}],
        "body_detections": [{"sample_id": bsid, "detection": {"rect": {"x": 5, "y": 6, "width": 70, "height": 80}},
                             "detect_time": od.iso(1700000000 + i), "detect_ts": 1.5, "image_origin": None}],
        "attach_result": [od.new_id(rnd), od.new_id(rnd)],
        "_images": {}, "_body_images": {}, "_missing": set(),
    }
    if centre is not None:
        ev["descriptors"] = [od.descriptor(od.sample(rnd, centre))]
    if with_images:
        ev["samples"] = [{"sample_id": sid, "type": "face", "image_b64": b64(jpeg(i))},
                         {"sample_id": bsid, "type": "body", "image_b64": b64(PNG)}]
        ev["_images"][sid] = jpeg(i)
        ev["_body_images"][bsid] = PNG
    if missing_image:
        # A second face detection whose sample image was never stored.
        ev["face_detections"].append({"sample_id": msid, "detect_time": od.iso(1700000000), "detect_ts": None,
                                      "image_origin": None})
        ev["_missing"].add(msid)
    return ev


def full_face(rnd, account, i, lists=(), avatar_sample=None, centre=None):
    awk = AWKWARD[i % len(AWKWARD)]
    f = {"face_id": od.new_id(rnd), "account_id": account, "user_data": ("face %d %s" % (i, awk))[:128],
         "external_id": ("fx;%d" % i)[:36], "event_id": od.new_id(rnd), "create_time": od.iso(1690000000 + i * 3.5),
         "lists": list(lists), "avatar": "", "_images": {}}
    if avatar_sample:
        f["avatar"] = "/6/samples/faces/%s" % avatar_sample
        f["samples"] = [{"sample_id": avatar_sample, "type": "face", "image_b64": b64(jpeg(i))}]
        f["_images"][avatar_sample] = jpeg(i)
    if centre is not None:
        f["descriptors"] = [od.descriptor(od.sample(rnd, centre))]
    return f


# ---- Reading a result back ------------------------------------------------------

class Archive:
    def __init__(self, body):
        self.zip = zipfile.ZipFile(io.BytesIO(body))
        assert self.zip.testzip() is None
        self.names = self.zip.namelist()

    def csv_rows(self, name, delimiter=","):
        text = self.zip.read(name).decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        return rows[0], rows[1:]

    def images(self):
        return {n: self.zip.read(n) for n in self.names if n.startswith("images/")}


def fetch_archive(stack, tid):
    r = stack.get("/2/tasks/%d/result" % tid)
    assert r.status == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == "attachment; filename=task_%d.zip" % tid
    return Archive(r.body)


# ---- Expected values ------------------------------------------------------------

def instant(text):
    return datetime.datetime.fromisoformat(text)


def expected(obj, column):
    """The text a column shows for an imported object (times are checked as instants)."""
    if column in LOCATION:
        v = (obj.get("location") or {}).get(column)
        return "" if v is None else str(v)
    if column == "geo_position":
        geo = (obj.get("location") or {}).get("geo_position")
        return "" if not geo else "%r, %r" % (geo["latitude"], geo["longitude"])
    if column == "lists":
        return repr(sorted(obj.get("lists", [])))
    v = obj.get(column)
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return repr(v)
    return str(v)


def check_value(obj, column, got):
    if column in TIME_COLUMNS:
        want = obj.get(column) or (obj.get("create_time") if column == "end_time" else None)
        assert TIME_RE.match(got), (column, got)
        assert instant(got) == instant(want), (column, got, want)
        return
    assert got == expected(obj, column), (obj.get("event_id") or obj.get("face_id"), column)


def check_rows(header, rows, columns, objects, id_column):
    """Every row is one object (by its id column) with every column as expected."""
    assert header == columns
    by_id = {o[id_column]: o for o in objects}
    idx = header.index(id_column) if id_column in header else None
    assert len(rows) == len(objects)
    seen = set()
    for row in rows:
        assert len(row) == len(columns), row
        obj = by_id[row[idx]]
        seen.add(row[idx])
        for col, got in zip(columns, row):
            check_value(obj, col, got)
    assert seen == set(by_id)
