#!/usr/bin/env python3
"""Side-by-side benchmark: bedrock-link against dnsmasq, Unbound (1 thread) and dnsdist doing
the same job on loopback: override bedrock-runtime.ap-southeast-2.amazonaws.com with two
private IPs and forward everything else to a stand-in upstream (Unbound with local data: a
zone of cacheable answers and a zone of TTL-0 answers).

Three workloads, each server in turn (never two at once):
  override     the overridden name
  cache-hit    2000 forwarded names with a long TTL (cache warmed first)
  pass-through 2000 forwarded names with TTL 0 (every query goes upstream)

Per server and workload: QPS at saturation, CPU microseconds per answered query at a fixed
offered rate (from /proc/PID/stat), context switches per answered query at that rate (every
thread's voluntary and involuntary switches, from /proc/PID/task/*/status), p99 latency at
that rate (from dnsperf -v), peak RSS (VmHWM). Then bedrock-link's ratio to the best peer per
column, for the medians and, for QPS, the worst single run. Loopback only; every load is
bounded by dnsperf's -l; every process is stopped at the end.

Usage: compare.py BEDROCK_LINK_BINARY [--seconds 5] [--rate 20000] [--runs 1] [--json FILE]
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

OVERRIDE = "bedrock-runtime.ap-southeast-2.amazonaws.com"
# Loopback addresses, so that bedrock-link's health probes (--health) stay on this machine.
OVERRIDE_IPS = ["127.0.1.10", "127.0.1.11"]
HEALTH_PORT = 5391
NAMES = 2000
UPSTREAM_PORT = 5390
PORTS = {"bedrock-link": 5301, "dnsmasq": 5302, "unbound": 5303, "dnsdist": 5304}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"port {port} is taken: stop whatever listens there")
        finally:
            s.close()


def upstream_conf(work):
    lines = [
        "server:",
        f"  interface: 127.0.0.1@{UPSTREAM_PORT}",
        "  num-threads: 1", "  do-daemonize: no", "  use-syslog: no", "  chroot: \"\"",
        "  username: \"\"", "  pidfile: \"\"", "  access-control: 127.0.0.0/8 allow",
        "  verbosity: 0", "  do-ip6: no",
        '  local-zone: "cache.bench." static', '  local-zone: "pass.bench." static',
    ]
    for i in range(NAMES):
        lines.append(f'  local-data: "n{i}.cache.bench. 86400 IN A 192.0.2.{i % 250 + 1}"')
        lines.append(f'  local-data: "n{i}.pass.bench. 0 IN A 198.51.100.{i % 250 + 1}"')
    path = os.path.join(work, "upstream.conf")
    open(path, "w").write("\n".join(lines) + "\n")
    return ["unbound", "-d", "-c", path]


MOTO_SETUP = """
import sys, boto3
url, n = sys.argv[1], int(sys.argv[2])
ec2 = boto3.client("ec2", endpoint_url=url, region_name="ap-southeast-2")
vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24",
                             AvailabilityZone=f"ap-southeast-2{'abc'[i]}")["Subnet"]["SubnetId"]
           for i in range(3)]
details = ec2.describe_vpc_endpoint_services()["ServiceDetails"]
services = sorted({d["ServiceName"] for d in details
                   if any(t["ServiceType"] == "Interface" for t in d["ServiceType"])})
for name in services[:n]:
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=name, VpcEndpointType="Interface",
                            SubnetIds=subnets)
