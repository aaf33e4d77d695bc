"""The uploader's configuration: one typed object, read once from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from thumbnailer import api


class UploaderSettings(BaseSettings):
    """Every knob of the uploader; the environment variable is the field name in upper case.

    The Kubernetes connection comes from the in-cluster service account, else
    from ``KUBECONFIG``. ``bind`` and ``threads`` are read by the gunicorn
    configuration (``uploader/gunicorn_conf.py``), the rest by the app.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    namespace: str = Field("default", description="Namespace where ThumbnailJobs are created and read.",
                           validation_alias="UPLOADER_NAMESPACE")
    s3_endpoint: str = Field("minio:9000", description="host:port of the S3 store.")
    s3_access_key: str = Field("", description="S3 access key.")
    s3_secret_key: str = Field("", description="S3 secret key.", repr=False)
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_bucket: str = Field("thumbnails", description="Bucket for uploaded sources (and thumbnails).")
    s3_create_bucket: bool = Field(False, description="Create the bucket if it is missing (bundled MinIO).")
    source_prefix: str = Field("uploads", description="Sources go to <prefix>/<namespace>/<id>.<ext>.")
    max_upload_bytes: int = Field(api.DEFAULT_MAX_BYTES, ge=1, description="Largest accepted upload, bytes.")
    max_pixels: int = Field(api.DEFAULT_MAX_PIXELS, ge=1, description="Largest declared width x height accepted, pixels.")
    max_frames: int = Field(api.DEFAULT_MAX_FRAMES, ge=1, description="Frames the resizer keeps from an animation (as the "
                                                   "operator's MAX_FRAMES), for the output budget.")
    max_output_pixels: int = Field(api.DEFAULT_MAX_OUTPUT_PIXELS, ge=1,
        description="Output budget: width x height x frames kept "
                    "of a thumbnail, pixels; a request over it is a 422 (OutputTooLarge).")
    spool_memory_bytes: int = Field(1024 * 1024, ge=0,
                                    description="Uploads larger than this are spooled to a temporary file.")
    body_read_timeout_seconds: float = Field(
        30, gt=0, description="Longest wait for the next bytes of a request body (then 408), or for the client "
                              "to take the next bytes of an answer; bounds how long one stalled client holds a thread.")
    bind: str = Field("0.0.0.0:8000", description="gunicorn's listening address, host:port.",
                      validation_alias="UPLOADER_BIND")
    workers: int = Field(1, ge=1, le=64, description="gunicorn worker processes; over 1, /metrics adds them up "
                         "(prometheus_client multiprocess mode).", validation_alias="UPLOADER_WORKERS")
    threads: int = Field(16, ge=1, description="gunicorn threads per worker: requests served at once by each.",
                         validation_alias="UPLOADER_THREADS")
