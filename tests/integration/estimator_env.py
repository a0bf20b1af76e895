"""Shared set-up of the estimator / additional-extract / S3 tests: the stack's
api and scheduler pointed at the handlers stand-in (tests/fakes/fake_handlers.py)
for the duration of a test module, and helpers to run a task to its end."""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

import servers  # noqa: E402
from objdata import run_task  # noqa: E402,F401  (re-exported for the tests)


class Repointed:
    """Rewrites the stack's own config with overrides, restarts the api pool and
    the scheduler s1 on it; undo() puts the original back."""

    def __init__(self, stack, overrides):
        self.stack = stack
        self.backup = stack.conf + ".before-estimator"
        shutil.copyfile(stack.conf, self.backup)
        new = stack.write_config(overrides)
        shutil.copyfile(new, stack.conf)
        self._restart()

    def _restart(self):
        self.stack.restart_api()
        self.stack.stop_scheduler()
        self.stack.start_scheduler()

    def undo(self):
        shutil.copyfile(self.backup, self.stack.conf)
        os.unlink(self.backup)
        self._restart()


def result_of(stack, tid):
    r = stack.get("/2/tasks/%d/result" % tid)
    assert r.status == 200, (r.status, r.body)
    return r.json()


def errors_of(stack, tid):
    r = stack.get("/2/tasks/%d/errors" % tid)
    assert r.status == 200, (r.status, r.body)
    return r.json()["errors"]


def by_filename(result):
    return {e["filename"]: e for e in result["result"]}
