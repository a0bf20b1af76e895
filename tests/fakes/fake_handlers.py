#!/usr/bin/python3
"""A stand-in for the LUNA Handlers service, for tests only.

The real Handlers service (part of LUNA PLATFORM) detects faces and bodies,
estimates attributes and extracts descriptors; the project cannot run it
here. This stand-in speaks the same calls as luna-tasks' client
(src/backends/handlers.h), under the version prefix /6:

  GET  /6/healthcheck
  GET  /6/handlers/{id}                  handler_type 1 static, 2 dynamic; 404 otherwise
  POST /6/handlers                       creates a static handler
  POST /6/handlers/{id}/events?image_type=N[&image_origin=URL]
                                         image body, or multipart policies + image
  POST /6/extractor?extraction_target=T&descriptor_version=V
                                         multipart, one "sample" part per image

Answers are deterministic functions of the bytes it is sent: an image gives
one event whose id, detection rectangle and attributes come from the image's
SHA-256. Markers inside the bytes steer it: b"luna-fake:bad" → 400 error
(the image cannot be decoded), b"luna-fake:filtered" → no event, one filtered
face detection, b"luna-fake:slow" → answer after 3 s, b"luna-fake:500" → 500.
Anything not starting with JPEG/PNG/BMP magic bytes is refused like a bad
image.

It records what it was sent; tests read and reset that through
  GET  /_fake/requests      [{method, path, query, content_type, body_sha256,
                              body_len, policies, parts:[{name, filename, sha256, len}]}]
  POST /_fake/reset
  POST /_fake/handlers      {"handler_id", "handler_type", "policies"} registers a handler
  POST /_fake/down          {"seconds": N} answers every call with a dropped connection

Run: fake_handlers.py --port N [--host 127.0.0.1]; prints "listening PORT".
"""
import argparse
import email.parser
import email.policy
import hashlib
import json
import struct
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
HANDLERS = {}
REQUESTS = []
DOWN_UNTIL = [0.0]
DESCRIPTOR_DIM = 512

IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")


def det_uuid(data, salt=b""):
    return str(uuid.UUID(bytes=hashlib.sha256(salt + data).digest()[:16], version=4))


def error_body(code, desc, detail):
    return {"error_code": code, "desc": desc, "detail": detail,
            "link": "https://docs.visionlabs.ai/info/luna/troubleshooting/errors-description/code-%d" % code}


def detection_of(image):
    h = hashlib.sha256(image).digest()
    return {"x": h[0], "y": h[1], "width": 64 + h[2] % 64, "height": 64 + h[3] % 64}


def event_of(image, filename, handler_id, image_type, origin, policies):
    h = hashlib.sha256(image).digest()
    face_id = det_uuid(image, b"face")
    sample_id = det_uuid(image, b"sample")
    return {
        "event_id": det_uuid(image, handler_id.encode()),
        "url": "/6/events/" + det_uuid(image, handler_id.encode()),
        "source": None, "tags": [], "user_data": "", "external_id": None, "track_id": None,
        "face": {"face_id": face_id, "url": "/6/faces/" + face_id} if not policies or policies.get("face") else None,
        "face_attributes": {"attribute_id": det_uuid(image, b"attr"), "filters": {"state": "pass"}},
        "body_attributes": None,
        "aggregate_estimations": {"face": {"attributes": {"basic_attributes": {
            "age": 18 + h[4] % 50, "gender": h[5] % 2, "ethnicity": {"predominant_ethnicity": "caucasian"}}}},
            "body": {"attributes": {}}},
        "location": {}, "matches": [],
        "detections": [{
            "filename": filename, "detect_time": "2024-01-01T00:00:00.000000+00:00", "detect_ts": None,
            "image_origin": origin,
            "samples": {"face": {"sample_id": sample_id, "url": "/6/samples/faces/" + sample_id,
                                 "detection": {"rect": detection_of(image), "image_type": image_type}},
                        "body": None}}],
    }


def parse_multipart(content_type, body):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    parts = []
    for part in msg.iter_parts():
        parts.append({"name": part.get_param("name", header="content-disposition"),
                      "filename": part.get_filename(), "type": part.get_content_type(),
                      "data": part.get_payload(decode=True) or b""})
    return parts


