#!/usr/bin/env python3
"""pgproxy.py - a TCP proxy for PostgreSQL connections that a test controls.

    pgproxy.py --listen-port-file FILE --upstream 127.0.0.1:PORT
               [--control CTL] [--mode MODE] [--max-seconds N] [--verbose]

Listens on 127.0.0.1, port 0 (the kernel picks one), writes that port to FILE
and forwards every connection to the upstream server, which must be on
127.0.0.1 too (this tool never talks to any other address).

Modes (the first word of a command):

  pass              forward both ways
  stall             forward nothing in either direction, on every connection
                    (new ones are accepted and held); sockets stay open, no
                    RST: a dead network path. Leaving stall resumes them.
  blackhole         existing connections pass; new ones are accepted and held
                    unanswered (a server that went away for new clients)
  refuse            existing connections pass; the listener is closed, so new
                    connections get ECONNREFUSED (reopened on the same port
                    when the mode changes)
  cut               an action: close every connection now, then go on with
                    THEN (default pass)
  cut-after-commit  parse each connection's client->server stream; when a
                    simple Query 'Q' whose SQL, uppercased, without
                    whitespace and trailing ';', is COMMIT or END (also
                    COMMIT/END WORK/TRANSACTION, or an extended-protocol
                    Parse of one, at its Sync) has been forwarded, wait at
                    least 100 ms and until the server's answer has arrived
                    at the proxy (at most --commit-wait seconds), and close
                    both sockets of that connection without forwarding the
                    answer. Then go on with THEN (default pass): one shot,
                    so the reconnect that follows works.
                    `cut-after-commit cut-after-commit` cuts two in turn.
  cut-at-commit     the same, but the COMMIT itself is not forwarded: the
                    connection is cut as soon as its COMMIT arrives (the
                    bytes before it are forwarded), so the server never sees
                    it and rolls the transaction back when it finds the
                    connection closed. Then go on with THEN (default pass).

A command is `MODE [THEN...]`: the words after the first are applied in
order once a cut, cut-after-commit or cut-at-commit has happened (for the
other modes there must be none). `cut-after-commit stall`: cut the
committing connection, then stall everything (a dead path right after the
COMMIT); `cut-after-commit cut refuse`: cut it, then close all the others
and refuse new ones (the server went away); `cut refuse`: close everything
now and refuse new connections.

Control: --control CTL names either a regular file, polled every 50 ms and
applied whenever it is rewritten (`echo stall > CTL`), or a FIFO (mkfifo),
read a line at a time. After every change of mode (commands and the
automatic THEN) the proxy rewrites CTL.state atomically with one line:

    <seq> <mode> <then,...|-> cuts=<n> commits=<n> accepted=<n> conns=<n>

where seq counts the commands applied (so a test can wait for its own),
cuts the cuts made (one per cut command, one per connection cut after its
COMMIT), commits the COMMIT messages seen in any mode, accepted the
connections accepted so far and conns those open now.

It exits by itself when its parent process goes away or after --max-seconds
(default 600), and logs a line per event to stderr.
"""

import argparse
import os
import select
import socket
import stat
import sys
import time

MODES = ("pass", "stall", "blackhole", "refuse", "cut", "cut-after-commit",
         "cut-at-commit")
CUTTING = ("cut", "cut-after-commit", "cut-at-commit")
COMMIT_WORDS = {
    "COMMIT", "END", "COMMIT WORK", "COMMIT TRANSACTION", "END WORK",
    "END TRANSACTION",
}
SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
BUF_MAX = 1 << 20  # bytes held for one direction before reading stops
T0 = time.monotonic()


def log(msg):
    sys.stderr.write("pgproxy %8.3f %s\n" % (time.monotonic() - T0, msg))
    sys.stderr.flush()


def is_commit(sql):
    s = sql.strip()
    while s.endswith(";"):
        s = s[:-1].rstrip()
    return " ".join(s.upper().split()) in COMMIT_WORDS


