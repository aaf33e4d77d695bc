"""What the real-node tests share: the release's names and a handle on the installed chart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import requests

from devcluster.nodestack import Installation, NodeCluster
from waiting import wait_for

NAMESPACE = "thumbnailer"
RELEASE = "thumbs"
FULLNAME = f"{RELEASE}-thumbnailer"
PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"


@dataclass
class Release:
    """The chart installed on the node (:class:`Installation`), with what the tests do with it."""

    cluster: NodeCluster
    installation: Installation

    def __getattr__(self, name: str):  # namespace, uploader, s3_endpoint, access_key, secret_key, values
        return getattr(self.installation, name)

    def s3(self):
        from minio import Minio
        return Minio(self.s3_endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False,
                     region="us-east-1")

    def post(self, path: Path, **params) -> requests.Response:
        with open(path, "rb") as f:
            return requests.post(f"{self.uploader}/v1/jobs", files={"image": (path.name, f)}, params=params,
                                 timeout=60)

    def post_bytes(self, name: str, data: bytes, **params) -> requests.Response:
        return requests.post(f"{self.uploader}/v1/jobs", files={"image": (name, data)}, params=params, timeout=60)

    def job(self, job_id: str) -> dict:
        return requests.get(f"{self.uploader}/v1/jobs/{job_id}", timeout=30).json()

    def wait_done(self, job_id: str, timeout: float = 180) -> dict:
        return wait_for(lambda: (j := self.job(job_id))["status"] != "processing" and j, timeout=timeout,
                        interval=1, what=f"job {job_id} to finish")

    def kubectl(self, *args: str, check: bool = True, input: str | None = None):
        return self.cluster.kubectl("-n", self.namespace, *args, check=check, input=input)

    def resource(self, name: str) -> dict:
        return json.loads(self.kubectl("get", "thumbnailjob", name, "-o", "json").stdout)
