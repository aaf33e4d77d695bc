"""The resizer's configuration, read once from the environment.

The operator sets these on the Job's container; ``S3_ACCESS_KEY`` and
``S3_SECRET_KEY`` come from a Secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from thumbnailer import api
from thumbnailer.api import ResizerEnv as E

from .geometry import FITS
from .thumbnail import OUTPUT_FORMATS, ThumbnailSpec


class SettingsError(ValueError):
    """A required variable is missing or has an unusable value."""


@dataclass(frozen=True)
class ResizerSettings:
    """Where to read, where to write, and what to make.

    ========================  ===========================================  =========
    variable                  meaning                                      default
    ========================  ===========================================  =========
    S3_ENDPOINT               host:port of the S3 store                    required
    S3_ACCESS_KEY/SECRET_KEY  credentials                                  required
    S3_SECURE                 ``true`` for HTTPS                           false
    S3_REGION                 region for request signing                   us-east-1
    SOURCE_BUCKET/SOURCE_KEY  the source image object                      required
    OUTPUT_BUCKET             bucket for the thumbnail                     SOURCE_BUCKET
    OUTPUT_KEY                object key of the thumbnail, without the     required
                              extension (added from the format)
    PREVIOUS_OUTPUT_KEY       an earlier generation's thumbnail, removed   empty
                              once the new one is written (if it differs)
    THUMBNAIL_WIDTH/HEIGHT    size in pixels                               100
    THUMBNAIL_FIT             cover, contain or fill                       cover
    THUMBNAIL_FORMAT          jpeg, png, webp, gif; empty = from source    empty
    MAX_PIXELS                decompression-bomb limit, pixels             89478485
    MAX_BYTES                 largest source accepted, bytes               52428800
    MAX_FRAMES                frames kept from an animation                200
    MAX_ANIMATION_PIXELS      decode budget of an animation: canvas x      400000000
                              frames decoded, pixels (then it is cut)
    MAX_OUTPUT_PIXELS         output budget: width x height x frames       16777216
    MAX_CPU_SECONDS           CPU time one image may cost, seconds         15
                              (then ``TooComplex``; SIGKILL 10 s later)
    ACCEPT_TRUNCATED          ``true``: render what a truncated file has   false
    TERMINATION_MESSAGE_PATH  where the outcome is written for the pod     /dev/termination-log
                              (read by ``resizer.__main__``)
    ========================  ===========================================  =========
    """

    endpoint: str
    access_key: str
    secret_key: str
    secure: bool
    region: str
    source_bucket: str
    source_key: str
    output_bucket: str
    output_key: str
    previous_output_key: str
    spec: ThumbnailSpec
    max_bytes: int
    max_cpu_seconds: int = api.DEFAULT_MAX_CPU_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "ResizerSettings":
        """Read and validate; raises :class:`SettingsError` naming the variable."""

        def need(name: str, strip: bool = True) -> str:
            value = env.get(name, "")
            if not value.strip():
                raise SettingsError(f"{name} is required")
            return value.strip() if strip else value

        def object_key(name: str) -> str:
            # An S3 object key is taken exactly: " cat.jpg" and "cat.jpg" are different objects.
            return need(name, strip=False)

        def integer(name: str, default: int, low: int = 1) -> int:
            raw = env.get(name, "").strip() or str(default)
            try:
                value = int(raw)
            except ValueError:
                raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
            if value < low:
                raise SettingsError(f"{name} must be >= {low}, got {value}")
            return value

        fit = env.get(E.THUMBNAIL_FIT, "").strip() or api.DEFAULT_FIT
        if fit not in FITS:
            raise SettingsError(f"{E.THUMBNAIL_FIT} must be one of {', '.join(FITS)}, got {fit!r}")
        fmt = env.get(E.THUMBNAIL_FORMAT, "").strip().lower() or None
        if fmt is not None and fmt not in OUTPUT_FORMATS:
            raise SettingsError(f"{E.THUMBNAIL_FORMAT} must be one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}")
        source_bucket = need(E.SOURCE_BUCKET)
        return cls(
            endpoint=need(E.S3_ENDPOINT),
            access_key=need(E.S3_ACCESS_KEY),
            secret_key=need(E.S3_SECRET_KEY),
            secure=env.get(E.S3_SECURE, "false").strip().lower() in ("1", "true", "yes"),
            region=env.get(E.S3_REGION, "").strip() or "us-east-1",
            source_bucket=source_bucket,
            source_key=object_key(E.SOURCE_KEY),
            output_bucket=env.get(E.OUTPUT_BUCKET, "").strip() or source_bucket,
            output_key=object_key(E.OUTPUT_KEY),
            previous_output_key=env.get(E.PREVIOUS_OUTPUT_KEY, ""),
            spec=ThumbnailSpec(
                width=integer(E.THUMBNAIL_WIDTH, api.DEFAULT_WIDTH),
                height=integer(E.THUMBNAIL_HEIGHT, api.DEFAULT_HEIGHT),
                fit=fit,  # type: ignore[arg-type]
                format=fmt,
                max_pixels=integer(E.MAX_PIXELS, api.DEFAULT_MAX_PIXELS),
                max_frames=integer(E.MAX_FRAMES, api.DEFAULT_MAX_FRAMES),
                max_animation_pixels=integer(E.MAX_ANIMATION_PIXELS, api.DEFAULT_MAX_ANIMATION_PIXELS),
                max_output_pixels=integer(E.MAX_OUTPUT_PIXELS, api.DEFAULT_MAX_OUTPUT_PIXELS),
                accept_truncated=env.get(E.ACCEPT_TRUNCATED, "").strip().lower() in ("1", "true", "yes"),
            ),
            max_bytes=integer(E.MAX_BYTES, api.DEFAULT_MAX_BYTES),
            max_cpu_seconds=integer(E.MAX_CPU_SECONDS, api.DEFAULT_MAX_CPU_SECONDS),
        )
