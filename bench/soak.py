#!/usr/bin/env python3
"""Soak: a fixed mixed load on the release build for N minutes (default 10), on loopback.

The load is a quarter each of the override name, 2000 cacheable forwarded names, 2000 TTL-0
forwarded names (pure pass-through) and 2000 names the upstream says do not exist. It is
driven by dnsperf at a fixed rate, one minute at a time. The soak reports per minute: p99
latency, queries lost, SERVFAIL count and RSS. At the end it gives RSS after the first (warm-up)
minute and at the end, and the growth between them; it exits 1 if that growth is 5% or more,
or if any query went unanswered.

Usage: python3 bench/soak.py BINARY [--minutes 10] [--rate 10000] [--json FILE]
(bench/soak.sh installs what it needs and builds the binary first.)
"""

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import compare  # noqa: E402  (shares the stand-in upstream and process helpers)

PORT = 5321


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def one_minute(data, rate):
    """60 s of dnsperf at `rate`; returns (completed, lost, servfail, p99 ms)."""
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(PORT), "-d", data, "-l", "60",
           "-c", "8", "-T", "1", "-q", "500", "-t", "2", "-Q", str(rate), "-v"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    completed = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    servfail = re.search(r"SERVFAIL\s+(\d+)", out)
    latencies = [float(m) for m in re.findall(r"^> \S+ .* ([\d.]+)$", out, re.M)]
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else float("nan")
    return completed, lost, int(servfail.group(1)) if servfail else 0, p99


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--json")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="bedrock-link-soak-")
    names = ([f"{compare.OVERRIDE} A"] * compare.NAMES
             + [f"n{i}.cache.bench A" for i in range(compare.NAMES)]
             + [f"n{i}.pass.bench A" for i in range(compare.NAMES)]
             + [f"x{i}.cache.bench A" for i in range(compare.NAMES)])  # NXDOMAIN
    random.Random(7).shuffle(names)
    data = os.path.join(work, "mixed.txt")
    open(data, "w").write("\n".join(names) + "\n")
    config = os.path.join(work, "bedrock-link.toml")
    open(config, "w").write(
        f'[dns]\nlisten = ["127.0.0.1:{PORT}"]\n'
        # No upstream budget: a quarter of the load must go upstream (TTL 0), far more than
        # the default budget, and what is soaked is the forwarding path.
        f'[upstream]\nservers = ["127.0.0.1:{compare.UPSTREAM_PORT}"]\ncache_size = 10000\n'
        'max_queries_per_second = 0\n'
        f'[[static]]\nname = "{compare.OVERRIDE}"\nipv4 = {json.dumps(compare.OVERRIDE_IPS)}\n')

    for port in (compare.UPSTREAM_PORT, PORT):
        compare.free(port)
    log = open(os.path.join(work, "servers.log"), "w")
    procs = []
    minutes = []
    try:
        procs.append(compare.start(compare.upstream_conf(work), log))
        compare.wait_answering(compare.UPSTREAM_PORT, "n1.cache.bench")
        server = compare.start([args.binary, "dns", "serve", "--config", config], log)
        procs.append(server)
        compare.wait_answering(PORT, compare.OVERRIDE)
        started = rss_kib(server.pid)
        print(f"soak: {args.minutes} min at {args.rate} q/s, mixed load; RSS at start "
              f"{started / 1024:.1f} MiB", flush=True)
        for minute in range(1, args.minutes + 1):
            completed, lost, servfail, p99 = one_minute(data, args.rate)
            rss = rss_kib(server.pid)
            minutes.append({"minute": minute, "completed": completed, "lost": lost,
                            "servfail": servfail, "p99_ms": p99, "rss_mib": rss / 1024})
            print(f"minute {minute:2}: completed={completed} lost={lost} servfail={servfail} "
                  f"p99={p99:.3f}ms rss={rss / 1024:.2f}MiB", flush=True)
            if server.poll() is not None:
                sys.exit("bedrock-link exited during the soak")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()

    warm, end = minutes[0]["rss_mib"], minutes[-1]["rss_mib"]
    growth = (end - warm) / warm * 100
    lost = sum(m["lost"] for m in minutes)
    summary = {"rss_start_mib": started / 1024, "rss_after_minute_1_mib": warm,
               "rss_end_mib": end, "rss_growth_percent": growth, "lost": lost,
               "servfail": sum(m["servfail"] for m in minutes),
               "p99_ms_worst_minute": max(m["p99_ms"] for m in minutes), "minutes": minutes}
    print(f"RSS after minute 1 {warm:.2f} MiB, at the end {end:.2f} MiB: growth {growth:+.1f}% "
          f"(limit 5%); lost {lost}; worst p99 {summary['p99_ms_worst_minute']:.3f} ms")
    if args.json:
        json.dump(summary, open(args.json, "w"), indent=2)
    if growth >= 5 or lost:
        sys.exit(1)


if __name__ == "__main__":
    main()
