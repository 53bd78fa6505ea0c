#!/usr/bin/env python3
"""Records HyperLogLog and geo fixtures from a real redis-server.

Usage: python3 gen_hll_geo.py [path/to/redis-server]

Starts its own redis-server on a free loopback port (no persistence), runs the
commands below, writes hll.txt and geo.txt next to this script, and stops the
server it started (by its PID). Only the standard library is used: the RESP
client is the few lines below. The line formats are documented at the top of
each output file and parsed by crates/engine/src/{hll,geo}/tests.rs.
"""

import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class RedisError(Exception):
    pass


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ValueError("unexpected reply %r" % line)

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, (int, float)):
                a = repr(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def ok(self, *args):
        r = self.call(*args)
        if isinstance(r, RedisError):
            raise r
        return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(binary, workdir):
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("redis-server exited with status %s" % proc.returncode)
        try:
            c = Client(port)
            if c.call("PING") == b"PONG":
                return proc, c
        except OSError as e:
            last = e
        time.sleep(0.02)  # poll interval, bounded by the deadline above
    proc.kill()
    raise RuntimeError("redis-server did not answer PING on port %d within 10 s (%s)" % (port, last))


def hx(b):
    return b.hex() if b else "."


# ---------------------------------------------------------------------------
# HyperLogLog
# ---------------------------------------------------------------------------

def crc64(data):
    """CRC-64/Jones as Redis computes it (reflected, init 0): crc64(b"123456789") == 0xe9c6d914c4b8d9ca."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x95AC9329AC4BC9B5 if crc & 1 else 0)
    return crc


def murmur64a(data, seed=0xadc83b19):
    """Redis's 64-bit MurmurHash2 variant (to pick elements by register, not to check it)."""
    mask = (1 << 64) - 1
    m = 0xc6a4a7935bd1e995
    h = (seed ^ (len(data) * m)) & mask
    n8 = len(data) - len(data) % 8
    for i in range(0, n8, 8):
        k = int.from_bytes(data[i:i + 8], "little")
        k = (k * m) & mask
        k ^= k >> 47
        k = (k * m) & mask
        h ^= k
        h = (h * m) & mask
    rest = data[n8:]
    if rest:
        h ^= int.from_bytes(rest, "little")
        h = (h * m) & mask
    h ^= h >> 47
    h = (h * m) & mask
    h ^= h >> 47
    return h


def adjacent_elements():
    """Elements that land on neighbouring registers (and the first and last ones) with
    chosen run lengths, so that sparse VAL opcodes get split and merged."""
    wanted = {}
    for reg in list(range(1000, 1012)) + [0, 1, 2, 16381, 16382, 16383]:
        wanted[reg] = 1 if reg % 5 else 2
    found = {}
    i = 0
    while len(found) < len(wanted):
        e = b"adj:%d" % i
        h = murmur64a(e)
        reg = h & 16383
        rest = (h >> 14) | (1 << 50)
        count = (rest & -rest).bit_length()
        if reg in wanted and reg not in found and count == wanted[reg]:
            found[reg] = e
        i += 1
    order = [1003, 1001, 1005, 1002, 1000, 1004, 16383, 0, 1008, 1006, 1011, 1007, 1009, 1010,
             2, 16381, 1, 16382]
    return [found[reg] for reg in order]


def hll_fixtures(r, lucky):
    """A script of commands with Redis's replies and the resulting values, replayed by the
    tests through the engine's functions."""
    out = []
    w = out.append
    w("# HyperLogLog script recorded from %s" % r.ok("INFO", "server").split(b"\r\n")[1].decode())
    w("# Binary fields are hex ('.' = empty); texts use _ for spaces. Each mutating command is")
    w("# followed by GET key hex, or GET key crc64 len for long values (CRC-64/Jones, hex).")
    w("# CONFIG max | SET key hex | DEL key | PFADD key reply elements... |")
    w("# PFADDN key reply prefix start end (elements prefix+i) | PFCOUNT reply keys... |")
    w("# PFMERGE reply dest sources... | TODENSE key reply | DECODE key text | ENCODING key enc")
    full = {"dense5000", "lucky"}
    state = {"max": None}

    def reply_text(x):
        if isinstance(x, RedisError):
            return str(x).replace(" ", "_")
        if isinstance(x, bytes):
            return x.decode()
        return str(x)

    def setmax(n):
        if state["max"] != n:
            r.ok("CONFIG", "SET", "hll-sparse-max-bytes", str(n))
            w("CONFIG %d" % n)
            state["max"] = n

    def get(k):
        v = r.ok("GET", k)
        if v is None:
            w("GET %s none" % k)
        elif len(v) <= 600 or k in full:
            w("GET %s %s" % (k, hx(v)))
        else:
            w("GET %s %016x %d" % (k, crc64(v), len(v)))
        return v

    def pfadd(k, elements):
        rep = r.call("PFADD", k, *elements)
        w("PFADD %s %s %s" % (k, reply_text(rep), " ".join(hx(e) for e in elements)))
        get(k)

    def pfaddn(k, prefix, start, end):
        rep = 0
        for lo in range(start, end, 1000):
            rr = r.call("PFADD", k, *[b"%s%d" % (prefix, i) for i in range(lo, min(end, lo + 1000))])
            rep = rr if isinstance(rr, RedisError) else max(rep, rr)
        w("PFADDN %s %s %s %d %d" % (k, reply_text(rep), hx(prefix), start, end))
        get(k)

    def pfcount(*ks):
        rep = r.call("PFCOUNT", *ks)
        w("PFCOUNT %s %s" % (reply_text(rep), " ".join(ks)))
        if len(ks) == 1:
            get(ks[0])

    def pfmerge(dest, *srcs):
        rep = r.call("PFMERGE", dest, *srcs)
        w("PFMERGE %s %s %s" % (reply_text(rep), dest, " ".join(srcs)))
        get(dest)

    def todense(k):
        rep = r.call("PFDEBUG", "TODENSE", k)
        w("TODENSE %s %s" % (k, reply_text(rep)))
        get(k)

    def decode(k):
        w("DECODE %s %s" % (k, reply_text(r.call("PFDEBUG", "DECODE", k)).replace(" ", "_")))

    def encoding(k):
        w("ENCODING %s %s" % (k, reply_text(r.call("PFDEBUG", "ENCODING", k))))

    def setv(k, v):
        r.ok("SET", k, v)
        w("SET %s %s" % (k, hx(v)))

    def delete(k):
        r.ok("DEL", k)
        w("DEL %s" % k)

    r.ok("FLUSHALL")
    setmax(3000)
    # The empty HLL, its count, and the no-element PFADD.
    pfadd("empty", [])
    pfcount("empty")
    pfadd("empty", [])
    pfmerge("empty2")
    decode("empty")
    pfcount("missing")
    pfcount("missing", "missing2")

    # A few elements, cache invalidation and refresh, the empty string.
    pfadd("small", [b"a", b"b", b"c"])
    pfcount("small")
    pfadd("small", [b"a", b"b", b"c"])  # no register changes: the cache stays valid
    pfadd("small", [b""])
    pfcount("small")
    pfadd("small", [b"1", b"2", b"3"])  # invalidated, the old count's bits kept
    pfcount("small")
    decode("small")
    encoding("small")

    # One element at a time: every sparse edit (splits, VAL merges) byte for byte.
    for i in range(0, 160):
        pfadd("seq", [b"seq:%d" % i])
        if i % 40 == 0:
            pfcount("seq")
    decode("seq")

    # Clustered registers: VAL runs that merge and split.
    rnd = random.Random(7)
    pfaddn("mix", b"m:", 0, 300)
    pfcount("mix")
    for _ in range(20):
        pfadd("mix", [b"m:%d" % rnd.randrange(100000) for _ in range(rnd.randrange(1, 30))])
    pfcount("mix")
    decode("mix")
    # Neighbouring registers only (elements found by their register index).
    adj = adjacent_elements()
    for i in range(0, len(adj), 3):
        pfadd("adj", adj[i:i + 3])
    decode("adj")
    pfcount("adj")

    # Growth to the sparse limit: promotion by size, with the default and small limits.
    for maxb in (3000, 200, 60, 18):
        setmax(maxb)
        k = "grow%d" % maxb
        pfadd(k, [])
        i = 0
        while i < 5000:
            pfaddn(k, b"g%d:" % maxb, i, i + 7)
            i += 7
            if r.ok("PFDEBUG", "ENCODING", k) == b"dense":
                break
        encoding(k)
        pfcount(k)
    setmax(3000)

    # Promotion by value: an element whose run of zeros needs more than 32.
    pfadd("lucky", [b"x", b"y"])
    pfadd("lucky", [lucky])
    encoding("lucky")
    pfcount("lucky")
    decode("lucky")

    # Dense: large cardinalities and counts.
    for n in (5000, 20000, 100000):
        k = "dense%d" % n
        pfaddn(k, b"d:", 0, n)
        pfcount(k)
    pfadd("dense5000", [b"d:1", b"d:2"])  # no change on dense
    pfaddn("dense5000", b"new:", 0, 50)
    pfcount("dense5000")
    pfcount("dense5000")  # cached

    # Union counts.
    pfcount("small", "seq")
    pfcount("small", "dense5000")
    pfcount("seq", "mix", "dense20000", "dense100000")
    pfcount("empty", "grow18", "missing")

    # Merges: sparse into a missing key (stays sparse), dense involved (dense), an
    # existing sparse destination, sparse inputs that overflow the limit.
    pfmerge("m1", "small", "seq")
    pfmerge("m2", "small", "dense5000")
    pfadd("m3", [b"q1", b"q2", b"q3"])
    pfmerge("m3", "small", "mix")
    setmax(200)
    pfmerge("m4", "seq", "mix")
    setmax(3000)
    pfadd("m5", [b"z"])
    todense("m5")
    todense("m5")
    pfmerge("m5", "small")
    pfmerge("m6", "missing1", "missing2")
    pfmerge("m7", "lucky", "seq")
    pfcount("m1")
    pfcount("m4")
    pfmerge("seq")
    pfcount("seq")

    # Corruption: type errors and invalid objects.
    small = r.ok("GET", "small")
    flagged = small[:15] + bytes([small[15] | 0x80]) + small[16:]
    bad = [
        b"notanhll", b"HYLL", b"HYLZ" + small[4:], small[:4] + b"\x02" + small[5:],
        small[:4] + b"\x00" + small[5:],       # dense with a sparse length
        small + b"hello",                       # cache valid: PFCOUNT does not look
        flagged + b"hello",                     # registers past 16384
        flagged[:-1],                           # truncated XZERO
        flagged[:16] + b"\x7f\xfe",           # 16383 registers
        flagged[:16] + b"\x7f\xff\x80",      # 16385 registers
        flagged[:16],                           # no registers at all
        flagged[:16] + b"\x7f\xfe\x80",      # exact, ends with a VAL
        flagged[:16] + b"\x00" * 256,          # 256 ZERO:1
    ]
    for v in bad:
        setv("bad", v)
        pfcount("bad")
        setv("bad", v)
        pfcount("bad", "small")
        setv("bad", v)
        pfmerge("dstbad", "bad")
        delete("dstbad")
        setv("bad", v)
        todense("bad")
        setv("bad", v)
        pfadd("bad", [b"zzz"])
    return out


# ---------------------------------------------------------------------------
# Geo
# ---------------------------------------------------------------------------

def geo_fixtures(r):
    out = []
    w = out.append
    w("# Geo fixtures recorded from %s" % r.ok("INFO", "server").split(b"\r\n")[1].decode())
    w("# ADD lon lat score geohash pos_lon pos_lat   (GEOADD, then ZSCORE, GEOHASH, GEOPOS)")
    w("# ADDERR lon lat error                        (error text with _ for spaces)")
    w("# SCORE score geohash pos_lon pos_lat         (ZADD of a raw score, then GEOHASH and GEOPOS)")
    w("# DIST score1 score2 unit reply")
    w("# SET name member:score ...                   (a sorted set for the searches below)")
    w("# SEARCH set lon lat RADIUS r unit | BOX w h unit ; ANY n | ALL ; results member,dist ... (scan order)")

    r.ok("FLUSHALL")
    points = [
        ("13.361389", "38.115556"), ("15.087269", "37.502669"), ("0", "0"), ("-0", "-0"),
        ("180", "85.05112878"), ("-180", "-85.05112878"), ("180", "-85.05112878"),
        ("-180", "85.05112878"), ("179.99999999", "0"), ("-179.99999999", "0"),
        ("179.9999", "85.05"), ("-179.9999", "-85.05"), ("0.000001", "0.000001"),
        ("-0.000001", "-0.000001"), ("1e-300", "-1e-300"), ("90", "45"), ("-90", "-45"),
        ("2.2944813", "48.8583701"), ("-122.4194", "37.7749"), ("151.2093", "-33.8688"),
        ("139.6917", "35.6895"), ("-73.935242", "40.730610"), ("100", "85"),
        ("100", "-85"), ("45.5", "84.99999"), ("-45.5", "-84.99999"), ("0", "85.05112877"),
        ("179.999999999999", "85.051128779999"), ("12.34567890123456789", "-23.4567890123"),
    ]
    for i, (lon, lat) in enumerate(points):
        k = "pt"
        r.ok("DEL", k)
        r.ok("GEOADD", k, lon, lat, "m")
        score = r.ok("ZSCORE", k, "m").decode()
        gh = r.ok("GEOHASH", k, "m")[0].decode()
        pos = r.ok("GEOPOS", k, "m")[0]
        w("ADD %s %s %s %s %s %s" % (lon, lat, score, gh, pos[0].decode(), pos[1].decode()))

    for lon, lat in [("180.0000001", "0"), ("-180.0000001", "0"), ("0", "85.05112879"),
                     ("0", "-85.05112879"), ("200", "100"), ("-0.5", "-90"), ("1e10", "0"),
                     ("inf", "0"), ("0", "-inf"), ("123.4567891", "89.99999")]:
        e = r.call("GEOADD", "pt", lon, lat, "bad")
        w("ADDERR %s %s %s" % (lon, lat, str(e).replace(" ", "_")))

    # Scores GEOADD never writes: beyond 52 bits, negative, fractional.
    for score in ["0", "1", "4503599627370495", "4503599627370496", "9007199254740991",
                  "-1", "-4503599627370496", "0.5", "123456789.75", "1e18", "-1e18", "1e19",
                  "1e300", "-1e300", "3471579339700058"]:
        r.ok("DEL", "raw")
        r.ok("ZADD", "raw", score, "m")
        gh = r.ok("GEOHASH", "raw", "m")[0].decode()
        pos = r.ok("GEOPOS", "raw", "m")[0]
        w("SCORE %s %s %s %s" % (score, gh, pos[0].decode(), pos[1].decode()))

    # Distances.
    r.ok("DEL", "d")
    rnd = random.Random(11)
    members = []
    for i, (lon, lat) in enumerate(points[:20]):
        r.ok("GEOADD", "d", lon, lat, "p%d" % i)
        members.append("p%d" % i)
    for i in range(40):
        lon = rnd.uniform(-180, 180)
        lat = rnd.uniform(-85.05, 85.05)
        r.ok("GEOADD", "d", repr(lon), repr(lat), "r%d" % i)
        members.append("r%d" % i)
    pairs = [(a, b) for a in members[:20] for b in members[:20] if a < b]
    pairs += [(members[rnd.randrange(len(members))], members[rnd.randrange(len(members))])
              for _ in range(100)]
    for n, (a, b) in enumerate(pairs):
        sa = r.ok("ZSCORE", "d", a).decode()
        sb = r.ok("ZSCORE", "d", b).decode()
        for unit in (("m", "km", "ft", "mi") if n % 5 == 0 else ("m",)):
            d = r.ok("GEODIST", "d", a, b, unit).decode()
            w("DIST %s %s %s %s" % (sa, sb, unit, d))

    # Searches.
    scores = {}

    def geoset(name, pts):
        r.ok("DEL", name)
        for i, (lon, lat) in enumerate(pts):
            r.ok("GEOADD", name, repr(lon), repr(lat), "%s%d" % (name, i))
        zs = r.ok("ZRANGE", name, "0", "-1", "WITHSCORES")
        scores[name] = {zs[i]: zs[i + 1] for i in range(0, len(zs), 2)}
        w("SET %s %s" % (name, " ".join("%s:%s" % (zs[i].decode(), zs[i + 1].decode())
                                        for i in range(0, len(zs), 2))))

    def search(name, lon, lat, shape, any_n=None):
        args = ["GEOSEARCH", name, "FROMLONLAT", lon, lat]
        if shape[0] == "RADIUS":
            args += ["BYRADIUS", shape[1], shape[2]]
        else:
            args += ["BYBOX", shape[1], shape[2], shape[3]]
        args += ["WITHDIST", "WITHHASH", "WITHCOORD"]
        if any_n:
            args += ["COUNT", str(any_n), "ANY"]
        res = r.ok(*args)
        items = []
        for m in res:
            # WITHHASH is the member's score and WITHCOORD its GEOPOS: both checked
            # once here against the set, then only member and distance are kept.
            assert b"%d" % m[2] == scores[name][m[0]], m
            assert (m[3][0], m[3][1]) == tuple(r.ok("GEOPOS", name, m[0])[0]), m
            items.append("%s,%s" % (m[0].decode(), m[1].decode()))
        w("SEARCH %s %s %s %s ; %s ; %s" % (name, lon, lat, " ".join(shape),
                                           "ANY %d" % any_n if any_n else "ALL", " ".join(items)))

    def cloud(rnd, lon, lat, spread, n):
        pts = []
        for _ in range(n):
            a = max(-180.0, min(180.0, lon + rnd.gauss(0, spread)))
            b = max(-85.05, min(85.05, lat + rnd.gauss(0, spread)))
            pts.append((a, b))
        return pts

    rnd = random.Random(42)
    geoset("pal", cloud(rnd, 13.361389, 38.115556, 0.5, 300))
    for radius, unit in (("1", "km"), ("10", "km"), ("50", "km"), ("100", "km"), ("200", "mi"),
                         ("30000", "ft"), ("500", "m"), ("0", "m")):
        search("pal", "13.361389", "38.115556", ("RADIUS", radius, unit))
    search("pal", "13.5", "38", ("BOX", "40", "20", "km"))
    search("pal", "13.5", "38", ("BOX", "200", "200", "km"))
    search("pal", "13.5", "38", ("BOX", "10", "80", "mi"))
    search("pal", "13.361389", "38.115556", ("RADIUS", "100", "km"), 5)
    search("pal", "13.361389", "38.115556", ("BOX", "100", "100", "km"), 7)

    geoset("north", cloud(rnd, 20, 84.5, 1.0, 200))
    for radius in ("50", "200", "1000"):
        search("north", "20", "84.5", ("RADIUS", radius, "km"))
    search("north", "20", "84.9", ("BOX", "300", "100", "km"))
    search("north", "0", "85.05", ("RADIUS", "300", "km"))

    geoset("south", cloud(rnd, -60, -84.8, 1.0, 200))
    search("south", "-60", "-84.8", ("RADIUS", "150", "km"))
    search("south", "-60", "-84.8", ("BOX", "400", "200", "km"))

    geoset("anti", cloud(rnd, 179.8, -16, 0.4, 200) + cloud(rnd, -179.8, -16, 0.4, 200))
    for radius in ("10", "40", "100", "300"):
        search("anti", "179.95", "-16", ("RADIUS", radius, "km"))
        search("anti", "-179.95", "-16", ("RADIUS", radius, "km"))
    search("anti", "180", "-16", ("BOX", "100", "60", "km"))
    search("anti", "-180", "-16", ("BOX", "100", "60", "km"))

    geoset("origin", cloud(rnd, 0, 0, 0.01, 200))
    for radius in ("100", "500", "1000", "2000"):
        search("origin", "0", "0", ("RADIUS", radius, "m"))
    search("origin", "0.001", "-0.001", ("BOX", "1500", "700", "m"))
    search("origin", "0", "0", ("RADIUS", "2", "km"), 10)

    world = [(rnd.uniform(-180, 180), rnd.uniform(-85.05, 85.05)) for _ in range(800)]
    geoset("world", world)
    for radius in ("1000", "3000", "5000", "8000", "15000", "25000"):
        search("world", "10", "45", ("RADIUS", radius, "km"))
    search("world", "-170", "-70", ("RADIUS", "4000", "km"))
    search("world", "0", "0", ("BOX", "20000", "10000", "km"))
    search("world", "100", "60", ("BOX", "6000", "3000", "mi"))
    search("world", "10", "45", ("RADIUS", "8000", "km"), 30)

    # Boundary cases: radius exactly the distance to a member (included) and the
    # next double below it (excluded); box edges likewise. Distances as Redis
    # computes them (same formula, same libm as this Python).
    def dist(lon1, lat1, lon2, lat2):
        dr = math.pi / 180.0
        lon1r, lon2r = lon1 * dr, lon2 * dr
        v = math.sin((lon2r - lon1r) / 2)
        if v == 0.0:
            return 6372797.560856 * abs(lat2 * dr - lat1 * dr)
        lat1r, lat2r = lat1 * dr, lat2 * dr
        u = math.sin((lat2r - lat1r) / 2)
        a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
        return 2.0 * 6372797.560856 * math.asin(math.sqrt(a))

    def decode(score):
        bits = int(score)
        lat_i = lon_i = 0
        for i in range(26):
            lat_i |= ((bits >> (2 * i)) & 1) << i
            lon_i |= ((bits >> (2 * i + 1)) & 1) << i
        lat_min = -85.05112878 + (lat_i * 1.0 / (1 << 26)) * (85.05112878 - -85.05112878)
        lat_max = -85.05112878 + ((lat_i + 1) * 1.0 / (1 << 26)) * (85.05112878 - -85.05112878)
        lon_min = -180 + (lon_i * 1.0 / (1 << 26)) * 360
        lon_max = -180 + ((lon_i + 1) * 1.0 / (1 << 26)) * 360
        return ((lon_min + lon_max) / 2, (lat_min + lat_max) / 2)

    geoset("edge", cloud(rnd, 5, 50, 0.05, 60))
    zs = r.ok("ZRANGE", "edge", "0", "-1", "WITHSCORES")
    cx, cy = 5.0, 50.0
    for i in range(0, 20, 2):
        px, py = decode(zs[i + 1])
        d = dist(cx, cy, px, py)
        search("edge", repr(cx), repr(cy), ("RADIUS", repr(d), "m"))
        search("edge", repr(cx), repr(cy), ("RADIUS", repr(math.nextafter(d, 0)), "m"))
        dr = math.pi / 180.0
        height = 2 * (6372797.560856 * abs(cy * dr - py * dr))
        width = 2 * dist(px, py, cx, py)
        search("edge", repr(cx), repr(cy), ("BOX", repr(width), repr(height), "m"))
        search("edge", repr(cx), repr(cy), ("BOX", repr(math.nextafter(width, 0)), repr(height), "m"))
        search("edge", repr(cx), repr(cy), ("BOX", repr(width), repr(math.nextafter(height, 0)), "m"))
    return out


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/redis-server"
    lucky = bytes.fromhex(os.environ.get("HLL_LUCKY", ""))
    if not lucky:
        sys.exit("set HLL_LUCKY to the hex of an element whose zero run exceeds 32")
    with tempfile.TemporaryDirectory() as workdir:
        proc, r = start_server(binary, workdir)
        try:
            hll = hll_fixtures(r, lucky)
            geo = geo_fixtures(r)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    with open(os.path.join(HERE, "hll.txt"), "w") as f:
        f.write("\n".join(hll) + "\n")
    with open(os.path.join(HERE, "geo.txt"), "w") as f:
        f.write("\n".join(geo) + "\n")


if __name__ == "__main__":
    main()
