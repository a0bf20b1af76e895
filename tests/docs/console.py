#!/usr/bin/python3
"""The task console (/2/ui) in headless Chromium, on a stack of its own.

    console.py WORK_DIR

Starts a private stack (tests/integration/luna.py: ./dev stack-start with
$LUNA_BUILD, default build/asan else build/release), imports faces and leaves
on it a finished roc task, a failed roc task, and two clusterings waiting for
the scheduler (stopped), plus a task of another account. Then drives
Chromium over the DevTools protocol (cdp.py) and checks that:
- the account field scopes every request (the other account's task is not
  listed, every API request carries account_id);
- the list shows the tasks with progress bars, at 1280 px and at phone width
  (no sideways scrolling);
- a clustering is cancelled from its page with the keyboard only (Tab to the
  button, Enter, Tab to the confirmation, Enter), and the API agrees;
- once the scheduler runs, the other clustering's progress bar moves from 0
  to 100 % on the same page (no reload) and its page shows the histogram;
- the roc page's SVG curve has one point per point of the result (linear and
  log-scale FPR), the EER marker and every key point, and the AUC;
- the failed task's page shows its error with code and link;
- a task is deleted from its page;
- no console error or exception, and no request left for another host than
  127.0.0.1 (every request is paused and only loopback ones continue).
Screenshots go to WORK_DIR (console-list.png, console-roc.png, ...); with
LUNA_CONSOLE_DOCS=DIR also the two pictures of the README and the manual
(DIR/console.png: the list, DIR/console-roc.png: a ROC curve), so that
`LUNA_CONSOLE_DOCS=docs tests/docs/console.py /tmp/x` renews them.

Prints "ok - ..." / "not ok - ..." lines and, last, "passed=N failed=M".
"""
import os
import random
import shutil
import sys
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)

import objdata as od  # noqa: E402
from cdp import Browser, is_local  # noqa: E402
from luna import Stack  # noqa: E402

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    return ok


# ---------------------------------------------------------------------------
# The stack's tasks

def prepare(stack, account):
    """Faces of 20 people, a done and a failed roc task, two pending clusterings
    (scheduler stopped) and a pending task of another account: their ids."""
    rnd = random.Random(16)
    centres = od.people(rnd, 20)
    faces = od.make_faces(rnd, account, centres, 6)
    for f in faces[::4]:        # some overlap between people, so the curve is a curve
        f["_vec"] = od.sample(rnd, centres[(f["_person"] + 1) % 20], noise=1.5)
        f["descriptors"] = [od.descriptor(f["_vec"])]
    od.import_rows(stack, "faces", od.strip(faces))
    markup = [{"face_id": f["face_id"], "label": f["_person"]} for f in faces]
    ids = {}
    ids["roc"], t = od.run_task(stack, "roc", {"account_id": account, "description": "ROC of the demo faces",
                                               "content": {"markup": markup, "filters": {"account_id": account},
                                                           "key_FPRs": [0.001, 0.01, 0.1, 0.5]}})
    assert t["task_status"] == 5, t
    ids["failed"], t = od.run_task(stack, "roc", {"account_id": account, "description": "markup of unknown faces",
                                                  "content": {"markup": [{"face_id": str(uuid.uuid4()), "label": 1},
                                                                         {"face_id": str(uuid.uuid4()), "label": 1}],
                                                              "filters": {}}})
    assert t["task_status"] == 3, t
    stack.stop_scheduler()
    for name, desc in (("cancel", "clustering to cancel"), ("run", "clustering of the demo faces")):
        r = stack.post("/2/tasks/clustering", json={
            "account_id": account, "description": desc,
            "content": {"objects_type": "faces", "threshold": 0.8, "filters": {"account_id": account}}})
        assert r.status == 202, r
        ids[name] = r.json()["task_id"]
    other = str(uuid.uuid4())
    r = stack.post("/2/tasks/clustering", json={"account_id": other, "content": {
        "objects_type": "faces", "threshold": 0.8, "filters": {"account_id": other}}})
    assert r.status == 202, r
    ids["other"] = r.json()["task_id"]
    return ids


# ---------------------------------------------------------------------------
# The page

def rows(b):
    return b.eval("[...document.querySelectorAll('#list tbody tr')].map(r => +r.dataset.taskId)") or []


def bar(b, task_id):
    return b.eval("(e => e ? +e.getAttribute('aria-valuenow') : null)"
                  "(document.querySelector('tr[data-task-id=\"%d\"] .progress'))" % task_id)


def go(b, hash_):
    b.eval("location.hash = %r" % hash_)


def shot(b, work, name, what, selector=None):
    size = b.screenshot(os.path.join(work, name), selector)
    # A blank page makes a PNG of a few kilobytes; a page of text many more.
    check(size > 15000, "screenshot of %s (%s, %d bytes)" % (what, name, size))