class FrontendParser:
    """Follows the client->server stream message by message, holding only
    headers and the text of Query and Parse messages."""

    def __init__(self, cid):
        self.cid = cid
        self.phase = "startup"  # then "msgs", or "opaque" (TLS, cancel...)
        self.hdr = bytearray()
        self.mtype = None
        self.left = 0  # body bytes still to come
        self.body = None  # bytearray when the body is kept
        self.offset = 0  # bytes of the stream seen so far
        self.parse_commit = None  # a Parse of COMMIT (its start) waits
        self.msg_start = 0  # stream offset of the current message
        self.queries = []  # (sql) of the Query messages, for --verbose

    def feed(self, data):
        """Returns (start, end) stream offsets of each COMMIT message."""
        found = []
        i, n = 0, len(data)
        while i < n and self.phase != "opaque":
            if self.body is None and self.left == 0 and self.mtype is None:
                if not self.hdr:
                    self.msg_start = self.offset + i
                need = (4 if self.phase == "startup" else 5) - len(self.hdr)
                take = min(need, n - i)
                self.hdr += data[i:i + take]
                i += take
                if take < need:
                    break
                self.start_message()
                if self.phase == "opaque":
                    break
            take = min(self.left, n - i)
            if self.body is not None:
                self.body += data[i:i + take]
            self.left -= take
            i += take
            if self.left == 0:
                self.end_message(self.offset + i, found)
        self.offset += n
        return found

    def start_message(self):
        if self.phase == "startup":
            length = int.from_bytes(self.hdr[0:4], "big")
            if not 8 <= length <= 10000:
                log("conn %d: startup length %d: not the PostgreSQL protocol "
                    "(TLS?), no longer parsed" % (self.cid, length))
                self.phase = "opaque"
                return
            self.mtype = b"startup"
            self.body = bytearray()
        else:
            t = self.hdr[0:1]
            length = int.from_bytes(self.hdr[1:5], "big")
            if length < 4 or not t.isalpha():
                log("conn %d: bad message header %r, no longer parsed"
                    % (self.cid, bytes(self.hdr)))
                self.phase = "opaque"
                return
            self.mtype = t
            keep = t in (b"Q", b"P") and length <= BUF_MAX
            self.body = bytearray() if keep else None
        self.left = length - 4
        self.hdr = bytearray()

    def end_message(self, end, found):
        t, body = self.mtype, self.body
        self.mtype, self.body = None, None
        if t == b"startup":
            code = int.from_bytes(body[0:4], "big")
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                return  # the server answers one byte; a startup follows
            if code == CANCEL_REQUEST:
                self.phase = "opaque"
                return
            self.phase = "msgs"
        elif t == b"Q":
            sql = bytes(body).split(b"\0", 1)[0].decode("utf-8", "replace")
            self.queries.append(sql)
            if is_commit(sql):
                found.append((self.msg_start, end))
        elif t == b"P":
            parts = bytes(body).split(b"\0", 2)
            if len(parts) >= 2:
                sql = parts[1].decode("utf-8", "replace")
                self.queries.append("(parse) " + sql)
                if is_commit(sql):
                    self.parse_commit = self.msg_start
        elif t == b"S" and self.parse_commit is not None:
            found.append((self.parse_commit, end))
            self.parse_commit = None


class Conn:
    def __init__(self, cid, c):
        self.cid = cid
        self.c = c
        self.u = None
        self.c2u = bytearray()
        self.u2c = bytearray()
        self.sent_up = 0  # bytes of the client stream written upstream
        self.c_eof = False
        self.u_eof = False
        self.parser = FrontendParser(cid)
        self.doom_at = None  # stream offset to cut at (COMMIT's end/start)
        self.drop = False  # cut-at-commit: cut once doom_at is forwarded
        self.commit_sent = None  # monotonic time it was all written
        self.answered = False
        self.closed = False


