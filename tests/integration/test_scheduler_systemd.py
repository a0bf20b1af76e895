"""luna-tasks-scheduler under a service manager (systemd Type=notify): it
reports READY=1 once running, pings WATCHDOG=1 at half of WATCHDOG_USEC,
reports STOPPING=1 on SIGTERM and exits 0. The notification socket is a
datagram socket of this test standing in for systemd's. Needs a build with
libsystemd (HAVE_SYSTEMD), which ./dev deps installs; fails otherwise."""

import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest


def built_with_systemd(build):
    try:
        with open(os.path.join(build, "config.h")) as f:
            return "#define HAVE_SYSTEMD 1" in f.read()
    except OSError:
        return False


def receive(sock, until):
    """Datagrams received until `until` (time.time()), as one list of lines."""
    lines = []
    while time.time() < until:
        sock.settimeout(max(0.01, until - time.time()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        lines.extend(data.decode().split("\n"))
    return lines


@pytest.fixture
def notify(stack):
    """A NOTIFY_SOCKET to receive the scheduler's sd_notify messages on.
    ./dev deps installs libsystemd-dev, so a build without it is a failure."""
    assert built_with_systemd(stack.build), "built without libsystemd (./dev deps installs libsystemd-dev)"
    folder = tempfile.mkdtemp(prefix="notify-", dir="/tmp")
    path = os.path.join(folder, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        yield sock, path
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(folder)


def test_notify_ready_watchdog_stopping(stack, notify):
    sock, path = notify
    conf = stack.write_config({("SCHEDULER", "LEASE_SECONDS"): 3})
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000",
               ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:log_path=%s/asan" % stack.dir,
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan" % stack.dir)
    env.pop("WATCHDOG_PID", None)
    log = open(os.path.join(stack.dir, "scheduler-notify.log"), "a")
    p = subprocess.Popen([os.path.join(stack.build, "luna-tasks-scheduler"), "-c", conf, "--worker-id", "notify"],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
    log.close()
    try:
        lines = receive(sock, time.time() + 5)
        assert "READY=1" in lines, lines
        assert any(l.startswith("STATUS=") and "notify" in l for l in lines), lines
        # Pings every ~0.2 s: at least 5 in 1.5 s.
        more = receive(sock, time.time() + 1.5)
        assert more.count("WATCHDOG=1") >= 5, more
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        tail = receive(sock, time.time() + 0.5)
        assert "STOPPING=1" in lines + more + tail, tail
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_not_ready_until_the_database_answers(stack, notify):
    """A wrong password: every failed connect is logged with its reason, no
    READY=1 is sent and SIGTERM still stops the scheduler cleanly."""
    sock, path = notify
    conf = stack.write_config({("LUNA_TASKS_DB", "PASSWORD"): "not-the-password"})
    env = dict(os.environ, NOTIFY_SOCKET=path,
               ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:log_path=%s/asan" % stack.dir,
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan" % stack.dir)
    env.pop("WATCHDOG_USEC", None)
    logpath = os.path.join(stack.dir, "scheduler-badpass.log")
    log = open(logpath, "a")
    p = subprocess.Popen([os.path.join(stack.build, "luna-tasks-scheduler"), "-c", conf, "--worker-id", "badpass"],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
    log.close()
    try:
        lines = receive(sock, time.time() + 4)
        assert "READY=1" not in lines, lines
        assert any(l.startswith("STATUS=waiting for the tasks database: wrong user or password") for l in lines), \
            lines
        with open(logpath) as f:
            text = f.read()
        # Attempts 1 and 2 (1 s apart), each with the reason and MariaDB's code.
        assert text.count("cannot connect to the tasks database") >= 2, text
        assert "wrong user or password" in text and "MariaDB 1045" in text, text
        assert "not-the-password" not in text, text
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
