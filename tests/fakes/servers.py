"""Loopback servers and test data for the estimator, additional-extract and
S3 result-store tests.

- FakeHandlers: tests/fakes/fake_handlers.py (the stand-in for the LUNA
  Handlers service) in a child process.
- FileServer: a folder served over HTTP (zip archives by URL).
- S3Server: the npm package s3rver (a real S3 REST implementation) behind
  sigv4_proxy.py, which checks every SigV4 and SigV2 signature with botocore
  before passing the request on. Needs `npm ci` in tests/fakes.
- FtpServer: pyftpdlib (Debian python3-pyftpdlib) serving a folder.
- SilentServer: stands in for an S3 endpoint that has stopped answering:
  it accepts TCP connections and never sends a byte.
- Images and archives: small real PNG files, zip archives (plain, with a
  password, bombs, zip-slip names, truncated).

Everything listens on 127.0.0.1 only and stops with the test session.
"""
import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def stop_process(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- images ------------------------------------------------------------------

def png(seed, marker=b""):
    """A small valid PNG (8x8 RGB) whose pixels depend on seed; marker goes in a tEXt chunk."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    h = hashlib.sha256(str(seed).encode()).digest() * 8
    rows = b"".join(b"\0" + h[y * 24:(y + 1) * 24] for y in range(8))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
    if marker:
        out += chunk(b"tEXt", b"Comment\0" + marker)
    return out + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_tree(root, files):
    """files: {relative path: bytes}."""
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


# -- zip archives --------------------------------------------------------------

def make_zip(path, files, compression=zipfile.ZIP_DEFLATED):
    """files: {entry name (kept as given, even '../x'): bytes}."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return path


def make_zip_with_password(path, files, password):
    """ZipCrypto archive made by Info-ZIP's zip (Debian package zip)."""
    with tempfile.TemporaryDirectory() as d:
        write_tree(d, files)
        if os.path.exists(path):
            os.unlink(path)
        subprocess.run(["zip", "-q", "-r", "-P", password, os.path.abspath(path)] + sorted(files), cwd=d, check=True)
    return path


# -- HTTP file server ------------------------------------------------------------

class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        owner = self.server.owner
        with owner.lock:
            owner._asked.append(self.path)
        owner.gate.wait(120)
        super().do_GET()


class FileServer:
    """root over HTTP. hold() makes every GET wait (up to 120 s) until
    release(); asked lists the paths requested so far."""

    def __init__(self, root):
        self.root = root
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self._asked = []
        handler = functools.partial(_QuietFiles, directory=root)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.owner = self
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def asked(self):
        with self.lock:
            return list(self._asked)

    def hold(self):
        self.gate.clear()

    def release(self):
        self.gate.set()

    def close(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


# -- the handlers stand-in ------------------------------------------------------------

class FakeHandlers:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([PY, os.path.join(HERE, "fake_handlers.py"), "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        self.base = "http://127.0.0.1:%d" % self.port
        self.url = self.base + "/6"

    def _call(self, method, path, obj=None):
        data = json.dumps(obj).encode() if obj is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def add_handler(self, handler_id, handler_type=1, policies=None):
        self._call("POST", "/_fake/handlers", {"handler_id": handler_id, "handler_type": handler_type,
                                               "policies": policies or {}})

    def requests(self):
        return self._call("GET", "/_fake/requests")

    def reset(self):
        self._call("POST", "/_fake/reset", {})

    def down(self, seconds):
        self._call("POST", "/_fake/down", {"seconds": seconds})

    def close(self):
        stop_process(self.proc)


# -- S3 ------------------------------------------------------------------------------

S3_ACCESS_KEY = "S3RVER"
S3_SECRET_KEY = "S3RVER"


def s3rver_available():
    return os.path.exists(os.path.join(HERE, "node_modules", "s3rver", "bin", "s3rver.js")) and shutil.which("node")


class S3Server:
    """s3rver on a private port, behind the SigV4-checking proxy on self.port.
    The proxy records every request's (method, path, signature check) in self.log()."""

    def __init__(self, buckets=()):
        self.dir = tempfile.mkdtemp(prefix="luna-s3-")
        self.backend_port = free_port()
        # s3rver's continuation tokens use DES, which OpenSSL 3 keeps in its legacy provider.
        # It checks no SigV4 and a non-standard SigV2: the proxy checks both.
        args = ["node", "--openssl-legacy-provider", os.path.join(HERE, "node_modules", "s3rver", "bin", "s3rver.js"),
                "--address", "127.0.0.1", "--port", str(self.backend_port), "--directory", self.dir, "--silent",
                "--allow-mismatched-signatures"]
        for b in buckets:
            args += ["--configure-bucket", b]
        self.s3rver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       stdin=subprocess.DEVNULL)
        wait_port(self.backend_port, proc=self.s3rver)
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "proxy.log")
        self.proxy = subprocess.Popen([PY, os.path.join(HERE, "sigv4_proxy.py"), "--port", str(self.port),
                                       "--backend", "http://127.0.0.1:%d" % self.backend_port,
                                       "--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY,
                                       "--log", self.log_path],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proxy)
        self.url = "http://127.0.0.1:%d" % self.port

    def log(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def client(self):
        """A botocore S3 client (path-style, SigV4) talking through the proxy."""
        import botocore.config
        import botocore.session
        sess = botocore.session.get_session()
        return sess.create_client("s3", region_name="us-east-1", endpoint_url=self.url,
                                  aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
                                  config=botocore.config.Config(s3={"addressing_style": "path"},
                                                                signature_version="s3v4"))

    def put(self, bucket, key, data):
        self.client().put_object(Bucket=bucket, Key=key, Body=data)

    def keys(self, bucket, prefix=""):
        r = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for o in r.get("Contents", []))

    def close(self):
        stop_process(self.proxy)
        stop_process(self.s3rver)
        shutil.rmtree(self.dir, ignore_errors=True)


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers (a hung S3 endpoint).
    connections() counts the connections accepted so far; close() stops it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.held = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.held.append(conn)   # kept open, never read, never answered

    def connections(self):
        with self.lock:
            return len(self.held)

    def close(self):
        self.stopping.set()
        self.thread.join()
        self.sock.close()
        with self.lock:
            for c in self.held:
                c.close()


# -- FTP ---------------------------------------------------------------------------------

class FtpServer:
    """pyftpdlib serving root to user/password (and anonymous, read-only)."""

    def __init__(self, root, user="luna", password="secret-ftp"):
        self.port = free_port()
        self.user, self.password = user, password
        code = (
            "import sys\n"
            "from pyftpdlib.authorizers import DummyAuthorizer\n"
            "from pyftpdlib.handlers import FTPHandler\n"
            "from pyftpdlib.servers import ThreadedFTPServer\n"
            "a = DummyAuthorizer()\n"
            "a.add_user(sys.argv[3], sys.argv[4], sys.argv[2], perm='elr')\n"
            "a.add_anonymous(sys.argv[2])\n"
            "class H(FTPHandler):\n"
            "    authorizer = a\n"
            "    passive_ports = range(%d, %d)\n"
            "    masquerade_address = '127.0.0.1'\n"
            "s = ThreadedFTPServer(('127.0.0.1', int(sys.argv[1])), H)\n"
            "s.max_cons_per_ip = 0\n"
            "s.serve_forever()\n"
        ) % (40000 + (self.port % 1000) * 10, 40000 + (self.port % 1000) * 10 + 10)
        self.proc = subprocess.Popen([PY, "-c", code, str(self.port), root, user, password],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)

    def close(self):
        stop_process(self.proc)


def python_has(module):
    return subprocess.run([PY, "-c", "import " + module], capture_output=True).returncode == 0


if __name__ == "__main__":
    sys.exit(0)
