#!/usr/bin/env python3
"""seeds.py - writes the seed corpora fuzz/corpus/api and fuzz/corpus/cli.

The api seeds are op sequences in api.c's encoding: the first byte of an op
indexes its table `ops` (mod its length), the bytes after it are the op's
arguments as its d_* decoders read them.  Keep OPS in the order of that
table.  Run it after changing either, and commit what it writes."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

OPS = ["mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "madvise2",
       "host_write", "host_write2", "host_read", "slot_set", "slot_set2",
       "slot_del", "gpa_to_hva", "guest_read", "guest_read2", "guest_write",
       "guest_write2", "guest_read64", "guest_write64", "migrate", "get_page",
       "put_page", "tiering", "drop_caches"]

# Argument bytes (see api.c): d_addr: window page p is byte p + 4;
# d_len: ln(n) pages; d_prot: RW 0, R 3, NONE 5;
# mmap flags: hint 0, FIXED 3, FIXED_NOREPLACE 5; d_off: 0 is 0, 0x40|k
# is k, 0x80|k is 4095 - k; d_iolen: 1..64 bytes is n - 1, 0xc2 one page,
# 0xc3 two, 0xc4 three; madvise: DONTNEED 0, FREE 2, COLD 4, PAGEOUT 5,
# WILLNEED 7; mremap flags: none 0, MAYMOVE 1, MAYMOVE|FIXED 3.
RW, R, NONE = 0, 3, 5
HINT, FIXED, NOREPLACE = 0, 3, 5
DONTNEED, FREE, COLD, PAGEOUT, WILLNEED = 0, 2, 4, 5, 7
PAGE, PAGES2, PAGES3 = 0xC2, 0xC3, 0xC4


def page(p):
    return p + 4


def ln(n):
    """d_len's byte for n pages: 1..8, 1..32, or the whole window."""
    if n <= 8:
        return n - 1
    if n <= 32:
        return 128 + n - 1
    assert n == 64
    return 225


def op(name, *args):
    return bytes([OPS.index(name)] + list(args))


def mmap(p, n, prot=RW, flags=FIXED):
    return op("mmap", page(p), ln(n), prot, flags)


def fill(p, n, seed):
    """Host writes of whole pages over [p, p+n)."""
    out = b""
    while n > 0:
        k = min(n, 3)
        out += op("host_write", page(p), 0, [PAGE, PAGES2, PAGES3][k - 1], seed)
        p, n = p + k, n - k
    return out


def read(p, n):
    out = b""
    while n > 0:
        k = min(n, 3)
        out += op("host_read", page(p), 0, [PAGE, PAGES2, PAGES3][k - 1])
        p, n = p + k, n - k
    return out


def slot(sid, gfn, n, p, ro=False):
    assert n <= 16
    return op("slot_set", sid, n - 1, gfn, page(p), 5 if ro else 0)


