"""A real S3-compatible server on loopback: versitygw with its posix backend.

versitygw (Apache-2.0) is a single Go binary that serves the S3 API over a
plain directory; the project talks to it with the same ``minio`` client it
uses against MinIO in docker-compose and the Helm chart.
"""

from __future__ import annotations

import os
import secrets
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import HTTPError

from minio import Minio

from .binaries import Binaries
from .processes import ManagedProcess, free_port


@dataclass
class S3Server:
    """versitygw serving ``state_dir/data`` on ``127.0.0.1:<port>``.

    After :meth:`start`: ``endpoint`` is ``127.0.0.1:<port>`` (no scheme, as
    the ``minio`` client takes it), ``access_key``/``secret_key`` are freshly
    generated root credentials and ``bucket`` exists.
    """

    state_dir: Path
    binaries: Binaries
    bucket: str = "thumbnails"
    port: int = 0
    access_key: str = field(default_factory=lambda: "dev" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    process: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> Minio:
        """A ``minio`` client for this server (plain HTTP, region us-east-1)."""
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key,
                     secure=False, region="us-east-1")

    def start(self, timeout: float = 60.0) -> None:
        """Start the server, wait until it answers, and create ``bucket``.

        Raises :class:`devcluster.processes.StartupError` on failure.
        """
        data = self.state_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "meta").mkdir(exist_ok=True)
        self.port = self.port or free_port()
        # The credentials go in the environment (versitygw reads ROOT_ACCESS_KEY_ID and
        # ROOT_SECRET_ACCESS_KEY), not argv, which any local user can read with ps.
        env = {**os.environ, "ROOT_ACCESS_KEY_ID": self.access_key, "ROOT_SECRET_ACCESS_KEY": self.secret_key}
        self.process = ManagedProcess("versitygw", [
            str(self.binaries.versitygw),
            "--port", f"127.0.0.1:{self.port}", "--region", "us-east-1", "--quiet",
            # Object metadata in a sidecar directory rather than xattrs, which
            # some file systems (older tmpfs, overlay setups) do not offer.
            "posix", "--sidecar", str(self.state_dir / "meta"), str(data),
        ], self.state_dir / "logs" / "versitygw.log", env=env)

        def answers() -> bool:
            try:
                urllib.request.urlopen(f"http://{self.endpoint}/", timeout=2)
            except HTTPError:  # 403 without credentials: the server is up
                return True
            return True

        try:
            self.process.wait_until(answers, timeout, "answering HTTP")
            client = self.client()
            self.process.wait_until(lambda: client.bucket_exists(self.bucket) or
                                    client.make_bucket(self.bucket) or True, timeout, "creating the bucket")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server; safe to call twice."""
        if self.process is not None:
            self.process.stop()
            self.process = None
