#!/usr/bin/env python3
"""Regenerates the committed seed corpora under fuzz/seeds/ (the CI fuzz stage only reads them).

  python3 fuzz/make_seeds.py packet    VRRP payloads of tests/data/captures/*.pcap
  python3 fuzz/make_seeds.py netlink   real rtnetlink datagrams (root: uses a scratch netns)
  python3 fuzz/make_seeds.py status    status texts (built in, the daemon's documented shape)

The netlink seeds are in this machine's byte order (x86_64: little-endian), as the kernel
sends them. The scratch namespace uses documentation addresses only and is deleted after.
"""
import hashlib
import os
import socket
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def save(target, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def vrrp_payloads(pcap):
    magic = struct.unpack("<I", pcap[:4])[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), "little-endian pcap expected"
    linktype = struct.unpack("<I", pcap[20:24])[0]
    assert linktype == 1, "Ethernet pcap expected"
    at = 24
    while at + 16 <= len(pcap):
        caplen = struct.unpack("<I", pcap[at + 8 : at + 12])[0]
        frame = pcap[at + 16 : at + 16 + caplen]
        at += 16 + caplen
        ethertype = struct.unpack(">H", frame[12:14])[0]
        ip = frame[14:]
        if ethertype == 0x0800 and ip[9] == 112:
            total = struct.unpack(">H", ip[2:4])[0]
            yield ip[(ip[0] & 0x0F) * 4 : total]
        elif ethertype == 0x86DD and ip[6] == 112:
            plen = struct.unpack(">H", ip[4:6])[0]
            yield ip[40 : 40 + plen]


def packet():
    d = os.path.join(ROOT, "tests", "data", "captures")
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            for payload in vrrp_payloads(f.read()):
                save("packet", payload)


RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100


def request(ty, flags, seq, body):
    return struct.pack("=IHHII", 16 + len(body), ty, flags, seq, 0) + body


def drain(sock):
    sock.setblocking(False)
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        save("netlink", data)


def netlink_in_netns():
    """Runs inside the scratch namespace."""
    sh = lambda *a: subprocess.run(["ip", *a], check=True)
    mon = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    mon.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
    sh("link", "add", "fz0", "type", "veth", "peer", "name", "fz1")
    sh("link", "set", "fz0", "up")
    sh("link", "set", "fz1", "up")
    sh("addr", "add", "192.0.2.1/24", "dev", "fz0", "label", "fz0:vip")
    sh("addr", "add", "2001:db8::1/64", "dev", "fz0", "nodad")
    sh("link", "add", "link", "fz0", "name", "vrrp.51", "type", "macvlan", "mode", "private")
    sh("addr", "del", "192.0.2.1/24", "dev", "fz0")
    sh("link", "del", "vrrp.51")
    drain(mon)
    sh("addr", "add", "198.51.100.7/32", "dev", "fz0")
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    nl.bind((0, 0))
    ifinfomsg = struct.pack("=BxHiII", 0, 0, 0, 0, 0)
    ifaddrmsg = struct.pack("=BBBBI", 0, 0, 0, 0, 0)
    nl.send(request(18, 0x301, 1, ifinfomsg))  # RTM_GETLINK dump
    drain_until_done(nl)
    nl.send(request(22, 0x301, 2, ifaddrmsg))  # RTM_GETADDR dump
    drain_until_done(nl)
    # A NACK: deleting an address that is not there (EADDRNOTAVAIL), and an ACK.
    addr = struct.pack("=BBBBI", 2, 24, 0, 0, socket.if_nametoindex("fz0"))
    attr = struct.pack("=HH", 8, 2) + socket.inet_aton("203.0.113.9")
    nl.send(request(21, 0x5, 3, addr + attr))
    save("netlink", nl.recv(65536))
    nl.send(request(19, 0x5, 4, struct.pack("=BxHiII", 0, 0, socket.if_nametoindex("fz0"), 1, 1)))
    save("netlink", nl.recv(65536))


def drain_until_done(sock):
    while True:
        data = sock.recv(65536)
        save("netlink", data)
        if struct.unpack("=H", data[4:6])[0] in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
            return


def netlink():
    ns = "tvrfuzz%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, __file__, "netlink-inside"], check=True
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


STATUS = [
    "instance=LAN interface=br-lan vrid=51 version=3 state=BACKUP priority=100 "
    "effective_priority=100 vips=none master=192.0.2.1 master_priority=200 since=12.5s "
    "rx_adverts=7 tx_adverts=0 peer=192.0.2.1 csum_rfc5798=7 csum_rfc9568=0 "
    "peer=192.0.2.3 csum_rfc5798=0 csum_rfc9568=1\n"
    "instance=WAN interface=eth1 vrid=7 version=2 state=MASTER priority=150 vips=held\n"
    "process heap_allocs=1234 pid=77\n"
    "drops bad_checksum=3 unknown_vrid=1\n"
    "track_script name=chk runs=4 health=up\n"
    "track_process name=haproxy processes=2 health=down\n",
    "instance=x\ninstance=y\n",
]


def status():
    for text in STATUS:
        save("status_json", text.encode())


if __name__ == "__main__":
    {
        "packet": packet,
        "netlink": netlink,
        "netlink-inside": netlink_in_netns,
        "status": status,
    }[sys.argv[1]]()
