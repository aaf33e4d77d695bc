"""The development node's log server: a kubelet-style HTTPS endpoint that serves container logs.

Dev/test only (:mod:`devcluster.devnode` starts one). It is what ``kubectl logs``
(the API's ``pods/log`` subresource) reaches: a minimal endpoint on 127.0.0.1
(a free port, self-signed certificate), advertised in the Node's
``status.daemonEndpoints.kubeletEndpoint.Port`` with the address ``InternalIP``
127.0.0.1 (the API server is started with
``--kubelet-preferred-address-types=InternalIP``; it verifies no kubelet
certificate without ``--kubelet-certificate-authority``). It serves only
``GET /containerLogs/{namespace}/{pod}/{container}`` and honours ``tailLines``,
``limitBytes``, ``previous`` (the run before the last restart; 400 if the
container has not restarted) and ``follow`` (streams until the container's
process exits, the pod is deleted or the node stops). It ignores
``timestamps``, ``sinceSeconds`` and ``sinceTime`` (the log file has no per-line
times: the whole log is returned). It asks for no client certificate: anyone on
this machine who finds the port can read pod logs, which is fine for a
development node and nothing else. No exec, attach, port-forward, metrics or
``/healthz``.
"""

from __future__ import annotations

import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from .pki import CertificateAuthority

if TYPE_CHECKING:
    from .podrunner import PodRunner

log = logging.getLogger("devnode")


class LogSource(Protocol):
    """What the endpoint asks of the node: where a container's log file is, and whether it still grows."""

    #: Set when the node stops; every followed log then ends.
    stop: threading.Event

    def container_log(self, ns: str, pod: str, container: str, previous: bool) -> tuple[Path, PodRunner | None]:
        """The log file and the pod's runner (None if none runs here); raises LookupError (404) or ValueError (400)."""
        ...

    def container_running(self, runner: PodRunner | None, container: str) -> bool:
        """Whether ``container``'s process in ``runner``'s pod is still running."""
        ...


class _TLSServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections are TLS; the handshake runs in the
    connection's own thread (a stalled client never blocks ``accept``)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext):
        self.context = context
        super().__init__(address, handler)

    def get_request(self):  # socketserver hook
        sock, addr = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address) -> None:  # quiet: clients come and go
        log.debug("kubelet endpoint: connection from %s failed", client_address, exc_info=True)


class _LogHandler(BaseHTTPRequestHandler):
    """``GET /containerLogs/{namespace}/{pod}/{container}``, as the kubelet serves it
    to the API server (see the module docstring for the query parameters)."""

    logs: LogSource
    server_version = "devnode-kubelet"
    timeout = 30.0
    follow_poll = 0.2

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # BaseHTTPRequestHandler's name
        log.debug("kubelet endpoint: " + format, *args)

    def _error(self, code: int, message: str) -> None:
        body = (message + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # BaseHTTPRequestHandler's name
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")]
        if len(parts) != 5 or parts[1] != "containerLogs" or not all(parts[2:]):
            return self._error(404, "the development node serves only /containerLogs/{namespace}/{pod}/{container}")
        ns, pod, container = parts[2:]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            tail = _count(query, "tailLines")
            limit = _count(query, "limitBytes")
        except ValueError as e:
            return self._error(400, str(e))
        previous = query.get("previous", "").lower() == "true"
        follow = query.get("follow", "").lower() == "true" and not previous
        try:
            path, runner = self.logs.container_log(ns, pod, container, previous)
        except LookupError as e:
            return self._error(404, e.args[0])
        except ValueError as e:
            return self._error(400, e.args[0])
        data = path.read_bytes()
        offset = len(data)
        if tail is not None:
            data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail else b""
        if limit is not None:
            data = data[:limit]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if not follow:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()  # HTTP/1.0: a followed log ends when the connection closes
        try:
            self.wfile.write(data)
            sent = len(data)
            while follow and (limit is None or sent < limit):
                running = self.logs.container_running(runner, container)
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read(65536)
                if chunk:
                    offset += len(chunk)
                    chunk = chunk if limit is None else chunk[:limit - sent]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                elif not running or self.logs.stop.wait(self.follow_poll):
                    break  # read once more after the process ended, then stop
        except (OSError, ssl.SSLError):
            pass  # the client went away


def _count(query: dict[str, str], name: str) -> int | None:
    """A non-negative integer query parameter, or None when absent; raises ValueError."""
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise ValueError(f"{name}: not an integer: {query[name]!r}") from None
    if value < 0:
        raise ValueError(f"{name}: must not be negative")
    return value


class KubeletEndpoint:
    """The node's HTTPS log endpoint on ``127.0.0.1:<port>`` with a fresh self-signed
    certificate (for ``node_name``) under ``pki_dir``, serving the logs ``logs`` finds;
    :meth:`start` serves in a thread."""

    def __init__(self, logs: LogSource, pki_dir: Path, node_name: str):
        pki = CertificateAuthority(pki_dir, common_name="devnode-kubelet-ca")
        pair = pki.issue("kubelet", node_name, server=True, dns_names=(node_name, "localhost"),
                         ip_addresses=("127.0.0.1",))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pair.cert), str(pair.key))
        handler = type("LogHandler", (_LogHandler,), {"logs": logs})
        self.httpd = _TLSServer(("127.0.0.1", 0), handler, context)
        self.port: int = self.httpd.server_address[1]

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="kubelet-endpoint", daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
