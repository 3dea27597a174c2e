#!/usr/bin/env python3
"""Forwarding within the VPC resolver's packet limit: bedrock-link against Unbound (prefetch and
serve-expired), dnsmasq (--use-stale-cache) and dnsdist (packet cache, stale TTL), each in turn,
the same job and the same cache size.

Topology (built by bench/budget.sh, torn down after): two network namespaces joined by a veth
pair. blb-dns (10.53.0.2) holds the stand-in VPC resolver, an Unbound serving a zone of NAMES
names with TTLs spread log-uniformly between 5 s and 1 h, policed like AWS's (nftables: a
token bucket per source address of 1024 packets refilled at 1024 a second, so 1024 packets in a
second from idle and 1024 a second sustained; the rest dropped, silently). blb-app (10.53.0.1)
holds the server under test and this client. A packet socket in blb-dns stamps every packet
that reaches the resolver's interface (before the policer) with the kernel's receive time.

The job: --rate queries a second, names drawn by a Zipf law (s = 1), each query waited for
TIMEOUT seconds (glibc's default): first --warmup seconds from a cold start (its failures are
reported on their own), then --seconds measured, the stand-in resolver silent (every packet
dropped after the policer) from --outage start to end (seconds into the measured part).
Reported per server:
client queries failed (SERVFAIL, REFUSED or no answer) before, during and after the outage, and
during it for names answered before it; upstream packets a second (median and the busiest
second, from those stamps, in 1 s bins and over any sliding second); packets the policer
dropped; client queries
per upstream packet and, as the share of queries needing no upstream packet, a cache-hit
estimate; stale answers where the server counts them.

Usage: budget.py BEDROCK_LINK_BINARY [--seconds 60] [--rate 5000] [--json FILE] [--only a,b]
Run as root, from bench/budget.sh (which makes the namespaces). Every packet stays in the two
namespaces; every load is bounded by --seconds.
"""
import argparse
import json
import math
import os
import random
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import compare  # noqa: E402  (waiting for a server to answer, as the other benchmarks do)

APP_NS, DNS_NS = "blb-app", "blb-dns"
RESOLVER = "10.53.0.2"
NAMES = 20_000
# Room for every name of the zone in every server: what is measured is staleness and the
# packet limit, not eviction (at 10,000 entries, names evicted before the outage fail in it
# for every server alike).
CACHE_ENTRIES = 30_000
CACHE_BYTES = 16 << 20
PORTS = {"bedrock-link": 5311, "unbound": 5312, "dnsmasq": 5313, "dnsdist": 5314}
ADMIN = "127.0.0.1:9311"
TIMEOUT = 5.0
POLICE_PPS = 1024


def netns(ns, *cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, **kw)


def nft_counters():
    out = netns(DNS_NS, "nft", "-j", "list", "counters", "table", "inet", "vpc",
                capture_output=True, text=True).stdout
    return {c["counter"]["name"]: c["counter"]["packets"]
            for c in json.loads(out)["nftables"] if "counter" in c}


def police():
    """The stand-in VPC resolver's policer, and an empty chain the outage fills."""
    rules = f"""
table inet vpc {{
  set sources {{ type ipv4_addr; size 65535; flags dynamic; timeout 60s; }}
  counter accepted {{}}
  counter policed {{}}
  counter silenced {{}}
  chain outage {{}}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip daddr {RESOLVER} update @sources {{ ip saddr limit rate over {POLICE_PPS}/second burst {POLICE_PPS} packets }} counter name policed drop
    ip daddr {RESOLVER} jump outage
    ip daddr {RESOLVER} counter name accepted
  }}
}}
"""
    subprocess.run(["ip", "netns", "exec", DNS_NS, "nft", "-f", "-"], input=rules, text=True, check=True)


def outage(on):
    if on:
        netns(DNS_NS, "nft", "add", "rule", "inet", "vpc", "outage", "counter", "name", "silenced", "drop")
    else:
        netns(DNS_NS, "nft", "flush", "chain", "inet", "vpc", "outage")