def descriptor_of(samples, version):
    seed = hashlib.sha256(b"".join(samples) + str(version).encode()).digest()
    vals = []
    block = seed
    while len(vals) < DESCRIPTOR_DIM:
        block = hashlib.sha256(block).digest()
        vals.extend((b - 127.5) / 127.5 for b in block)
    vals = vals[:DESCRIPTOR_DIM]
    norm = sum(v * v for v in vals) ** 0.5
    vals = [v / norm for v in vals]
    import base64
    return base64.b64encode(struct.pack("<%df" % len(vals), *vals)).decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def record(self, url, body, parts=None, policies=None):
        with LOCK:
            REQUESTS.append({
                "method": self.command, "path": url.path, "query": dict(urllib.parse.parse_qsl(url.query)),
                "content_type": self.headers.get("Content-Type"),
                "body_sha256": hashlib.sha256(body).hexdigest(), "body_len": len(body),
                "policies": policies,
                "parts": [{"name": p["name"], "filename": p["filename"], "type": p["type"],
                           "sha256": hashlib.sha256(p["data"]).hexdigest(), "len": len(p["data"])}
                          for p in (parts or [])],
            })

    def dropped(self):
        if time.time() < DOWN_UNTIL[0]:
            self.close_connection = True
            self.connection.close()
            return True
        return False

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_fake/requests":
            with LOCK:
                return self.reply(200, list(REQUESTS))
        if self.dropped():
            return
        self.record(url, b"")
        if url.path == "/6/healthcheck":
            return self.reply(200, {})
        seg = url.path.split("/")
        if len(seg) == 4 and seg[1] == "6" and seg[2] == "handlers":
            with LOCK:
                h = HANDLERS.get(seg[3])
            if not h:
                return self.reply(404, error_body(34000, "Object not found", "Handler with id %s not found" % seg[3]))
            return self.reply(200, h)
        self.reply(404, error_body(12001, "Resource not found", "Page not found"))

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        if url.path.startswith("/_fake/"):
            return self.fake_admin(url.path, body)
        if self.dropped():
            return
        seg = url.path.split("/")
        if url.path == "/6/handlers":
            return self.create_handler(url, body)
        if len(seg) == 5 and seg[1] == "6" and seg[2] == "handlers" and seg[4] == "events":
            return self.estimate(url, seg[3], body)
        if url.path == "/6/extractor":
            return self.extract(url, body)
        self.record(url, body)
        self.reply(404, error_body(12001, "Resource not found", "Page not found"))

    def fake_admin(self, path, body):
        if path == "/_fake/reset":
            with LOCK:
                REQUESTS.clear()
            return self.reply(200, {})
        if path == "/_fake/handlers":
            h = json.loads(body)
            with LOCK:
                HANDLERS[h["handler_id"]] = {"handler_id": h["handler_id"], "handler_type": h.get("handler_type", 1),
                                             "policies": h.get("policies", {}), "description": ""}
            return self.reply(201, {})
        if path == "/_fake/down":
            DOWN_UNTIL[0] = time.time() + json.loads(body).get("seconds", 0)
            return self.reply(200, {})
        self.reply(404, {})

    def create_handler(self, url, body):
        try:
            req = json.loads(body)
        except ValueError:
            self.record(url, body)
            return self.reply(400, error_body(12002, "Bad/incomplete input data", "Request does not contain json"))
        self.record(url, body, policies=req.get("policies"))
        hid = str(uuid.uuid4())
        with LOCK:
            HANDLERS[hid] = {"handler_id": hid, "handler_type": req.get("handler_type", 1),
                             "policies": req.get("policies", {}), "description": req.get("description", "")}
        self.reply(201, {"handler_id": hid, "url": "/6/handlers/" + hid})

    def estimate(self, url, hid, body):
        ctype = self.headers.get("Content-Type", "")
        policies = None
        image, filename = body, None
        parts = None
        if ctype.startswith("multipart/form-data"):
            parts = parse_multipart(ctype, body)
            for p in parts:
                if p["name"] == "policies":
                    policies = json.loads(p["data"])
                elif p["name"] == "image":
                    image, filename = p["data"], p["filename"]
        self.record(url, body, parts, policies)
        with LOCK:
            h = HANDLERS.get(hid)
        if not h:
            return self.reply(404, error_body(34000, "Object not found", "Handler with id %s not found" % hid))
        if h["handler_type"] == 2 and policies is None:
            return self.reply(400, error_body(12031, "Bad/incomplete input data", "Dynamic handler needs policies"))
        q = dict(urllib.parse.parse_qsl(url.query))
        if b"luna-fake:slow" in image:
            time.sleep(3)
        if b"luna-fake:500" in image:
            return self.reply(500, error_body(1, "Internal server error", "Unknown error"))
        if b"luna-fake:bad" in image or not image.startswith(IMAGE_MAGIC):
            return self.reply(400, error_body(11002, "Bad/incomplete input data", "Failed to read image"))
        itype = int(q.get("image_type", 0))
        if b"luna-fake:filtered" in image:
            return self.reply(201, {"events": [], "filtered_detections": {"face_detections": [{
                "filter_reasons": [{"filter_name": "score_threshold", "object": "face_detection", "threshold": 0.5,
                                    "value": 0.1}],
                "detection": {"filename": filename or "", "sample": {"detection": {"rect": detection_of(image)}}}}]}})
        ev = event_of(image, filename or "", hid, itype, q.get("image_origin"), policies)
        self.reply(201, {"events": [ev], "filtered_detections": {"face_detections": []}})

    def extract(self, url, body):
        ctype = self.headers.get("Content-Type", "")
        parts = parse_multipart(ctype, body) if ctype.startswith("multipart/form-data") else []
        self.record(url, body, parts)
        q = dict(urllib.parse.parse_qsl(url.query))
        target = q.get("extraction_target")
        version = int(q.get("descriptor_version", 0))
        samples = [p for p in parts if p["name"] == "sample"]
        if not samples:
            return self.reply(400, error_body(12022, "Bad/incomplete input data", "no samples"))
        for p in samples:
            if b"luna-fake:bad" in p["data"] or not p["data"].startswith(IMAGE_MAGIC):
                return self.reply(400, error_body(11002, "Bad/incomplete input data",
                                                  "Failed to read sample %s" % p["filename"]))
        data = [p["data"] for p in samples]
        h = hashlib.sha256(b"".join(data)).digest()
        out = {"samples": [p["filename"] for p in samples]}
        if target in ("face_descriptor", "body_descriptor"):
            out["descriptor"] = {"version": version, "vector_b64": descriptor_of(data, version)}
        elif target == "basic_attributes":
            out["basic_attributes"] = {"age": 18 + h[0] % 50, "gender": h[1] % 2, "ethnicity": 1 + h[2] % 4}
        else:
            return self.reply(400, error_body(12022, "Bad/incomplete input data", "bad extraction_target"))
        self.reply(201, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
