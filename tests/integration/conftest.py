"""pytest fixtures of the integration tests.

`stack` is one private luna-tasks stack per test session (see luna.py), started
with `./dev stack-start` in a temporary folder and stopped at the end. Its
[HANDLERS] URL points at `handlers_service` (a FakeService in this process,
also `stack.handlers`), [API] NETWORK_DISK_ROOTS at `stack.netdisk`, and
[OUTBOUND] ALLOW is 127.0.0.1 (client-given URLs reach loopback servers only). The
binaries come from $LUNA_BUILD (default: build/asan, else build/release). With
LUNA_KEEP=1 the folder and its logs are kept. On failures the logs' last lines
are printed. Sanitizer reports written by the stack's processes fail the session.

The api checks every answer against the contract ([API] RESPONSE_SELF_CHECK = 1)
and logs a "contract violation" line for each mismatch: such a line fails the
test during which it was written. With LUNA_PRISM=1 the requests also pass
through Prism's validating proxy (contract.py), whose findings fail the test
too; with LUNA_PRISM=all the session also fails unless every operation of the
contract was called through it.
"""

import os
import signal
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from luna import SECRETS, FakeService, Stack  # noqa: E402
import contract  # noqa: E402


def pytest_configure(config):
    # A SIGTERM (a timeout around the run) unwinds like Ctrl-C, so the session's
    # finalizers still stop the stack instead of leaving its processes behind.
    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, interrupt)
    config.addinivalue_line("markers", "breaks_contract_on_purpose: the test makes the api break the "
                            "contract to see its self-check report it")
    config.addinivalue_line("markers", "direct(reason): with LUNA_PRISM, talk to nginx, not through Prism "
                            "(what Prism cannot carry unchanged: contract.py)")


def pytest_report_header(config):
    from luna import default_build
    return "luna-tasks build: %s" % default_build()


@pytest.fixture(scope="session")
def handlers_service():
    """The stand-in for the Handlers service that [HANDLERS] URL of the stack points at."""
    svc = FakeService()
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def stack(request, handlers_service, tmp_path_factory):
    netdisk = tmp_path_factory.mktemp("netdisk")
    s = Stack(overrides={
        ("HANDLERS", "URL"): handlers_service.url,
        ("API", "NETWORK_DISK_ROOTS"): str(netdisk),
        # Client-given URLs (zip references, S3/FTP sources) may reach the
        # tests' own loopback servers only.
        ("OUTBOUND", "ALLOW"): "127.0.0.1",
        # Recognisable secrets: GET /2/config must never show them.
        ("LUNA_TASKS_DB", "PASSWORD"): SECRETS["db_password"],
        ("STORAGE", "S3_SECRET_KEY"): SECRETS["s3_secret_key"],
        ("API", "RESPONSE_SELF_CHECK"): "1",
        # ./dev test runs the matching tests once more with the other kernel.
        ("SCHEDULER", "MATCH_KERNEL"): os.environ.get("LUNA_MATCH_KERNEL", "auto"),
    })
    s.handlers = handlers_service
    s.netdisk = str(netdisk)
    try:
        s.start()
    except Exception:
        print(s.log_tail())
        s.cleanup()
        raise
    prism = None
    if os.environ.get("LUNA_PRISM") in ("1", "all"):
        try:
            prism = contract.PrismProxy(s.url, os.path.join(s.dir, "prism.log"))
        except Exception:
            s.cleanup()
            raise
        s.http_port, s.answer_checker, s.prism = prism.port, prism.check, prism
    yield s
    if prism:
        prism.stop()
    failed = request.session.testsfailed > 0
    if failed:
        print("\n" + s.log_tail())
    s.stop()
    reports = s.sanitizer_reports()
    s.keep = s.keep or bool(reports)
    s.cleanup(failed=failed)
    if reports:
        pytest.fail("sanitizer reports from the stack's processes:\n" + "\n".join(reports)[:20000],
                    pytrace=False)
    if prism and not failed and os.environ.get("LUNA_PRISM") == "all":
        missing = sorted(set(contract.OPERATIONS.values()) - prism.seen)
        if missing:
            pytest.fail("operations never called through the contract proxy: %s" % ", ".join(missing),
                        pytrace=False)


@pytest.fixture(autouse=True)
def answers_match_contract(request):
    """Fails a test during which the api logged a contract violation, or Prism
    (LUNA_PRISM=1) reported one about an answer."""
    if "stack" not in request.fixturenames:
        yield
        return
    s = request.getfixturevalue("stack")
    _, start = s.contract_violations()
    prism = getattr(s, "prism", None)
    direct = prism and request.node.get_closest_marker("direct")
    if direct:
        s.http_port, s.answer_checker = s.port, None
    try:
        yield
    finally:
        if direct:
            s.http_port, s.answer_checker = prism.port, prism.check
    found, _ = s.contract_violations(start)
    if prism:
        found += ["prism: " + v for v in prism.take_violations()]
    if request.node.get_closest_marker("breaks_contract_on_purpose"):
        found = []
    if found:
        pytest.fail("answers that break docs/luna-tasks.yaml:\n" + "\n".join(found[:50]), pytrace=False)


@pytest.fixture
def account_id():
    """A fresh account per test, so tests do not see each other's tasks."""
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def no_scheduler(stack):
    """No scheduler runs while the module's tests do, so the tasks they create
    stay as they are. Afterwards the tasks the module left unfinished are
    cancelled (no scheduler will run them later) and the scheduler restarts."""
    for name in set(stack.scheduler_names()) | {"s1"}:
        stack.stop_scheduler(name)
    first = stack.max_task_id()
    yield
    try:
        stack.sql("UPDATE subtask SET subtask_status = 2, end_time = UTC_TIMESTAMP(6) "
                  "WHERE task_id > %s AND subtask_status IN (0, 1); "
                  "UPDATE task SET task_status = 2, end_time = UTC_TIMESTAMP(6), "
                  "last_update_time = UTC_TIMESTAMP(6) WHERE task_id > %s AND task_status IN (0, 1, 4)",
                  (first, first))
    finally:
        stack.start_scheduler()