def docs_picture(b, name, selector):
    """The README's and the manual's pictures, when asked for (LUNA_CONSOLE_DOCS)."""
    folder = os.environ.get("LUNA_CONSOLE_DOCS")
    if folder:
        b.screenshot(os.path.join(folder, name), selector)


def self_test(b):
    """The checks below must be able to fail: a console error and a request to
    another host are seen."""
    b.navigate("data:text/html,<p>self-test</p>")
    b.eval("console.error('self-test error'); fetch('http://192.0.2.1/x').catch(() => 0); 1")
    b.pump(1)
    check(any("self-test error" in e for e in b.console_errors), "the driver sees console errors (self-test)")
    check(any("192.0.2.1" in u for u in b.blocked), "the driver stops and records a request to another host "
          "(self-test)")
    del b.console_errors[:], b.blocked[:], b.requests[:]


def check_list(b, work, stack, account, ids):
    b.viewport(1280, 900)
    b.navigate(stack.url + "/2/ui")
    check(b.wait("document.querySelectorAll('#list tbody tr').length > 0"), "the console lists tasks")
    scoped_from = len(b.requests)
    b.eval("document.getElementById('account').focus()")
    b.type_text(account)
    b.key("Enter", text="\r")
    want = sorted(ids[k] for k in ("roc", "failed", "cancel", "run"))
    b.wait("document.querySelectorAll('#list tbody tr').length === 4")
    check(sorted(rows(b)) == want, "with the account given, the list shows that account's 4 tasks only "
          "(got %s, the other account's task %d not among them)" % (rows(b), ids["other"]))
    check(bar(b, ids["run"]) == 0 and bar(b, ids["roc"]) == 100,
          "progress bars: 0 for the waiting clustering, 100 for the finished roc task")
    shot(b, work, "console-list.png", "the task list at 1280 px")
    docs_picture(b, "console.png", "body")
    b.viewport(390, 844, mobile=True)
    b.pump(0.5)
    width = b.eval("document.documentElement.scrollWidth")
    check(width <= 392, "at phone width (390 px) the list needs no sideways scrolling (page %d px wide)" % width)
    shot(b, work, "console-list-phone.png", "the task list at phone width")
    b.viewport(1280, 900)
    return scoped_from


def check_cancel_by_keyboard(b, stack, account, task_id):
    go(b, "#/tasks/%d" % task_id)
    b.wait("document.getElementById('cancel') && !document.getElementById('cancel').disabled")
    for _ in range(60):
        if b.eval("document.activeElement && document.activeElement.id") == "cancel":
            break
        b.key("Tab")
    check(b.eval("document.activeElement.id") == "cancel", "Tab reaches the cancel button")
    b.key("Enter", text="\r")
    check(b.wait("document.getElementById('confirm').open", 5), "Enter on it asks for a confirmation")
    check(b.eval("document.activeElement.id") == "confirm-no", "the confirmation starts on the harmless answer")
    b.key("Tab")
    b.key("Enter", text="\r")
    status = None
    for _ in range(200):
        status = stack.get("/2/tasks/%d" % task_id, params={"account_id": account}).json()["task_status"]
        if status == 2:
            break
        b.pump(0.1)     # the page's requests pass only while the driver reads its events
    check(status == 2, "Tab, Enter cancels the task: the API says status 2 (got %s)" % status)
    check(b.wait("/cancelled/.test(document.getElementById('task-h').textContent)", 10),
          "the task's page shows it cancelled")


def check_progress(b, work, stack, task_id):
    go(b, "#/")
    b.wait("document.querySelector('tr[data-task-id=\"%d\"]')" % task_id)
    b.eval("window.sameConsolePage = true")
    seen = [bar(b, task_id)]
    stack.start_scheduler()
    deadline = time.time() + 180
    while time.time() < deadline and seen[-1] != 100:
        b.pump(0.3)
        v = bar(b, task_id)
        if v is not None and v != seen[-1]:
            seen.append(v)
    check(seen[0] == 0 and seen[-1] == 100, "the clustering's progress bar moves from 0 to 100 %% while the list "
          "is open (values seen: %s)" % seen)
    check(b.eval("window.sameConsolePage === true"), "... refreshed in place, without reloading the page")
    go(b, "#/tasks/%d" % task_id)
    n = b.wait("document.querySelectorAll('svg.chart rect.bar').length")
    check(n and n > 0, "the clustering's page draws the cluster-size histogram (%s bars)" % n)
    shot(b, work, "console-clustering.png", "a clustering's page")