print(vpc)
"""


def start_discovery(work, venv, endpoints, log):
    """moto's EC2 API on loopback with `endpoints` interface endpoints (3 ENIs each), so that
    bedrock-link runs with a discovery table and its AWS client loaded, as in production."""
    port = free_ephemeral()
    proc = subprocess.Popen([os.path.join(venv, "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=work)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", MOTO_SETUP, url, str(endpoints)],
                         env={**os.environ, **AWS_ENV}, capture_output=True, text=True, check=True)
    return proc, url, out.stdout.strip()


def free_ephemeral():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Never the real AWS: fake credentials, no instance metadata, explicit endpoint URLs.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "ap-southeast-2"}


def server_commands(work, binary, discovery=None, health=False):
    port = PORTS
    bl = os.path.join(work, "bedrock-link.toml")
    source = ""
    if discovery:
        url, vpc = discovery
        # No probes: moto's ENI addresses are not hosts of this machine.
        source = (f'[[source]]\nregion = "ap-southeast-2"\nvpc_id = "{vpc}"\nservices = ["*"]\n'
                  f'endpoint_url = "{url}"\nhealth_check = false\n')
    open(bl, "w").write(
        f'[dns]\nlisten = ["127.0.0.1:{port["bedrock-link"]}"]\n'
        # No upstream budget: this stand-in upstream has no packet limit, and the peers none
        # either (bench/budget.sh measures forwarding under the VPC resolver's limit).
        f'[upstream]\nservers = ["127.0.0.1:{UPSTREAM_PORT}"]\ncache_size = 10000\n'
        'max_queries_per_second = 0\n'
        f'[[static]]\nname = "{OVERRIDE}"\nipv4 = {json.dumps(OVERRIDE_IPS)}\n'
        + (f'health_check = true\nhealth_check_port = {HEALTH_PORT}\n' if health else '')
        + source
        # The shortest interval: the most probing the query path could ever see.
        + ('[health]\ninterval = "1s"\ntimeout = "200ms"\n' if health else '')
    )
    ub = os.path.join(work, "unbound.conf")
    open(ub, "w").write("\n".join([
        "server:",
        f"  interface: 127.0.0.1@{port['unbound']}",
        "  num-threads: 1", "  do-daemonize: no", "  use-syslog: no", '  chroot: ""',
        '  username: ""', '  pidfile: ""', "  access-control: 127.0.0.0/8 allow",
        "  do-not-query-localhost: no", "  verbosity: 0", "  do-ip6: no",
        "  msg-cache-size: 16m", "  rrset-cache-size: 32m",
        f'  local-zone: "{OVERRIDE}." static',
        *[f'  local-data: "{OVERRIDE}. 30 IN A {ip}"' for ip in OVERRIDE_IPS],
        "forward-zone:", '  name: "."', f"  forward-addr: 127.0.0.1@{UPSTREAM_PORT}",
    ]) + "\n")
    dd = os.path.join(work, "dnsdist.conf")
    open(dd, "w").write("\n".join([
        f'setLocal("127.0.0.1:{port["dnsdist"]}")',
        # The stand-in upstream is offline: health-check a name it serves, not a.root-servers.net.
        f'newServer({{address="127.0.0.1:{UPSTREAM_PORT}", checkName="n1.cache.bench."}})',
        "pc = newPacketCache(10000, {maxTTL=86400, minTTL=0})",
        'getPool(""):setCache(pc)',
        f'addAction(QNameRule("{OVERRIDE}."), SpoofAction({{"{OVERRIDE_IPS[0]}", "{OVERRIDE_IPS[1]}"}}))',
        'setACL({"127.0.0.0/8"})',
    ]) + "\n")
    return {
        "bedrock-link": [binary, "dns", "serve", "--config", bl],
        "dnsmasq": ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces",
                    "--listen-address=127.0.0.1", f"--port={port['dnsmasq']}", f"--server=127.0.0.1#{UPSTREAM_PORT}",
                    "--cache-size=10000", "--pid-file=", "--conf-file=/dev/null", "--user=root",
                    *[f"--address=/{OVERRIDE}/{ip}" for ip in OVERRIDE_IPS]],
        "unbound": ["unbound", "-d", "-c", ub],
        "dnsdist": ["dnsdist", "--supervised", "--disable-syslog", "-C", dd],
    }


def start_health_listeners():
    """A TCP listener per override address that accepts and closes: the probes' targets."""
    import threading

    def serve(sock):
        while True:
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                return

    for ip in OVERRIDE_IPS:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, HEALTH_PORT))
        sock.listen(16)
        threading.Thread(target=serve, args=(sock,), daemon=True).start()