class Proxy:
    def __init__(self, args):
        self.args = args
        self.mode = args.mode
        self.then = []
        self.seq = 0
        self.cuts = 0
        self.commits = 0
        self.next_id = 1
        self.conns = []
        self.listener = None
        self.port = 0
        self.ctl_sig = None
        self.ctl_fifo = None
        self.fifo_buf = b""
        self.listen()
        self.write_atomic(args.listen_port_file, "%d\n" % self.port)
        log("listening on 127.0.0.1:%d, upstream %s:%d, mode %s"
            % (self.port, args.up_host, args.up_port, self.mode))
        if args.control:
            self.open_control()
        self.write_state()

    # --- control ---------------------------------------------------------

    def open_control(self):
        p = self.args.control
        try:
            st = os.stat(p)
        except FileNotFoundError:
            return  # a plain file the test writes later
        if stat.S_ISFIFO(st.st_mode):
            self.ctl_fifo = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            # A writer of our own, so the FIFO never reads as EOF.
            self.ctl_fifo_w = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
        else:
            self.ctl_sig = self.file_sig(p)
            self.command(self.read_file(p), "control file")

    @staticmethod
    def file_sig(p):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    @staticmethod
    def read_file(p):
        try:
            with open(p) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def poll_control(self):
        if not self.args.control:
            return
        if self.ctl_fifo is not None:
            try:
                data = os.read(self.ctl_fifo, 4096)
            except BlockingIOError:
                data = b""
            self.fifo_buf += data
            while b"\n" in self.fifo_buf:
                line, self.fifo_buf = self.fifo_buf.split(b"\n", 1)
                self.command(line.decode(), "fifo")
            return
        sig = self.file_sig(self.args.control)
        if sig != self.ctl_sig:
            text = self.read_file(self.args.control)
            if not text.strip():
                return  # caught between truncation and write: look again
            self.ctl_sig = sig
            self.command(text, "control file")

    def command(self, text, src):
        words = text.split()
        if not words:
            return
        if any(w not in MODES for w in words) or not self.valid(words):
            log("%s: bad command %r (modes: %s; only cut, cut-after-commit "
                "and cut-at-commit take THEN words)"
                % (src, text.strip(), " ".join(MODES)))
            return
        self.seq += 1
        log("command %d: %s" % (self.seq, " ".join(words)))
        self.set_mode(words)

    @staticmethod
    def valid(words):
        while len(words) > 1:
            if words[0] not in CUTTING:
                return False
            words = words[1:]
        return True

    def set_mode(self, words):
        mode, then = words[0], list(words[1:])
        while mode == "cut":
            for k in list(self.conns):
                self.close(k, "cut")
            self.cuts += 1
            mode, then = (then[0], then[1:]) if then else ("pass", [])
        old = self.mode
        self.mode, self.then = mode, then
        if old != mode or then:
            log("mode %s -> %s%s" % (old, mode, " then " + " ".join(then)
                                     if then else ""))
        if mode == "refuse" and self.listener is not None:
            self.listener.close()
            self.listener = None
            log("listener closed: new connections are refused")
        elif mode != "refuse" and self.listener is None:
            self.listen()
            log("listening again on 127.0.0.1:%d" % self.port)
        self.write_state()

    def write_state(self):
        if not self.args.control:
            return
        self.write_atomic(self.args.control + ".state",
                          "%d %s %s cuts=%d commits=%d accepted=%d conns=%d\n"
                          % (self.seq, self.mode, ",".join(self.then) or "-",
                             self.cuts, self.commits, self.next_id - 1,
                             len(self.conns)))

    @staticmethod
    def write_atomic(path, text):
        tmp = "%s.tmp.%d" % (path, os.getpid())
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)

    # --- sockets ---------------------------------------------------------

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.setblocking(False)
        self.listener = s
        self.port = s.getsockname()[1]

    def accept(self):
        try:
            c, peer = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        c.setblocking(False)
        k = Conn(self.next_id, c)
        self.next_id += 1
        self.conns.append(k)
        held = self.mode in ("stall", "blackhole")
        log("conn %d: accepted from %s:%d%s" % (k.cid, peer[0], peer[1],
                                                ", held" if held else ""))
        if not held:
            self.connect_up(k)
        self.write_state()

    def connect_up(self, k):
        u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u.settimeout(5)
        try:
            u.connect((self.args.up_host, self.args.up_port))
        except OSError as e:
            u.close()
            self.close(k, "upstream connect failed: %s" % e)
            return
        u.setblocking(False)
        u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        k.c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        k.u = u

    def close(self, k, why):
        if k.closed:
            return
        k.closed = True
        for s in (k.c, k.u):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self.conns.remove(k)
        log("conn %d: closed (%s)" % (k.cid, why))
        self.write_state()

    def cut_conn(self, k, why):
        self.cuts += 1
        if self.mode not in ("cut-after-commit", "cut-at-commit"):
            self.close(k, why)
            return
        then = self.then or ["pass"]
        nxt = ([w for w in then if w != "cut"] or ["pass"])[0]
        if nxt == "refuse" and self.listener is not None:
            # Before the cut: the client's reconnect must find no listener
            # rather than land in its backlog and be reset with it.
            self.listener.close()
            self.listener = None
            log("listener closed: new connections are refused")
        self.close(k, why)
        self.set_mode(then)

    def read_client(self, k):
        try:
            data = k.c.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            data = b""
            log("conn %d: client: %s" % (k.cid, e))
        if not data:
            k.c_eof = True
            return
        commits = k.parser.feed(data)
        if self.args.verbose:
            for sql in k.parser.queries:
                log("conn %d: query %r" % (k.cid, sql[:100]))
        k.parser.queries.clear()
        self.commits += len(commits)
        if commits:
            self.write_state()
        if commits and k.doom_at is None:
            if self.mode in ("cut-after-commit", "cut-at-commit"):
                k.drop = self.mode == "cut-at-commit"
                k.doom_at = commits[0][1 if not k.drop else 0]
                keep = max(0, len(data) - (k.parser.offset - k.doom_at))
                if keep < len(data):
                    log("conn %d: dropping %d bytes %s the COMMIT"
                        % (k.cid, len(data) - keep,
                           "from" if k.drop else "after"))
                data = data[:keep]
                log("conn %d: COMMIT seen, will cut this connection %s" %
                    (k.cid, "instead of forwarding it" if k.drop else
                     "after it is forwarded"))
            else:
                log("conn %d: COMMIT seen (mode %s: forwarded)"
                    % (k.cid, self.mode))
        k.c2u += data

    def read_up(self, k):
        try:
            data = k.u.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            data = b""
            log("conn %d: upstream: %s" % (k.cid, e))
        if not data:
            k.u_eof = True
            return
        k.u2c += data

    @staticmethod
    def send(sock, buf):
        try:
            n = sock.send(buf)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return -1
        del buf[:n]
        return n

    def step(self, timeout):
        forwarding = self.mode != "stall"
        r, w = [], []
        if self.listener is not None:
            r.append(self.listener)
        for k in self.conns:
            if k.u is None or not forwarding:
                continue
            if k.doom_at is None:
                if not k.c_eof and len(k.c2u) < BUF_MAX:
                    r.append(k.c)
                if not k.u_eof and len(k.u2c) < BUF_MAX:
                    r.append(k.u)
                if k.u2c:
                    w.append(k.c)
            elif k.commit_sent is not None and not k.answered:
                r.append(k.u)  # only to see the answer arrive, never read
            if k.c2u:
                w.append(k.u)
        try:
            rr, ww, _ = select.select(r, w, [], timeout)
        except InterruptedError:
            return
        now = time.monotonic()
        for s in rr:
            if s is self.listener:
                self.accept()
        for k in list(self.conns):
            if k.closed or k.u is None:
                continue
            if k.doom_at is not None:
                if k.u in rr and k.commit_sent is not None:
                    k.answered = True
                    log("conn %d: the server's answer to COMMIT arrived "
                        "(held back)" % k.cid)
            else:
                if k.c in rr:
                    self.read_client(k)
                if k.u in rr:
                    self.read_up(k)
                if k.c in ww and self.send(k.c, k.u2c) < 0:
                    self.close(k, "client write failed")
                    continue
            if k.u in ww:
                n = self.send(k.u, k.c2u)
                if n < 0:
                    self.close(k, "upstream write failed")
                    continue
                k.sent_up += n
            if k.drop and k.sent_up >= k.doom_at:
                self.cut_conn(k, "cut at COMMIT, which was not forwarded")
                continue
            if k.doom_at is not None and k.commit_sent is None and \
                    k.sent_up >= k.doom_at:
                k.commit_sent = now
                log("conn %d: COMMIT forwarded to the server" % k.cid)
            if k.c_eof and not k.c2u:
                self.close(k, "client closed")
            elif k.u_eof and not k.u2c:
                self.close(k, "server closed")
        for k in list(self.conns):
            if k.commit_sent is None:
                continue
            waited = now - k.commit_sent
            if waited >= 0.1 and k.answered:
                self.cut_conn(k, "cut after COMMIT, its answer not "
                              "forwarded: the server answered")
            elif waited >= self.args.commit_wait:
                self.cut_conn(k, "cut after COMMIT: no answer after %.1f s"
                              % waited)
        if forwarding and self.mode != "blackhole":
            for k in list(self.conns):
                if k.u is None and not k.closed:
                    log("conn %d: released, connecting upstream" % k.cid)
                    self.connect_up(k)

    def run(self):
        parent = os.getppid()
        deadline = time.monotonic() + self.args.max_seconds
        while True:
            if os.getppid() != parent:
                log("the parent process is gone: exiting")
                return 0
            if time.monotonic() > deadline:
                log("--max-seconds %d reached: exiting"
                    % self.args.max_seconds)
                return 0
            self.poll_control()
            self.step(0.05 if not any(k.commit_sent for k in self.conns)
                      else 0.01)


def upstream(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("HOST:PORT expected")
    if host in ("localhost", "[127.0.0.1]"):
        host = "127.0.0.1"
    if host != "127.0.0.1":
        raise argparse.ArgumentTypeError(
            "the upstream must be on 127.0.0.1 (got %s)" % host)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(
        description="A TCP proxy for PostgreSQL connections on 127.0.0.1 "
        "that a test controls (see the module docstring).")
    ap.add_argument("--listen-port-file", required=True)
    ap.add_argument("--upstream", required=True, type=upstream,
                    help="127.0.0.1:PORT of the server")
    ap.add_argument("--control", help="a control file (polled) or FIFO")
    ap.add_argument("--mode", default="pass",
                    choices=[m for m in MODES if m != "cut"])
    ap.add_argument("--commit-wait", type=float, default=2.0,
                    help="cut-after-commit: the longest wait for the "
                    "server's answer before cutting (seconds)")
    ap.add_argument("--max-seconds", type=int, default=600)
    ap.add_argument("--verbose", action="store_true",
                    help="also log the SQL of every Query and Parse")
    args = ap.parse_args()
    args.up_host, args.up_port = args.upstream
    try:
        return Proxy(args).run()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
