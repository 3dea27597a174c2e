#!/usr/bin/env python3
"""Peak RSS of bedrock-link under a flood of large forwarded answers (the cache's byte bound).

A stand-in upstream on loopback answers every name with TXT records of about --answer-bytes;
bedrock-link forwards and caches them while one client asks --names distinct names over TCP.
Prints the server's peak resident memory (VmHWM) and its cache metrics. Everything stays on
127.0.0.1; the load is bounded by --names and --seconds.

    python3 bench/cache-flood.py --bin target/release/bedrock-link [--names 10000]
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    while True:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket()
        try:
            tcp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            udp.close()
            tcp.close()


def question_end(msg):
    pos = 12
    while msg[pos]:
        pos += 1 + msg[pos]
    return pos + 5


def answer(query, size):
    """A NOERROR reply with TXT records (4 strings of 250 octets each) until `size` bytes."""
    end = question_end(query)
    records = []
    for _ in range(max(1, size // 1012)):
        rdata = b"".join(bytes([250]) + b"x" * 250 for _ in range(4))
        records.append(b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 300, len(rdata)) + rdata)
    header = query[:2] + b"\x81\x80" + struct.pack(">HHHH", 1, len(records), 0, 0)
    return header + query[12:end] + b"".join(records)


def serve_upstream(port, size, stop):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    udp.settimeout(0.2)
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(16)
    tcp.settimeout(0.2)

    def udp_loop():
        while not stop.is_set():
            try:
                query, peer = udp.recvfrom(4096)
            except socket.timeout:
                continue
            udp.sendto(answer(query, size), peer)

    def tcp_conn(conn):
        with conn:
            while not stop.is_set():
                head = conn.recv(2)
                if len(head) < 2:
                    return
                (n,) = struct.unpack(">H", head)
                query = b""
                while len(query) < n:
                    query += conn.recv(n - len(query))
                reply = answer(query, size)
                conn.sendall(struct.pack(">H", len(reply)) + reply)

    def tcp_loop():
        while not stop.is_set():
            try:
                conn, _ = tcp.accept()
            except socket.timeout:
                continue
            threading.Thread(target=tcp_conn, args=(conn,), daemon=True).start()

    for loop in (udp_loop, tcp_loop):
        threading.Thread(target=loop, daemon=True).start()


def query(name, qid):
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\x00"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 16, 1)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--names", type=int, default=10000)
    p.add_argument("--answer-bytes", type=int, default=3000)
    p.add_argument("--seconds", type=float, default=120)
    p.add_argument("--extra", default="", help="extra [upstream] settings, e.g. cache_max_bytes = 1048576")
    args = p.parse_args()

    up_port, dns_port, admin_port = free_port(), free_port(), free_port()
    stop = threading.Event()
    serve_upstream(up_port, args.answer_bytes, stop)
    config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    config.write(
        f'[dns]\nlisten = ["127.0.0.1:{dns_port}"]\n'
        f'[upstream]\nservers = ["127.0.0.1:{up_port}"]\n{args.extra}\n'
        f'[admin]\nlisten = "127.0.0.1:{admin_port}"\n'
    )
    config.close()
    env = {"PATH": os.environ.get("PATH", ""), "AWS_EC2_METADATA_DISABLED": "true"}
    server = subprocess.Popen([args.bin, "dns", "serve", "--config", config.name], env=env,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", dns_port), timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("bedrock-link did not start")
                time.sleep(0.1)
        started, asked = time.time(), 0
        with conn:
            for i in range(args.names):
                if time.time() - started > args.seconds:
                    break
                q = query(f"n{i}.flood.test", i & 0xFFFF)
                conn.sendall(struct.pack(">H", len(q)) + q)
                (n,) = struct.unpack(">H", conn.recv(2, socket.MSG_WAITALL))
                conn.recv(n, socket.MSG_WAITALL)
                asked += 1
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5).read().decode()
        picked = [l for l in metrics.splitlines() if l.startswith(("bedrock_link_cache_entries", "bedrock_link_cache_bytes"))]
        print(f"asked {asked} names with ~{args.answer_bytes}-byte answers in {time.time() - started:.1f} s")
        print(f"peak RSS (VmHWM): {vm_hwm_kib(server.pid) / 1024:.1f} MiB")
        for line in picked:
            print(line)
    finally:
        server.terminate()
        server.wait(10)
        stop.set()
        os.unlink(config.name)


if __name__ == "__main__":
    main()