def check_roc(b, work, stack, account, task_id):
    doc = stack.get("/2/tasks/%d/result" % task_id, params={"account_id": account}).json()["result"]
    go(b, "#/tasks/%d" % task_id)
    b.wait("document.querySelector('polyline.roc-curve')", 20)
    count = "document.querySelector('polyline.roc-curve').getAttribute('points').trim().split(/\\s+/).length"
    n = b.eval(count)
    check(n == len(doc["roc"]), "the ROC curve has one point per point of the result (%s of %d)" % (n, len(doc["roc"])))
    check(b.eval("document.querySelectorAll('svg.chart circle.eer').length") == 1, "the EER point is marked")
    k = b.eval("document.querySelectorAll('svg.chart circle.key-point').length")
    check(k == len(doc["key_points"]), "every key point is marked (%s of %d)" % (k, len(doc["key_points"])))
    auc = b.eval("document.getElementById('roc-auc').textContent")
    check(auc == "%.6f" % doc["auc"], "the AUC is shown (%s)" % auc)
    hits = b.eval("[...document.querySelectorAll('.roc table')[0].querySelectorAll('td')].map(t => t.textContent)")
    check(hits and len(hits) == 5, "the top-1..5 hit probabilities are shown (%s)" % hits)
    shot(b, work, "console-roc.png", "the roc task's page")
    shot(b, work, "console-roc-curve.png", "the roc curve", "section.roc")
    docs_picture(b, "console-roc.png", "section.roc .chart-box")
    b.eval("document.getElementById('roc-log').click()")
    b.wait("/log scale/.test(document.querySelector('svg.chart').textContent)", 5)
    n = b.eval(count)
    check(n == len(doc["roc"]), "with log-scale FPR, still one point per point of the result (%s)" % n)
    shot(b, work, "console-roc-log.png", "the roc curve with log-scale FPR", "section.roc")


def check_failed(b, work, task_id):
    go(b, "#/tasks/%d" % task_id)
    b.wait("document.querySelector('tr.error-row')", 20)
    codes = b.eval("[...document.querySelectorAll('tr.error-row a')].map(a => a.textContent + ' ' + a.href)") or []
    check(any(c.startswith("28100 https://") for c in codes), "the failed task's page lists its errors with code "
          "and link (%s)" % codes[:2])
    shot(b, work, "console-failed.png", "a failed task's page")


def check_delete(b, stack, account, task_id):
    go(b, "#/tasks/%d" % task_id)
    b.wait("document.getElementById('delete')")
    b.eval("document.getElementById('delete').click()")
    b.wait("document.getElementById('confirm').open", 5)
    b.eval("document.getElementById('confirm-yes').click()")
    b.wait("location.hash === '#/'", 10)
    r = stack.get("/2/tasks/%d" % task_id, params={"account_id": account})
    check(r.status == 404, "the delete button (confirmed) deletes the task: GET answers %d" % r.status)
    check(b.wait("/deleted/.test(document.getElementById('status').textContent)", 5),
          "the list that follows says the task was deleted")


def check_requests(b, account, scoped_from):
    api = [u for u in b.requests[scoped_from:] if "/2/tasks" in u]
    unscoped = [u for u in api if "account_id=" + account not in u]
    check(api and not unscoped, "every API request after the account was given carries it (%d requests, "
          "without: %s)" % (len(api), unscoped[:3]))
    check(not b.blocked and all(is_local(u) for u in b.requests),
          "no request left for another host than 127.0.0.1 (%d requests; blocked: %s)" % (len(b.requests),
                                                                                     b.blocked[:5]))
    check(not b.console_errors, "no console errors or exceptions (%s)" % b.console_errors[:5])


def main():
    work = sys.argv[1]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        check(False, "chromium is missing")
        return
    account = str(uuid.uuid4())
    stack = Stack(dir=os.path.join(work, "stack"))
    b = None
    try:
        stack.start()
        ids = prepare(stack, account)
        check(True, "stack with a done roc task %(roc)d, a failed task %(failed)d and clusterings %(cancel)d, "
              "%(run)d waiting" % ids)
        b = Browser(chromium, os.path.join(work, "console-profile"), os.path.join(work, "console-browser.log"))
        b.open_page()
        self_test(b)
        scoped_from = check_list(b, work, stack, account, ids)
        check_cancel_by_keyboard(b, stack, account, ids["cancel"])
        check_progress(b, work, stack, ids["run"])
        check_roc(b, work, stack, account, ids["roc"])
        check_failed(b, work, ids["failed"])
        check_delete(b, stack, account, ids["cancel"])
        check_requests(b, account, scoped_from)
    except Exception:
        traceback.print_exc()
        check(False, "the console test ran to its end")
    finally:
        if b:
            b.close()
        stack.stop()


if __name__ == "__main__":
    main()
    print("passed=%d failed=%d" % (results.count(True), results.count(False)))
