#!/usr/bin/env python3
"""Delay and loss for the packets an iptables NFQUEUE rule hands over: netem's job where the kernel has no netem.

Run inside a network namespace, next to a rule such as
    iptables -A OUTPUT -o veth-x -j NFQUEUE --queue-num 7 --queue-bypass
Each queued packet is dropped with probability --loss, otherwise accepted after --delay ms plus a uniform
jitter of +-jitter ms (what `tc qdisc add ... netem delay D J loss L` does without a distribution table). The
rule's --queue-bypass lets packets through unchanged when this process is gone, so an ended lab never leaves a
black hole behind.

Speaks nfnetlink_queue over a raw netlink socket (Python standard library only). Packets are asked for with
NFQNL_COPY_META: only their ids are read, never their contents.
"""
import argparse
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_PF_BIND = 3
NFQNL_COPY_META = 1
NF_DROP = 0
NF_ACCEPT = 1
AF_INET = 2


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


class Queue:
    def __init__(self, num):
        self.num = num
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((0, 0))
        self.config(AF_INET, attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_PF_BIND, AF_INET)), 0)
        self.config(AF_INET, attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0)), num)
        self.config(AF_INET, attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)), num)
        self.config(AF_INET, attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 8192)), num)

    def send(self, msg_type, family, res_id, payload, flags=NLM_F_REQUEST):
        self.seq += 1
        body = struct.pack("!BBH", family, 0, res_id) + payload
        header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, self.seq, 0)
        self.sock.send(header + body)

    def config(self, family, payload, res_id):
        self.send(NFQNL_MSG_CONFIG, family, res_id, payload, NLM_F_REQUEST | NLM_F_ACK)
        data = self.sock.recv(65536)
        length, kind = struct.unpack_from("=IH", data)
        if kind == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", data, 16)
            if err != 0 and not (err == -16):  # EBUSY on PF_BIND of a newer kernel: harmless
                raise OSError(-err, "nfqueue config: " + os.strerror(-err))

    def verdict(self, packet_id, verdict):
        self.send(NFQNL_MSG_VERDICT, 0, self.num, attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)))

    def packets(self):
        """The ids of the packets in one read from the socket."""
        data = self.sock.recv(1 << 20)
        out = []
        off = 0
        while off + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if length < 16:
                break
            if kind & 0xFF == NFQNL_MSG_PACKET and kind >> 8 == NFNL_SUBSYS_QUEUE:
                a = off + 20
                end = off + length
                while a + 4 <= end:
                    alen, atype = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atype & 0x7FFF == NFQA_PACKET_HDR:
                        out.append(struct.unpack_from("!I", data, a + 4)[0])
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3
        return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queue", type=int, required=True)
    p.add_argument("--delay", type=float, default=0.0, help="ms")
    p.add_argument("--jitter", type=float, default=0.0, help="ms")
    p.add_argument("--loss", type=float, default=0.0, help="probability, 0..1")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    q = Queue(args.queue)
    print(f"impair: queue {args.queue}, delay {args.delay}+-{args.jitter} ms, loss {args.loss}", flush=True)
    pending = []  # (due monotonic seconds, packet id)
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            q.verdict(heapq.heappop(pending)[1], NF_ACCEPT)
        timeout = max(0.0, pending[0][0] - now) if pending else 1.0
        ready, _, _ = select.select([q.sock], [], [], timeout)
        if not ready:
            continue
        try:
            ids = q.packets()
        except OSError as e:  # ENOBUFS: the kernel dropped packets for us; keep going, as netem would
            print(f"impair: {e}", flush=True)
            continue
        now = time.monotonic()
        for pid in ids:
            if random.random() < args.loss:
                q.verdict(pid, NF_DROP)
            else:
                d = args.delay + random.uniform(-args.jitter, args.jitter)
                heapq.heappush(pending, (now + max(0.0, d) / 1000.0, pid))


if __name__ == "__main__":
    main()