def zone(work, seed):
    """The stand-in resolver's zone: NAMES names, TTLs log-uniform in 5 s .. 3600 s."""
    rng = random.Random(seed)
    lines = ["server:", f"  interface: {RESOLVER}@53", "  num-threads: 1", "  do-daemonize: no",
             "  use-syslog: no", '  chroot: ""', '  username: ""', '  pidfile: ""',
             "  access-control: 0.0.0.0/0 allow", "  verbosity: 0", "  do-ip6: no",
             "  ratelimit: 0", "  ip-ratelimit: 0", '  local-zone: "zone.bench." static']
    for i in range(NAMES):
        ttl = int(round(math.exp(rng.uniform(math.log(5), math.log(3600)))))
        lines.append(f'  local-data: "n{i}.zone.bench. {ttl} IN A 198.18.{i // 250}.{i % 250 + 1}"')
    path = os.path.join(work, "resolver.conf")
    open(path, "w").write("\n".join(lines) + "\n")
    return path


def server_configs(work, binary):
    up = RESOLVER
    bl = os.path.join(work, "bedrock-link.toml")
    open(bl, "w").write(
        f'[dns]\nlisten = ["127.0.0.1:{PORTS["bedrock-link"]}"]\n'
        f'[upstream]\nservers = ["{up}"]\ncache_size = {CACHE_ENTRIES}\n'
        f'cache_max_bytes = {CACHE_BYTES}\n'
        f'[admin]\nlisten = "{ADMIN}"\n')
    ub = os.path.join(work, "unbound.conf")
    open(ub, "w").write("\n".join([
        "server:", f"  interface: 127.0.0.1@{PORTS['unbound']}", "  num-threads: 1",
        "  do-daemonize: no", "  use-syslog: no", '  chroot: ""', '  username: ""', '  pidfile: ""',
        "  access-control: 127.0.0.0/8 allow", "  verbosity: 0", "  do-ip6: no",
        # Bytes, not entries: each holds far more than 30,000 of these small answers.
        "  msg-cache-size: 16m", "  rrset-cache-size: 16m",
        "  prefetch: yes", "  serve-expired: yes", "  serve-expired-ttl: 86400",
        "  statistics-cumulative: yes",
        "remote-control:", "  control-enable: yes",
        f"  control-interface: {os.path.join(work, 'unbound.ctl')}", "  control-use-cert: no",
        "forward-zone:", '  name: "."', f"  forward-addr: {up}@53",
    ]) + "\n")
    dd = os.path.join(work, "dnsdist.conf")
    open(dd, "w").write("\n".join([
        f'setLocal("127.0.0.1:{PORTS["dnsdist"]}")',
        f'newServer({{address="{up}:53", checkName="n0.zone.bench.", checkInterval=1}})',
        # Entries expired up to a day ago are served, with TTL 30, while every backend is down
        # (and not expunged meanwhile).
        "setStaleCacheEntriesTTL(86400)",
        f"pc = newPacketCache({CACHE_ENTRIES}, {{maxTTL=86400, minTTL=0, staleTTL=30, "
        "keepStaleData=true})",
        'getPool(""):setCache(pc)', 'setACL({"127.0.0.0/8"})',
    ]) + "\n")
    return {
        "bedrock-link": [binary, "dns", "serve", "--config", bl],
        "unbound": ["unbound", "-d", "-c", ub],
        "dnsmasq": ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                    "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={PORTS['dnsmasq']}",
                    f"--server={up}", f"--cache-size={CACHE_ENTRIES}", "--use-stale-cache",
                    "--pid-file=", "--conf-file=/dev/null", "--user=root"],
        "dnsdist": ["dnsdist", "--supervised", "--disable-syslog", "-C", dd],
    }, ub


def query(name, qid):
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


def workload(seconds, rate, seed):
    """The names to ask, in order: a Zipf law (s = 1) over NAMES names."""
    rng = random.Random(seed)
    weights = [1.0 / (r + 1) for r in range(NAMES)]
    ranks = list(range(NAMES))
    rng.shuffle(ranks)  # popularity is not the name's number, so TTL and rank are unrelated
    draws = rng.choices(range(NAMES), weights=weights, k=seconds * rate)
    return [ranks[d] for d in draws]


