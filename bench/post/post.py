"""bench/post: POST a roc task of the markup to stacks in turn; per POST: wall (client send -> response),
CPU (ns, /proc/*/task/*/schedstat) of the api pool, nginx, mariadbd. Prints medians."""
import http.client, json, os, sys, time, statistics

def pids_of(stack):
    out = {}
    out["api"] = [int(x) for x in open(os.path.join(stack, "api.pid")).read().split()]
    master = int(open(os.path.join(stack, "nginx.pid")).read().split()[0])
    ng = [master]
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
                if int(st[1]) == master:
                    ng.append(int(p))
            except OSError:
                pass
    out["nginx"] = ng
    out["db"] = [int(open(os.path.join(stack, "mysql.pid")).read().split()[0])]
    return out

def ns(pids):
    t = 0
    for p in pids:
        d = "/proc/%d/task" % p
        for tid in os.listdir(d):
            try:
                t += int(open("%s/%s/schedstat" % (d, tid)).read().split()[0])
            except OSError:
                pass
    return t

def main():
    markup = json.load(open(sys.argv[1]))
    acc = sys.argv[2]
    rounds = int(sys.argv[3])
    stacks = []
    for spec in sys.argv[4:]:
        name, d, port = spec.split(":")
        stacks.append((name, d, int(port), pids_of(d)))
    body = json.dumps({"account_id": acc, "content": {"markup": markup, "filters": {"account_id": acc}}}).encode()
    print("roc POST body: %d bytes (%d markup items)" % (len(body), len(markup)))
    res = {s[0]: {"wall": [], "api": [], "nginx": [], "db": []} for s in stacks}
    for r in range(rounds):
        for name, d, port, pids in stacks:
            c0 = {k: ns(v) for k, v in pids.items()}
            t0 = time.monotonic()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST", "/2/tasks/roc", body, {"Content-Type": "application/json"})
            resp = c.getresponse(); data = resp.read(); c.close()
            t1 = time.monotonic()
            time.sleep(0.05)   # the access log / late work settle
            c1 = {k: ns(v) for k, v in pids.items()}
            if resp.status != 202:
                sys.exit("%s: %d %s" % (name, resp.status, data[:300]))
            res[name]["wall"].append(t1 - t0)
            for k in pids:
                res[name][k].append((c1[k] - c0[k]) / 1e9)
            time.sleep(0.2)
    load = open("/proc/loadavg").read().split()[:3]
    print("load %s; medians (min) over %d POSTs, seconds" % (" ".join(load), rounds))
    print("%-8s %14s %14s %14s %14s" % ("build", "wall", "api cpu", "nginx cpu", "mariadbd cpu"))
    for name in res:
        row = res[name]
        print("%-8s" % name + "".join(" %6.4f (%6.4f)" % (statistics.median(row[k]), min(row[k]))
                                      for k in ("wall", "api", "nginx", "db")))

main()
