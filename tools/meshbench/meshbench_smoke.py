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
ALL = {"floor", "ring", "trade", "uds", "uds-spin", "nng-ipc", "nng-inproc", "nng-route"}
SIZED = {"ring", "uds", "uds-spin", "nng-ipc", "nng-inproc", "nng-route"}
STAMPED = {"trade", "nng-route"}  # also report a one-way stamped latency (payloads >= 16 B)

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


def leftover_shm(pid):
    # Rings of this meshbench run still in /dev/shm (teardown must unlink them).
    prefix = "mesh.meshbench-%d-" % pid
    try:
        return sorted(n for n in os.listdir("/dev/shm") if n.startswith(prefix))
    except FileNotFoundError:
        return []


def run(exe, *args, timeout=240):
    p = subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        check(False, "%s finishes within %d s" % (" ".join(args), timeout))
    left = leftover_shm(p.pid)
    check(not left, "%s leaves no shm object behind (got %s)" % (" ".join(args), left))
    return p.returncode, out, err


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
    if t in STAMPED:
        check(r.get("oneway_samples") == samples, "%s has one stamped sample per ping" % t)
        check(0 < r.get("oneway_p50_ns", 0) <= r.get("oneway_p99_ns", 0) <=
              r.get("oneway_p999_ns", 0) <= r.get("oneway_max_ns", 0),
              "%s 0 < oneway_p50 <= p99 <= p999 <= max (%r)" % (t, r))
    else:
        check("oneway_p50_ns" not in r, "%s has no stamped one-way latency" % t)


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
    check("# nng-route 64 B throughput: " in err and "target >= 1 M" in err,
          "nng-route throughput line against its target (stderr %r)" % err[-2000:])
    check("# ratio nng-route p50 / ring p50 (64 B, RTT/2): " in err,
          "nng-route p50 against the ring's of the same run")
    check("# nng-route 64 B one-way stamped: p50 " in err, "nng-route one-way stamped line")


def check_table_run(exe):
    rc, out, err = run(exe, "--transports", "floor,uds,nng-route", "--samples", "200",
                       "--warmup", "10", "--messages", "1000", "--sizes", "8,32",
                       "--cpus", cpus())
    check(rc == 0, "table run exits 0 (got %d; stderr %r)" % (rc, err[-2000:]))
    lines = [l for l in out.splitlines() if l and not l.startswith("#")]
    check(lines and lines[0].split()[:3] == ["transport", "bytes", "p50_ns"], "table header")
    body = [l.split() for l in lines[1:]]
    got = [(b[0], b[1]) for b in body]
    # 8-byte payloads hold only the sequence number: no room for a stamp.
    want = [("floor", "8"), ("uds", "8"), ("uds", "32"), ("nng-route", "8"),
            ("nng-route", "32"), ("stamped", "32")]
    check(got == want, "table rows %s (got %s)" % (want, got))
    check(any(l.startswith("# ratio") for l in out.splitlines()), "ratio lines in table mode")
    check("# nng-route 64 B: n/a (needs nng-route at 64 B)" in out,
          "nng-route line says n/a without a 64 B case")


def check_route_errors(exe):
    # A payload above the rings' max record fails nng-route's setup before
    # any bridge starts: the case fails, the run goes on and says so.
    rc, out, err = run(exe, "--json", "--transports", "nng-route,uds", "--sizes", "2048",
                       "--ring-bytes", "4096", "--samples", "100", "--warmup", "10",
                       "--messages", "100", "--cpus", cpus())
    check(rc == 1, "oversized nng-route payload exits 1 (got %d)" % rc)
    check("--ring-bytes" in err and "nng-route" in err,
          "oversized payload error names nng-route and --ring-bytes (stderr %r)" % err)
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    check([r.get("transport") for r in rows] == ["uds"],
          "the other transport still runs after nng-route failed (got %r)" % rows)


def main():
    exe = sys.argv[1]
    check_usage_errors(exe)
    check_json_run(exe)
    check_table_run(exe)
    check_route_errors(exe)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("meshbench smoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
