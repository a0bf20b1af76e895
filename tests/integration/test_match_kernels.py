"""[SCHEDULER] MATCH_KERNEL: clustering, cross match and roc give byte-identical
results whichever product proposes the candidates (fp32 sgemm, int8 with
AVX-512 VNNI, int8 with the 256-bit AVX-VNNI). The same tasks run on the
scheduler restarted with each kernel (alone: it runs every subtask); the result bodies must be equal byte for
byte, and the scheduler must log the form it runs. The data sits on the int8 error bound: many
duplicated descriptors (exact ties), pairs around the clustering threshold,
noisy faces whose top matches are close."""
import os
import random
import shutil
import time

import objdata as od


def scheduler_log(stack):
    with open(os.path.join(stack.dir, "scheduler.log"), errors="replace") as f:
        return f.read()


def kernel_line(stack, pid, timeout=60):
    """The line in which the scheduler of this pid logged its matching kernel
    (./dev returns 0.3 s after the start, maybe before the line is written)."""
    mark = "luna-tasks-scheduler[%d] " % pid
    deadline = time.time() + timeout
    while True:
        lines = [x for x in scheduler_log(stack).split("\n") if mark in x and "MATCH_KERNEL = " in x]
        if lines:
            return lines[-1]
        assert time.time() < deadline, "the scheduler %d did not log its matching kernel" % pid
        time.sleep(0.1)


def restart_scheduler(stack, kernel):
    """s1 alone, restarted with MATCH_KERNEL = kernel: every scheduler an
    earlier module left running is stopped, so that this one runs the tasks.
    Its pid and the line in which it logged the kernel it runs."""
    new = stack.write_config({("SCHEDULER", "MATCH_KERNEL"): kernel})
    shutil.copyfile(new, stack.conf)
    for name in set(stack.scheduler_names()) | {"s1"}:
        stack.stop_scheduler(name)
    pid = stack.start_scheduler()
    line = kernel_line(stack, pid)
    assert "MATCH_KERNEL = %s)" % kernel in line, line
    return pid, line


def result_body(stack, name, account_id, content, pid):
    """The result of the task, run by the scheduler of this pid alone."""
    tid, t = od.run_task(stack, name, {"account_id": account_id, "content": content})
    assert t["task_status"] == 5, t
    workers = {r[0] for r in stack.sql("SELECT worker_id FROM subtask WHERE task_id = %s", (tid,))}
    assert workers and all(w.endswith(":%d" % pid) for w in workers), (name, workers, pid)
    r = stack.get("/2/tasks/%d/result" % tid)
    assert r.status == 200, r.text
    return r.text


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def expected_kernel(kernel):
    """What the scheduler should log running for MATCH_KERNEL = kernel here."""
    flags = cpu_flags()
    avx512 = {"avx512_vnni", "avx512bw", "avx512vl"} <= flags
    avx256 = {"avx_vnni", "avx2", "fma"} <= flags
    if kernel == "fp32":
        return "fp32"
    if kernel == "int8-256":
        return "AVX-VNNI, 256-bit" if avx256 else "fp32"
    return "AVX-512 VNNI" if avx512 else ("AVX-VNNI, 256-bit" if avx256 else "fp32")


def adversarial_faces(rnd, account_id):
    centres = od.people(rnd, 10)
    faces = od.make_faces(rnd, account_id, centres, 6)
    for f in faces[::4]:  # noisier, so that positives and negatives mix
        f["_vec"] = od.sample(rnd, centres[(f["_person"] + 1) % 10], noise=1.2)
        f["descriptors"] = [od.descriptor(f["_vec"])]
    for i, f in enumerate(faces[1::5]):  # exact duplicates of another face: ties
        f["_vec"] = faces[i]["_vec"]
        f["_person"] = faces[i]["_person"]
        f["descriptors"] = [od.descriptor(f["_vec"])]
    return faces


def test_results_identical_with_either_kernel(stack, account_id):
    rnd = random.Random(71)
    faces = adversarial_faces(rnd, account_id)
    od.import_rows(stack, "faces", od.strip(faces))
    ids = sorted(f["face_id"] for f in faces)
    # clustering thresholds right at similarities that occur in the data
    sims = sorted(od.sim(faces[0]["_vec"], f["_vec"]) for f in faces[1:])
    tasks = [("clustering", {"objects_type": "faces", "threshold": t, "filters": {"account_id": account_id}})
             for t in (0.0, round(sims[-3], 6), round(sims[len(sims) // 2], 6), 0.8)]
    tasks.append(("cross_match", {"filters": {
        "reference_type": "faces", "candidate_type": "faces",
        "reference_filters": {"face_ids": ids[:20]}, "candidate_filters": {}},
        "threshold": 0.0, "limit": 7}))
    tasks.append(("roc", {"markup": [{"face_id": f["face_id"], "label": f["_person"]} for f in faces],
                          "filters": {"account_id": account_id}, "key_FPRs": [0.0, 0.01, 0.1],
                          "threshold_hit_top": 0.3, "limit": 5}))
    before = stack.conf + ".before-kernels"
    shutil.copyfile(stack.conf, before)
    try:
        bodies = {}
        for kernel in ("fp32", "int8", "int8-256"):
            pid, logged = restart_scheduler(stack, kernel)
            assert expected_kernel(kernel) in logged, logged
            bodies[kernel] = [result_body(stack, name, account_id, content, pid) for name, content in tasks]
    finally:
        shutil.copyfile(before, stack.conf)
        stack.stop_scheduler()
        stack.start_scheduler()
    for kernel in ("int8", "int8-256"):
        for (name, _), a, b in zip(tasks, bodies["fp32"], bodies[kernel]):
            assert a == b, (name, kernel)
    assert all('"similarity"' in b or '"clusters"' in b or '"auc"' in b for b in bodies["int8"])
