#!/usr/bin/python3
"""A loopback proxy in front of s3rver that checks AWS signatures.

s3rver (npm) implements the S3 REST API but accepts any version 4 signature
and checks version 2 ones against a non-standard string to sign (without the
Date line), so it runs with --allow-mismatched-signatures and this proxy does
the checking: it recomputes every SigV4 and SigV2 signature with botocore
(Debian python3-botocore), from the request exactly as it arrived, and
answers 403 SignatureDoesNotMatch when it differs or when the payload hash
does not match the body; unsigned requests are refused.
Each request is logged as a JSON line {method, path, auth, ok} to --log.

Run: sigv4_proxy.py [--address A] --port N --backend http://127.0.0.1:M --access-key K --secret-key S --log FILE
"""
import argparse
import hashlib
import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.auth
import botocore.awsrequest
import botocore.credentials

ARGS = None
LOG_LOCK = threading.Lock()


def log(entry):
    if ARGS.log:
        with LOG_LOCK, open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def parse_v4(auth):
    """'AWS4-HMAC-SHA256 Credential=AK/20240101/region/s3/aws4_request, SignedHeaders=a;b, Signature=hex'."""
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256"):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    ak, date, region, service, term = fields["Credential"].split("/")
    return ak, date, region, service, term, fields["SignedHeaders"].split(";"), fields["Signature"]


def check_v4(method, path, headers, body):
    try:
        ak, date, region, service, term, signed, signature = parse_v4(headers["authorization"])
    except (KeyError, ValueError):
        return "malformed Authorization header"
    if ak != ARGS.access_key:
        return "unknown access key"
    if term != "aws4_request" or not headers.get("x-amz-date", "").startswith(date):
        return "bad credential scope"
    if "host" not in signed or "x-amz-date" not in signed or "x-amz-content-sha256" not in signed:
        return "host, x-amz-date and x-amz-content-sha256 must be signed"
    payload = headers.get("x-amz-content-sha256")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 does not match the body"
    req = botocore.awsrequest.AWSRequest(method=method, url="http://%s%s" % (headers["host"], path), data=body,
                                         headers={h: headers[h] for h in signed if h in headers})
    req.context["timestamp"] = headers["x-amz-date"]
    creds = botocore.credentials.Credentials(ARGS.access_key, ARGS.secret_key)
    signer = botocore.auth.S3SigV4Auth(creds, service, region)
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    if expected != signature:
        return "signature mismatch; canonical request was:\n" + canonical
    return None


def check_v2(method, path, headers):
    """The SigV2 string to sign of the AWS documentation (botocore's HmacV1Auth
    always signs the current time, so the check is written out here)."""
    import base64
    import hmac
    auth = headers["authorization"]
    ak, _, signature = auth[4:].partition(":")
    if ak != ARGS.access_key:
        return "unknown access key"
    if "date" not in headers and "x-amz-date" not in headers:
        return "no Date header"
    split = urllib.parse.urlsplit(path)
    amz = "".join("%s:%s\n" % (k, headers[k].strip()) for k in sorted(headers) if k.startswith("x-amz-"))
    date = "" if "x-amz-date" in headers else headers["date"]
    sub = sorted(q for q in split.query.split("&") if q.split("=")[0] in SUBRESOURCES)
    resource = split.path + ("?" + "&".join(sub) if sub else "")
    sts = "\n".join([method, headers.get("content-md5", ""), headers.get("content-type", ""), date]) + "\n" + amz + resource
    expected = base64.b64encode(hmac.new(ARGS.secret_key.encode(), sts.encode(), "sha1").digest()).decode()
    if expected != signature:
        return "signature mismatch; string to sign was:\n" + sts
    return None


SUBRESOURCES = {"acl", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
                "requestPayment", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions",
                "website", "tagging", "cors"}


def s3_error(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>'
            % (code, message.replace("&", "&amp;").replace("<", "&lt;"))).encode()


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        auth = headers.get("authorization", "")
        kind = "v4" if auth.startswith("AWS4-HMAC-SHA256") else "v2" if auth.startswith("AWS ") else "none"
        problem = None
        if kind == "v4":
            problem = check_v4(self.command, self.path, headers, body)
        elif kind == "v2":
            problem = check_v2(self.command, self.path, headers)
        elif kind == "none":
            problem = "unsigned request"
        log({"method": self.command, "path": urllib.parse.unquote(self.path), "auth": kind, "ok": problem is None,
             "problem": problem})
        if problem:
            data = s3_error("SignatureDoesNotMatch" if kind != "none" else "AccessDenied", problem)
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return
        self.forward(body)

    def forward(self, body):
        u = urllib.parse.urlsplit(ARGS.backend)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
            conn.request(self.command, self.path, body=body if body else None, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data) if self.command != "HEAD" else
                                                   r.getheader("Content-Length") or 0))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", default="127.0.0.1", help="address to listen on (default: loopback)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--log")
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer((ARGS.address, ARGS.port), Proxy)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
