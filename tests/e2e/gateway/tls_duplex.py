"""tls_duplex.py - writes to and reads from one TLS socket at once, in one
thread, for the test clients that pipeline (pipeline.py, pipeflood.py).

An SSLSocket must not be written in one thread while another reads it: both
drive the same OpenSSL object, and a TLS 1.3 session ticket read during a
write is enough for the reader to see the connection end while the server
still answers (the server then gets EPIPE on its first answer). So the
writing is done here, between reads, on a non-blocking socket."""
import select
import socket
import ssl
import time

RECORD = 16384  # one TLS record: a retried write is the same bytes, same length


class Duplex:
    def __init__(self, sock):
        sock.setblocking(False)
        self.sock = sock
        self.out = b""     # what is still to be written; the caller appends
        self.eof = False   # the server ended the connection

    def _write(self):
        """Writes what the socket takes now."""
        while self.out:
            try:
                n = self.sock.send(self.out[:RECORD])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return
            self.out = self.out[n:]

    def pump(self, timeout):
        """Writes what it can of self.out and returns the next bytes read:
        b"" with self.eof set when the server closed. Raises socket.timeout
        when nothing arrives for `timeout` seconds."""
        deadline = time.time() + timeout
        while True:
            self._write()
            try:
                data = self.sock.recv(65536)
                if not data:
                    self.eof = True
                return data
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout("nothing arrived in %g s" % timeout)
            select.select([self.sock], [self.sock] if self.out else [], [], left)