def start(cmd, log):
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            env={**os.environ, **AWS_ENV})
    return proc


def wait_answering(port, name):
    for _ in range(100):
        r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=1", "+tries=1", name],
                           capture_output=True, text=True)
        if r.stdout.strip():
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing answers {name} on port {port}")


def wait_logged(path, text, count):
    """Waits until `text` appears `count` times in the servers' log (bedrock-link logs each
    discovery that changed its table)."""
    for _ in range(300):
        if open(path).read().count(text) >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"bedrock-link never logged {text!r}: see {path}")


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def context_switches(pid):
    """Voluntary and involuntary context switches of every thread of `pid` so far (threads
    that ended are not counted, so a server's own thread churn under the measurement would be
    missed; bedrock-link and the peers keep their threads)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in open(f"/proc/{pid}/task/{task}/status"):
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def peak_rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def dnsperf(port, data, seconds, rate=None, verbose=False):
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", data, "-l", str(seconds),
           "-c", "8", "-T", "1", "-q", "200", "-t", "2"]
    if rate:
        cmd += ["-Q", str(rate)]
    if verbose:
        cmd += ["-v"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    completed = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    latencies = [float(m) for m in re.findall(r"^> \S+ .* ([\d.]+)$", out, re.M)] if verbose else []
    return completed, qps, latencies


def measure(name, pid, port, data, seconds, rate):
    _, qps, _ = dnsperf(port, data, seconds)
    before, switches = cpu_ticks(pid), context_switches(pid)
    completed, _, latencies = dnsperf(port, data, seconds, rate=rate, verbose=True)
    cpu_us = (cpu_ticks(pid) - before) * 1e6 / CLK_TCK
    switches = context_switches(pid) - switches
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else float("nan")
    return {"qps": qps, "cpu_us_per_query": cpu_us / max(completed, 1),
            "switches_per_query": switches / max(completed, 1), "p99_ms": p99}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--only", help="comma-separated servers to run")
    ap.add_argument("--discovery-endpoints", type=int, default=10,
                    help="interface endpoints in bedrock-link's discovery table (0: none)")
    ap.add_argument("--moto-venv", default=os.environ.get(
        "BEDROCK_LINK_VENV", os.path.expanduser("~/.cache/bedrock-link/venv")),
        help="venv with moto[server] and boto3, for the discovery table")
    ap.add_argument("--health", action="store_true",
                    help="bedrock-link probes its override's addresses every second (TCP listeners "
                    f"on {', '.join(OVERRIDE_IPS)}:{HEALTH_PORT}): the cost of health checks")
    ap.add_argument("--workloads", help="comma-separated workloads to run "
                    "(override, cache-hit, pass-through)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="bedrock-link-bench-")
    data = {
        "override": os.path.join(work, "override.txt"),
        "cache-hit": os.path.join(work, "cache.txt"),
        "pass-through": os.path.join(work, "pass.txt"),
    }
    open(data["override"], "w").write(f"{OVERRIDE} A\n" * 100)
    open(data["cache-hit"], "w").write("".join(f"n{i}.cache.bench A\n" for i in range(NAMES)))
    open(data["pass-through"], "w").write("".join(f"n{i}.pass.bench A\n" for i in range(NAMES)))
    if args.workloads:
        wanted = args.workloads.split(",")
        unknown = set(wanted) - set(data)
        if unknown:
            sys.exit(f"unknown workload(s): {', '.join(sorted(unknown))}; choose from {', '.join(data)}")
        data = {w: data[w] for w in wanted}
    warm = os.path.join(work, "cache.txt")

    for port in [UPSTREAM_PORT, *PORTS.values()]:
        free(port)
    procs = []
    log = open(os.path.join(work, "servers.log"), "w")

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
    results = {}
    try:
        procs.append(start(upstream_conf(work), log))
        wait_answering(UPSTREAM_PORT, "n1.cache.bench")
        discovery, discoveries = None, 0
        if args.discovery_endpoints > 0:
            moto, url, vpc = start_discovery(
                work, args.moto_venv, args.discovery_endpoints, log)
            procs.append(moto)
            discovery = (url, vpc)
            print(f"bedrock-link discovers {args.discovery_endpoints} endpoints from moto at {url}",
                  flush=True)
        if args.health:
            start_health_listeners()
        servers = server_commands(work, args.binary, discovery, args.health)
        chosen = args.only.split(",") if args.only else list(servers)
        for run in range(args.runs):
            for name in chosen:
                proc = start(servers[name], log)
                procs.append(proc)
                try:
                    wait_answering(PORTS[name], OVERRIDE)
                    if name == "bedrock-link" and discovery:
                        wait_logged(log.name, "discovery: endpoints changed", discoveries + 1)
                        discoveries += 1
                    dnsperf(PORTS[name], warm, 2)  # warm the cache
                    for workload, path in data.items():
                        r = measure(name, proc.pid, PORTS[name], path, args.seconds, args.rate)
                        r["peak_rss_mib"] = peak_rss_kib(proc.pid) / 1024
                        results.setdefault(workload, {}).setdefault(name, []).append(r)
                        print(f"run {run + 1} {name:12} {workload:12} qps={r['qps']:9.0f} "
                              f"cpu={r['cpu_us_per_query']:6.2f}us cs={r['switches_per_query']:5.2f}/q "
                              f"p99={r['p99_ms']:6.3f}ms "
                              f"rss={r['peak_rss_mib']:5.1f}MiB", flush=True)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=10)
    finally:
        stop_all()

    columns = [("qps", "QPS", max), ("cpu_us_per_query", "CPU us/q", min),
               ("switches_per_query", "cs/q", min), ("p99_ms", "p99 ms", min),
               ("peak_rss_mib", "RSS MiB", min)]
    print(f"\nmedian of {args.runs} run(s); {args.seconds}s per measurement; fixed rate {args.rate} q/s for CPU and p99")
    summary = {}
    for workload, by_server in results.items():
        print(f"\n{workload}")
        print(f"  {'server':12} " + " ".join(f"{label:>10}" for _, label, _ in columns))
        med = {s: {k: statistics.median(r[k] for r in rs) for k, _, _ in columns} for s, rs in by_server.items()}
        for server, m in med.items():
            print(f"  {server:12} " + " ".join(f"{m[k]:10.2f}" for k, _, _ in columns))
        peers = {s: m for s, m in med.items() if s != "bedrock-link"}
        if "bedrock-link" in med and peers:
            ratios = {}
            for key, label, best in columns:
                best_peer = best(p[key] for p in peers.values())
                ratios[key] = med["bedrock-link"][key] / best_peer if best_peer else float("nan")
            print(f"  {'ratio':12} " + " ".join(f"{ratios[k]:9.2f}x" for k, _, _ in columns) + "   (bedrock-link / best peer)")
            # QPS run by run: bedrock-link's run against the best peer's run of the same round.
            per_run = []
            for i, mine in enumerate(by_server["bedrock-link"]):
                best_run = max((rs[i]["qps"] for s, rs in by_server.items()
                                if s != "bedrock-link" and i < len(rs)), default=0)
                per_run.append(mine["qps"] / best_run if best_run else float("nan"))
            print(f"  QPS ratio per run: " + ", ".join(f"{r:.2f}x" for r in per_run)
                  + f"   (worst {min(per_run):.2f}x)")
            summary[workload] = {"median": med, "ratio_to_best_peer": ratios,
                                 "qps_ratio_per_run": per_run}
    if args.json:
        json.dump({"results": results, "summary": summary}, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
