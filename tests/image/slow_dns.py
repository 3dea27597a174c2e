"""A DNS server that answers every A question after a delay: a query to it is "in flight" for
that long, so a test can stop the resolver while one is. Each question received is appended to
a log file before the wait.

Usage: slow_dns.py ADDRESS PORT DELAY_SECONDS ANSWER_IPV4 LOG"""

import socket
import struct
import sys
import threading
import time

address, port, delay, answer, log = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]


def question_end(query: bytes) -> int:
    """The offset just past the first question (name, type, class)."""
    i = 12
    while query[i]:
        i += 1 + query[i]
    return i + 1 + 4


def reply(sock, query, client):
    end = question_end(query)
    qtype = struct.unpack("!H", query[end - 4:end - 2])[0]
    with open(log, "a") as f:
        f.write(f"{qtype}\n")
    time.sleep(delay)
    answers = 1 if qtype == 1 else 0
    header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, answers, 0, 0)
    body = query[12:end]
    if answers:
        body += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(answer)
    sock.sendto(header + body, client)


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((address, port))
while True:
    data, client = sock.recvfrom(4096)
    if len(data) > 12:
        threading.Thread(target=reply, args=(sock, data, client), daemon=True).start()