def run_client(port, names, rate, outage_at):
    """Sends names[k] at k / rate seconds; returns (send time, name, outcome) per query, the
    outcome an RCODE or None (no answer within TIMEOUT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: we are root
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    wire = {}
    pending = {}  # id -> query index
    sent_at = [0.0] * len(names)
    outcome = [None] * len(names)
    start = time.monotonic()
    k = 0
    timers = list(outage_at)
    while True:
        now = time.monotonic() - start
        while timers and now >= timers[0][0]:
            threading.Thread(target=timers.pop(0)[1]).start()
        while k < len(names) and k <= now * rate:
            qid = k & 0xFFFF
            if qid in pending:  # a query TIMEOUT old at most still holds it: it has failed
                pending.pop(qid)
            n = names[k]
            if n not in wire:
                wire[n] = query(f"n{n}.zone.bench", 0)
            try:
                sock.send(qid.to_bytes(2, "big") + wire[n][2:])
            except BlockingIOError:
                pass
            sent_at[k] = now
            pending[qid] = k
            k += 1
        if k >= len(names) and (not pending or now > sent_at[-1] + TIMEOUT):
            break
        for _ in sel.select(timeout=0.001):
            while True:
                try:
                    reply = sock.recv(4096)
                except BlockingIOError:
                    break
                except ConnectionRefusedError:
                    continue
                i = pending.pop(int.from_bytes(reply[:2], "big"), None)
                if i is not None and time.monotonic() - start - sent_at[i] <= TIMEOUT:
                    outcome[i] = reply[3] & 0x0F
    sock.close()
    return sent_at, outcome


def capture(out):
    """Run in blb-dns: the kernel receive time of every IPv4 packet from the app side to the
    resolver, until SIGTERM; then the times (seconds, as floats) to `out` as JSON."""
    # Cooked (SOCK_DGRAM): the data starts at the IP header.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sock.bind(("blb-dns0", 0))
    sock.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
    sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
    sock.settimeout(0.2)
    src, dst = socket.inet_aton("10.53.0.1"), socket.inet_aton(RESOLVER)
    times, running = [], [True]
    signal.signal(signal.SIGTERM, lambda *a: running.__setitem__(0, False))
    while running[0]:
        try:
            data, anc, _, _ = sock.recvmsg(64, socket.CMSG_SPACE(16))
        except (socket.timeout, InterruptedError):
            continue
        if data[12:16] != src or data[16:20] != dst:
            continue
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == 35:
                sec, nsec = int.from_bytes(value[:8], "little"), int.from_bytes(value[8:16], "little")
                times.append(sec + nsec / 1e9)
    json.dump(times, open(out, "w"))


def per_second(times):
    """Packets in each 1 s bin from the first, and the most in any sliding second."""
    if not times:
        return [], 0
    times = sorted(times)
    bins = [0] * (int(times[-1] - times[0]) + 1)
    for t in times:
        bins[int(t - times[0])] += 1
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return bins, most


def stale_answers(name, ub_conf):
    try:
        if name == "bedrock-link":
            body = urllib.request.urlopen(f"http://{ADMIN}/metrics", timeout=2).read().decode()
            m = re.search(r'^bedrock_link_queries_total\{outcome="stale"\} (\S+)$', body, re.M)
            return int(float(m.group(1))) if m else None
        if name == "unbound":
            out = subprocess.run(["unbound-control", "-c", ub_conf, "stats_noreset"],
                                 capture_output=True, text=True, timeout=5).stdout
            m = re.search(r"^total\.num\.expired=(\d+)$", out, re.M)
            return int(m.group(1)) if m else None
    except OSError:
        return None
    return None  # dnsmasq and dnsdist do not count them


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=30, help="seconds from cold, not measured")
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--outage", default="20,40", help="start,end of the silence, in seconds")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json")
    ap.add_argument("--only", help="comma-separated servers to run")
    ap.add_argument("--capture", help=argparse.SUPPRESS)  # internal: the packet stamper
    if "--capture" in sys.argv:
        return capture(sys.argv[sys.argv.index("--capture") + 1])
    args = ap.parse_args()
    off_at, on_at = (float(x) + args.warmup for x in args.outage.split(","))

    work = tempfile.mkdtemp(prefix="bedrock-link-budget-")
    log = open(os.path.join(work, "servers.log"), "w")
    procs = []

    def stop_all(*_):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(1)))
    names = workload(args.warmup + args.seconds, args.rate, args.seed)
    results = {}
    try:
        police()
        procs.append(subprocess.Popen(["ip", "netns", "exec", DNS_NS, "unbound", "-d", "-c",
                                       zone(work, args.seed)], stdout=log, stderr=log))
        servers, ub_conf = server_configs(work, args.binary)
        chosen = args.only.split(",") if args.only else list(servers)
        for name in chosen:
            proc = subprocess.Popen(servers[name], stdout=log, stderr=log)
            procs.append(proc)
            try:
                compare.wait_answering(PORTS[name], "n0.zone.bench")
                time.sleep(2)  # dnsdist marks its backend up after a health check
                # The probe's own query and answer are the only state it starts with.
                stamps = os.path.join(work, f"{name}.stamps.json")
                stamper = subprocess.Popen(["ip", "netns", "exec", DNS_NS, sys.executable,
                                            os.path.abspath(__file__), "--capture", stamps])
                procs.append(stamper)
                time.sleep(1)
                measured = {}

                def begin_measuring():
                    measured.update(at=time.time(), counters=nft_counters(),
                                    stale=stale_answers(name, ub_conf))

                sent_at, outcome = run_client(
                    PORTS[name], names, args.rate,
                    [(args.warmup, begin_measuring), (off_at, lambda: outage(True)),
                     (on_at, lambda: outage(False))])
                outage(False)
                after = nft_counters()
                stale = stale_answers(name, ub_conf)
                stamper.send_signal(signal.SIGTERM)
                stamper.wait(timeout=10)
                stamps = [t for t in json.load(open(stamps)) if t >= measured["at"]]
                bins, busiest = per_second(stamps)
                stale = None if stale is None else stale - measured["stale"]
                results[name] = summarise(names, sent_at, outcome, bins, busiest,
                                          measured["counters"], after, args.warmup, off_at, on_at,
                                          stale)
                print(f"{name:12} " + json.dumps(results[name]), flush=True)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)
    finally:
        stop_all()
    table(results, args)
    if args.json:
        json.dump({"settings": vars(args), "results": results}, open(args.json, "w"), indent=2)


def summarise(names, sent_at, outcome, bins, busiest, before, after, warmup, off_at, on_at,
              stale):
    failed = {"warmup": 0, "before": 0, "during": 0, "after": 0}
    known, known_failed, measured = set(), 0, 0
    for i, t in enumerate(sent_at):
        phase = ("warmup" if t < warmup else "before" if t < off_at
                 else "during" if t < on_at else "after")
        measured += phase != "warmup"
        ok = outcome[i] in (0, 3)
        if not ok:
            failed[phase] += 1
            if phase == "during" and names[i] in known:
                known_failed += 1
        elif phase in ("warmup", "before"):
            known.add(names[i])
    total_up = sum(after[k] - before[k] for k in ("policed", "accepted", "silenced"))
    return {
        "queries": measured,
        "failed": failed,
        "failed_measured": failed["before"] + failed["during"] + failed["after"],
        "failed_during_for_names_answered_before": known_failed,
        "upstream_packets": total_up,
        "upstream_pps_median": statistics.median(bins) if bins else 0,
        "upstream_pps_max_bin": max(bins, default=0),
        "upstream_busiest_sliding_second": busiest,
        "policer_drops": after["policed"] - before["policed"],
        "queries_per_upstream_packet": round(measured / max(total_up, 1), 1),
        "cache_hit_estimate": round(1 - total_up / measured, 4),
        "stale_answers": stale,
    }


def table(results, args):
    print(f"\n{args.rate} q/s, {args.warmup} s from cold then {args.seconds} s measured, Zipf over "
          f"{NAMES} names, {CACHE_ENTRIES} cache entries each, resolver silent {args.outage} s "
          f"into the measured part, policer {POLICE_PPS} packets/s per source (bucket {POLICE_PPS}), "
          f"client timeout {TIMEOUT:.0f} s; busiest second: the most packets reaching the resolver "
          "in any sliding second (kernel receive times)\n")
    print("| server | failed in warm-up (cold start) | failed before | failed during | failed after "
          "| failed in all (measured) | during, names answered before | upstream packets "
          "| upstream/s median | busiest second | policer drops | queries per upstream packet "
          "| stale answers |")
    print("|---|" + "---:|" * 12)
    for name, r in results.items():
        f = r["failed"]
        stale = "n/a" if r["stale_answers"] is None else r["stale_answers"]
        print(f"| {name} | {f['warmup']} | {f['before']} | {f['during']} | {f['after']} "
              f"| {r['failed_measured']} "
              f"| {r['failed_during_for_names_answered_before']} | {r['upstream_packets']} "
              f"| {r['upstream_pps_median']:.0f} | {r['upstream_busiest_sliding_second']} | {r['policer_drops']} "
              f"| {r['queries_per_upstream_packet']} | {stale} |")


if __name__ == "__main__":
    main()