API = {
    "host-rw": mmap(2, 8, flags=HINT) + fill(2, 8, 7) + read(2, 8) +
    op("host_write", page(3), 0x80 | 3, 20, 9) + read(3, 2) +
    op("munmap", page(4), ln(1)) + op("host_read", page(4), 0, 0) + read(2, 2),

    "guest-rw": mmap(0, 16) + slot(0, 0, 16, 0) +
    op("guest_write", 1, 0x40 | 5, PAGES2, 3) + op("guest_read", 1, 0, PAGES3) +
    op("guest_write64", 4, 3, 11) + op("guest_read64", 4, 3) +
    op("guest_read64", 7, 0x80 | 3) + read(0, 9) +
    op("gpa_to_hva", 2, 0x40 | 9) + op("gpa_to_hva", 40, 0),

    # FREE, then a guest read maps the page clean and a guest write dirties
    # only the spte: reclaim must learn of it from the zap.
    "lazyfree": mmap(0, 8) + slot(0, 0, 8, 0) + fill(0, 8, 5) +
    op("guest_read", 2, 0, PAGE) + op("madvise", page(0), ln(8), FREE) +
    op("guest_read", 2, 0, 7) + op("guest_write64", 2, 1, 6) +
    op("madvise", page(0), ln(8), PAGEOUT) +
    op("guest_read", 2, 0, PAGE) + read(0, 8) +
    op("host_write", page(5), 0, 3, 1) + op("madvise", page(0), ln(8), FREE) +
    mmap(8, 32) + mmap(40, 24) + fill(8, 56, 3) + read(0, 8),

    "swap-pressure": mmap(0, 64) + slot(0, 0, 16, 0) + fill(0, 64, 9) +
    op("madvise", page(32), ln(32), COLD) +
    op("madvise", page(0), ln(32), PAGEOUT) +
    op("madvise", page(0), ln(8), WILLNEED) +
    op("guest_read", 3, 0, PAGES2) + op("guest_write", 10, 0x40, PAGES2, 4) +
    read(0, 64) + op("drop_caches"),

    "mremap": mmap(0, 4) + slot(0, 0, 4, 0) + fill(0, 4, 2) +
    op("mremap", page(0), ln(4), ln(6), 0, 0) +           # grow in place
    mmap(6, 1) +
    op("mremap", page(0), ln(6), ln(10), 1, 0) +          # move (MAYMOVE)
    op("guest_read", 0, 0, PAGES2) +
    mmap(20, 4, flags=HINT) + fill(20, 4, 6) +
    op("mremap", page(20), ln(4), ln(2), 3, page(40)) +   # FIXED, shrink
    op("mremap", page(40), ln(2), ln(1), 0, 0) +          # shrink in place
    read(40, 2) + read(20, 4),

    "protection": mmap(0, 8) + slot(0, 0, 4, 0) + slot(1, 8, 4, 4, ro=True) +
    fill(0, 8, 4) + op("mprotect", page(0), ln(2), R) +
    op("guest_write", 0, 0, 7, 2) + op("host_write", page(0), 0, 7, 2) +
    op("guest_write", 8, 0, 7, 2) + op("guest_read", 8, 0, PAGE) +
    op("mprotect", page(2), ln(2), NONE) + op("guest_read", 2, 0, 7) +
    op("mprotect", page(6), ln(8), RW) + op("mprotect", page(0), ln(8), RW) +
    op("guest_write", 1, 0x80, PAGES2, 8) + read(0, 8),

    "migrate": mmap(0, 16) + slot(0, 0, 16, 0) + fill(0, 16, 3) +
    op("migrate", page(0), ln(16), 1) + op("guest_read", 5, 0, PAGE) +
    op("get_page", page(3), 0, 1) + op("migrate", page(0), ln(16), 0) +
    op("host_write", page(3), 0x40 | 8, 30, 9) + op("munmap", page(3), ln(1)) +
    op("put_page", 0) + op("tiering", 1) + mmap(16, 32) + fill(16, 32, 2) +
    op("tiering", 0) + read(0, 3),

    "memslot-move": mmap(0, 32) + slot(2, 10, 4, 0) + fill(0, 32, 6) +
    op("guest_write", 11, 0, PAGE, 3) + slot(2, 10, 4, 8) +
    op("guest_read", 11, 0, PAGE) + slot(2, 20, 4, 8) +
    op("guest_read", 11, 0, 7) + op("guest_read", 21, 0, PAGE) +
    op("slot_del", 2) + op("guest_read", 21, 0, 7) + slot(3, 0, 8, 24) +
    op("madvise", page(24), ln(4), DONTNEED) + op("guest_read", 1, 0, PAGES2),

    "errors": op("mmap", page(0), ln(4), 7, FIXED) +
    op("mmap", page(0), 0xE0, RW, FIXED) + op("mmap", page(0), ln(4), RW, 7) +
    op("munmap", 0xF8, 1, ln(4)) + op("mprotect", page(0), ln(4), RW) +
    op("madvise", page(0), ln(4), 11) + mmap(60, 4) +
    mmap(58, 4, flags=NOREPLACE) +
    op("madvise", page(60), ln(8), DONTNEED) +
    op("mremap", page(60), ln(8), ln(8), 1, 0) +
    op("slot_set", 244, 3, 0, page(0), 0) + op("slot_del", 1) +
    op("migrate", page(60), ln(4), 3) + op("guest_read", 0, 0, 7) +
    op("get_page", page(10), 0, 0) + op("host_write", page(62), 0, PAGES3, 1) +
    op("mmap", page(0), 0xE1, RW, HINT),
}

CLI = {
    "run-all": ["--vcpus", "3", "--guest-mem", "8M", "--host-mem", "4M",
                "--swap", "32M", "--duration", "500ms", "--seed", "7",
                "--workload", "zipf", "--zipf-theta", "0.5", "--nodes", "3M,1M",
                "--tiering", "--no-churn", "--quiet", "--json", "r.json",
                "--report", "r.html"],
    "run-ops": ["--ops", "2000", "--balloon", "16M", "--nodes=2", "--churn"],
    "run-help": ["--help"],
    "run-bad": ["--vcpus", "0", "--guest-mem", "5M"],
    "run-missing": ["--vcpus"],
    "run-short": ["-xq", "extra"],
    "bench": ["--pages", "2048", "--reps", "3", "--seed=9", "--dir", "d",
              "--json", "b.json", "--quick"],
    "run-nodes-big": ["--nodes", "64G,1M", "--guest-mem", "64G",
                      "--host-mem=65537M", "--balloon", "16T"],
    "values": ["64M", "1g", "4096", "4kib", "10s", "500ms", "2min",
               "18446744073709551615", "18446744073709551616", "16384T"],
}


def write(kind, seeds):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("api", API)
write("cli", {k: b"\0".join(a.encode() for a in v) for k, v in CLI.items()})
