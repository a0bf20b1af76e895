"""A headless Chromium driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: commands on the browser's fd 3, answers and events
on its fd 4, each message JSON ending with a NUL byte), standard library only.

Every request the page makes is paused (Fetch domain) and let through only
when its host is 127.0.0.1; anything else is failed and kept in `blocked`.
Every request is kept in `requests`, and console errors, uncaught exceptions
and browser log errors in `console_errors`.
"""
import base64
import json
import os
import subprocess
import time
import urllib.parse

LOCAL_SCHEMES = ("data", "about", "blob")


def is_local(url):
    u = urllib.parse.urlsplit(url)
    return u.scheme in LOCAL_SCHEMES or (u.scheme in ("http", "https", "ws") and u.hostname == "127.0.0.1")


class Browser:
    def __init__(self, chromium, profile_dir, log_path, width=1280, height=900):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        # The descriptors are moved to 3 and 4 before exec; pass_fds keeps them open.
        def child_fds():
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-default-apps", "--user-data-dir=" + profile_dir,
             "--window-size=%d,%d" % (width, height), "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            pass_fds=(3, 4, to_browser_r, from_browser_w), preexec_fn=child_fds)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._seq = 0
        self._answers = {}
        self.session = None
        self.requests, self.blocked, self.console_errors, self.events = [], [], [], []

    # -- the wire -------------------------------------------------------------

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            if time.time() > deadline:
                raise TimeoutError("no message from the browser")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError("the browser closed its pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=True, timeout=30):
        """A command's result; events arriving meanwhile are handled in order."""
        self._seq += 1
        mine = self._seq
        msg = {"id": mine, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        # An event handler sends commands of its own, so an answer may arrive
        # while another command waits: answers are kept by id.
        while mine not in self._answers:
            m = self._read_message(deadline)
            if "id" in m:
                self._answers[m["id"]] = m
            elif "method" in m:
                self._on_event(m)
        m = self._answers.pop(mine)
        if "error" in m:
            raise RuntimeError("%s: %s" % (method, m["error"]))
        return m.get("result", {})

    def _on_event(self, m):
        method, p = m["method"], m.get("params", {})
        self.events.append(method)
        if method == "Fetch.requestPaused":
            url = p["request"]["url"]
            self.requests.append(url)
            if is_local(url):
                self.send("Fetch.continueRequest", {"requestId": p["requestId"]})
            else:
                self.blocked.append(url)
                self.send("Fetch.failRequest", {"requestId": p["requestId"], "errorReason": "BlockedByClient"})
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.console_errors.append("console.%s: %s" % (p["type"], args))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.console_errors.append("exception: %s %s" % (d.get("text", ""),
                                                             d.get("exception", {}).get("description", "")))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.console_errors.append("log: %s %s" % (e.get("text", ""), e.get("url", "")))

    def pump(self, seconds):
        """Handles events for a while (requests keep flowing while we wait)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            self.send("Runtime.evaluate", {"expression": "0"})
            time.sleep(0.05)

    # -- a page -----------------------------------------------------------------

    def open_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")
        self.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})

    def navigate(self, url, timeout=30):
        self.send("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete'", timeout)

    def eval(self, expression, timeout=30):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expression, r["exceptionDetails"].get("text")))
        return r.get("result", {}).get("value")

    def wait(self, expression, timeout=30):
        """Waits until the expression is truthy (one that throws is not yet);
        its value, or None on timeout."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                v = self.eval(expression)
            except RuntimeError:
                v = None
            if v:
                return v
            time.sleep(0.1)
        return None

    def key(self, key, code=None, text=None, shift=False):
        """One key press as the keyboard would send it (keyDown with its text, keyUp)."""
        codes = {"Tab": 9, "Enter": 13, "Escape": 27, " ": 32}
        base = {"key": key, "code": code or key, "windowsVirtualKeyCode": codes.get(key, 0),
                "modifiers": 8 if shift else 0}
        down = dict(base, type="keyDown")
        if text:
            down["text"] = text
        self.send("Input.dispatchKeyEvent", down)
        self.send("Input.dispatchKeyEvent", dict(base, type="keyUp"))

    def type_text(self, text):
        self.send("Input.insertText", {"text": text})

    def viewport(self, width, height, mobile=False):
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": mobile})

    def screenshot(self, path, selector=None):
        """A PNG of the viewport, or of the element selector names (scrolled into view)."""
        params = {"format": "png"}
        if selector:
            params["clip"] = self.eval("(e => { e.scrollIntoView(); const r = e.getBoundingClientRect(); "
                                       "return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, "
                                       "height: r.height, scale: 1}; })(document.querySelector(%r))" % selector)
        data = base64.b64decode(self.send("Page.captureScreenshot", params, timeout=60)["data"])
        with open(path, "wb") as f:
            f.write(data)
        return len(data)

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()
