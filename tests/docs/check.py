#!/usr/bin/python3
"""Checks of the documentation pages and of the manual against the sources.

    check.py pages ROOT SPEC_DOM MANUAL_DOM SPEC_HTML MANUAL_HTML
        The DOMs that headless Chromium dumped from /2/docs/spec and /2/docs/dev
        show every operation, path and component schema of the contract and
        every section of docs/manual.md; the served pages load nothing from
        the network.
    check.py sources ROOT
        docs/manual.md and packaging/man/luna-tasks.conf.5 name every key of
        the table in src/common/config.c with its default, and the manual
        lists every code of src/common/errors.c, and src/backends/README.md
        names every header of src/backends.

Prints "ok - ..." / "not ok - ..." lines and, last, "passed=N failed=M" for
run.sh to add up. Standard library only (the contract is read with regular
expressions, not a YAML parser).
"""
import html
import os
import re
import sys

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("ok - " if ok else "not ok - ") + what)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def dom_text(dom):
    """Visible text of a DOM dump, tags removed and entities decoded."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text))


def contract(root):
    """Operation ids, paths and component schema names of docs/luna-tasks.yaml."""
    text = read(os.path.join(root, "docs", "luna-tasks.yaml"))
    op_ids = re.findall(r"^\s+operationId:\s*'?\"?([A-Za-z0-9_]+)", text, re.M)
    paths_part = text[text.index("\npaths:"):]
    paths = re.findall(r"^  (/[^:\s]*):\s*$", paths_part, re.M)
    comp = text[text.index("\n  schemas:"):text.index("\n  responses:")]
    schemas = re.findall(r"^    ([A-Za-z0-9_.-]+):\s*$", comp, re.M)
    return op_ids, paths, schemas


def external_resources(page):
    """References that would make the browser fetch something from the network."""
    found = []
    for m in re.finditer(r"<(script|link|img|iframe|source|video|audio|embed|object)\b[^>]*>", page, re.I):
        tag = m.group(0)
        if re.search(r"\b(src|href|data)\s*=\s*[\"']?(https?:)?//", tag, re.I):
            found.append(tag[:120])
    for m in re.finditer(r"(@import|url\()\s*[\"']?(https?:)?//[^\"')]+", page, re.I):
        found.append(m.group(0)[:120])
    return found


def check_pages(root, spec_dom_path, manual_dom_path, spec_html_path, manual_html_path):
    spec_dom = read(spec_dom_path)
    manual_dom = read(manual_dom_path)
    spec_text = dom_text(spec_dom)
    op_ids, paths, schemas = contract(root)

    check(len(op_ids) >= 26, "the contract has its %d operations" % len(op_ids))
    missing = [o for o in op_ids if o not in spec_text]
    check(not missing, "/2/docs/spec shows every operationId (%d)%s"
          % (len(op_ids), ": missing " + ", ".join(missing) if missing else ""))
    anchors = set(re.findall(r'\bid="([^"]+)"', spec_dom))
    missing = [o for o in op_ids if "op-" + o not in anchors]
    check(not missing, "every operation has its anchor%s" % (": missing " + ", ".join(missing) if missing else ""))
    missing = [p for p in paths if p not in spec_text]
    check(not missing, "/2/docs/spec shows every path (%d)%s"
          % (len(paths), ": missing " + ", ".join(missing) if missing else ""))
    missing = [s for s in schemas if "schema-" + re.sub(r"[^A-Za-z0-9_.-]", "_", s) not in anchors]
    check(len(schemas) >= 200 and not missing, "/2/docs/spec has a section for every component schema (%d)%s"
          % (len(schemas), ": missing " + ", ".join(missing[:10]) if missing else ""))
    links = set(re.findall(r'href="#([^"]+)"', spec_dom))
    dangling = sorted(links - anchors)
    check(not dangling, "every in-page link of /2/docs/spec has its target%s"
          % (": " + ", ".join(dangling[:10]) if dangling else ""))
    for word in ("Parameters", "Responses", "Request body", "Schemas"):
        check(word.upper() in spec_text.upper(), "/2/docs/spec has %s" % word)

    manual_md = read(os.path.join(root, "docs", "manual.md"))
    headings = [h.strip() for h in re.findall(r"^#{2,3} (.+)$", manual_md, re.M)]
    dom_headings = [dom_text(h).strip() for h in re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", manual_dom, re.S)]
    missing = [h for h in headings if h not in dom_headings]
    check(len(headings) >= 9 and not missing, "/2/docs/dev shows every section of docs/manual.md (%d)%s"
          % (len(headings), ": missing " + ", ".join(missing) if missing else ""))
    for section in ("Overview and architecture", "Install", "Configuration reference", "Backends",
                    "Task types", "Error codes", "Upgrade and migration", "Troubleshooting", "Logs"):
        check(section in dom_headings, "the manual has the section '%s'" % section)
    check("@TASK_TYPES@" not in manual_dom and "<code>POST /2/tasks/clustering</code>" in manual_dom,
          "the manual's table of task types was generated")

    for name, path in (("/2/docs/spec", spec_html_path), ("/2/docs/dev", manual_html_path)):
        ext = external_resources(read(path))
        check(not ext, "%s loads nothing from the network%s" % (name, ": " + "; ".join(ext[:3]) if ext else ""))


def config_keys(root):
    """(section, key, default) of the table in src/common/config.c."""
    src = read(os.path.join(root, "src", "common", "config.c"))
    start = src.index("static const struct key keys[]")
    table = src[start:src.index("};", start)]
    keys = []
    for m in re.finditer(r'^\s*(?:S|SECRET|P|I|L|D)\("([A-Z_]+)", "([A-Z_0-9]+)", [\w.]+, ("[^"]*"|[A-Z_]+)',
                         table, re.M):
        default = m.group(3)
        default = default[1:-1] if default.startswith('"') else None   # a macro: set at build time
        keys.append((m.group(1), m.group(2), default))
    return keys


def manual_sections(md):
    """{"SECTION": text} of the '### [SECTION]' parts of the configuration reference."""
    out = {}
    for m in re.finditer(r"^### \[([A-Z_]+)\]\s*$(.*?)(?=^##)", md, re.M | re.S):
        out[m.group(1)] = m.group(2)
    return out


def check_sources(root):
    md = read(os.path.join(root, "docs", "manual.md"))
    keys = config_keys(root)
    check(len(keys) >= 40, "src/common/config.c has its %d keys" % len(keys))
    sections = manual_sections(md)
    bad = []
    for sec, key, default in keys:
        rows = [line for line in sections.get(sec, "").splitlines() if line.startswith("| `%s` |" % key)]
        if not rows:
            bad.append("[%s] %s missing" % (sec, key))
            continue
        cell = rows[0].split("|")[2].strip()
        if default is not None and default == "" and "(empty)" not in cell:
            bad.append("[%s] %s: default should be empty" % (sec, key))
        elif default and "`%s`" % default not in cell:
            bad.append("[%s] %s: default %s not shown" % (sec, key, default))
    check(not bad, "the manual's configuration reference has every key with its default%s"
          % (": " + "; ".join(bad) if bad else ""))

    man = read(os.path.join(root, "packaging", "man", "luna-tasks.conf.5"))
    bad = []
    for sec, key, default in keys:
        m = re.search(r"^\.SS \[%s\]\n(.*?)(?=^\.SS|^\.SH)" % sec, man, re.M | re.S)
        part = m.group(1) if m else ""
        entry = re.search(r"^\.B %s\n(.*?)(?=^\.TP|\Z)" % key, part, re.M | re.S)
        if not entry:
            bad.append("[%s] %s missing" % (sec, key))
            continue
        text = entry.group(1).replace("\\-", "-")
        if default is not None and default == "" and "(empty)" not in text:
            bad.append("[%s] %s: default should be empty" % (sec, key))
        elif default and "\\fB%s\\fR" % default not in text:
            bad.append("[%s] %s: default %s not shown" % (sec, key, default))
    check(not bad, "luna-tasks.conf(5) has every key with its default%s" % (": " + "; ".join(bad) if bad else ""))

    errors = read(os.path.join(root, "src", "common", "errors.c"))
    header = read(os.path.join(root, "src", "common", "errors.h"))
    values = dict(re.findall(r"\b(E_[A-Z_]+) = (\d+)", header))
    codes = [values[name] for name in re.findall(r"^\s*\{(E_[A-Z_]+), \d+,", errors, re.M) if name in values]
    documented = set(re.findall(r"^\| (\d+) \| \d+ \|", md, re.M))
    missing = [c for c in codes if c not in documented]
    check(len(codes) >= 40 and not missing, "the manual lists every error code of src/common/errors.c (%d)%s"
          % (len(codes), ": missing " + ", ".join(missing) if missing else ""))
    status = dict((values[n], s) for n, s in re.findall(r"^\s*\{(E_[A-Z_]+), (\d+),", errors, re.M) if n in values)
    wrong = [c for c, s in re.findall(r"^\| (\d+) \| (\d+) \|", md, re.M) if status.get(c, s) != s]
    check(not wrong, "the manual's HTTP status of each error code matches the table%s"
          % (": " + ", ".join(wrong) if wrong else ""))


def check_backends_readme(root):
    backends = os.path.join(root, "src", "backends")
    readme = read(os.path.join(backends, "README.md"))
    unnamed = [h for h in sorted(os.listdir(backends)) if h.endswith(".h") and "`%s`" % h not in readme]
    check(not unnamed, "src/backends/README.md names every header of src/backends%s"
          % (": missing " + ", ".join(unnamed) if unnamed else ""))


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "pages":
        check_pages(*sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "sources":
        check_sources(sys.argv[2])
        check_backends_readme(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print("passed=%d failed=%d" % (sum(results), len(results) - sum(results)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
