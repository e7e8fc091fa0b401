#!/usr/bin/env python3
"""Smoke test for meshbench: runs it with tiny counts and checks behaviour only
(exit codes, JSON lines and their keys, invariants between fields, errors that
name the bad flag). No timing thresholds: the machine may be loaded."""
import json
import math
import os
import subprocess
import sys

REQUIRED = ("transport", "payload_bytes", "p50_ns", "p99_ns", "p999_ns", "max_ns",
            "msgs_per_s", "bytes_per_s", "samples")
ALL = {"floor", "ring", "trade", "uds", "uds-spin", "nng-ipc", "nng-inproc"}
SIZED = {"ring", "uds", "uds-spin", "nng-ipc", "nng-inproc"}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def cpus():
    # Two CPUs this process may run on; one CPU means both roles share it.
    allowed = sorted(os.sched_getaffinity(0))
    a = allowed[0]
    b = allowed[1] if len(allowed) > 1 else allowed[0]
    return "%d,%d" % (a, b)


def run(exe, *args, timeout=240):
    p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def check_usage_errors(exe):
    rc, out, _ = run(exe, "--help")
    check(rc == 0, "--help exits 0 (got %d)" % rc)
    for name in sorted(ALL):
        check(name in out, "--help lists transport %s" % name)
    bad = [
        (("--sizes", "64,12x"), ["--sizes", "12x"]),
        (("--sizes", "4"), ["--sizes", "out of range"]),
        (("--transports", "ring,bogus"), ["--transports", "bogus"]),
        (("--cpus", "0"), ["--cpus", "A,B"]),
        (("--messages", "-5"), ["--messages", "-5"]),
        (("--ring-bytes", "5000"), ["--ring-bytes", "power of two"]),
        (("--clock", "sundial"), ["--clock", "sundial"]),
        (("--nonsense",), ["--nonsense"]),
    ]
    for args, words in bad:
        rc, out, err = run(exe, *args)
        check(rc == 2, "%s exits 2 (got %d)" % (" ".join(args), rc))
        check(out == "", "%s prints nothing on stdout" % " ".join(args))
        for w in words:
            check(w in err, "%s: error names %r (stderr: %r)" % (" ".join(args), w, err))


def check_row(r, samples, messages):
    t = r.get("transport")
    for k in REQUIRED:
        check(k in r, "%s row has key %s" % (t, k))
    if any(k not in r for k in REQUIRED):
        return
    for k in ("payload_bytes", "p50_ns", "p99_ns", "p999_ns", "max_ns", "samples"):
        check(isinstance(r[k], int) and r[k] >= 0, "%s %s is a non-negative integer" % (t, k))
    check(r["samples"] == samples, "%s samples == %d (got %r)" % (t, samples, r["samples"]))
    check(0 < r["p50_ns"] <= r["p99_ns"] <= r["p999_ns"] <= r["max_ns"],
          "%s 0 < p50 <= p99 <= p999 <= max (%r)" % (t, r))
    if t in SIZED:
        check(r["payload_bytes"] == 64, "%s payload_bytes == 64" % t)
    if t == "floor":
        check(r["msgs_per_s"] is None and r["bytes_per_s"] is None,
              "floor has no throughput (null)")
        return
    mps, bps = r["msgs_per_s"], r["bytes_per_s"]
    check(isinstance(mps, (int, float)) and mps > 0, "%s msgs_per_s > 0" % t)
    check(isinstance(bps, (int, float)) and
          math.isclose(bps, mps * r["payload_bytes"], rel_tol=1e-3),
          "%s bytes_per_s == msgs_per_s * payload_bytes" % t)
    check(r.get("messages") == messages, "%s messages == %d" % (t, messages))
    if t == "trade":
        check(r["payload_bytes"] > 20, "trade payload is an encoded Trade (> 20 bytes)")
        check(r.get("oneway_samples") == samples, "trade has one stamped sample per ping")
        check(0 < r.get("oneway_p50_ns", 0) <= r.get("oneway_max_ns", 0),
              "trade 0 < oneway_p50 <= oneway_max")


def check_json_run(exe):
    samples, messages = 1000, 10000
    rc, out, err = run(exe, "--json", "--samples", str(samples), "--warmup", "100",
                       "--messages", str(messages), "--sizes", "64", "--cpus", cpus())
    check(rc == 0, "json run exits 0 (got %d; stderr %r)" % (rc, err[-2000:]))
    rows = []
    for i, line in enumerate(out.splitlines()):
        try:
            rows.append(json.loads(line))
        except ValueError as e:
            check(False, "stdout line %d is JSON (%s): %r" % (i + 1, e, line))
    seen = [r.get("transport") for r in rows]
    check(set(seen) == ALL and len(seen) == len(ALL),
          "one row per transport %s (got %s)" % (sorted(ALL), seen))
    for r in rows:
        check_row(r, samples, messages)
    check("ratio ring p50 / floor p50" in err, "ratio lines on stderr with --json")


def check_table_run(exe):
    rc, out, err = run(exe, "--transports", "floor,uds", "--samples", "200", "--warmup", "10",
                       "--messages", "1000", "--sizes", "16,32", "--cpus", cpus())
    check(rc == 0, "table run exits 0 (got %d; stderr %r)" % (rc, err[-2000:]))
    lines = [l for l in out.splitlines() if l and not l.startswith("#")]
    check(lines and lines[0].split()[:3] == ["transport", "bytes", "p50_ns"], "table header")
    body = [l.split() for l in lines[1:]]
    got = [(b[0], b[1]) for b in body]
    check(got == [("floor", "8"), ("uds", "16"), ("uds", "32")],
          "table rows floor 8, uds 16, uds 32 (got %s)" % got)
    check(any(l.startswith("# ratio") for l in out.splitlines()), "ratio lines in table mode")


def main():
    exe = sys.argv[1]
    check_usage_errors(exe)
    check_json_run(exe)
    check_table_run(exe)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("meshbench smoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
