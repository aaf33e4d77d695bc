"""The API's response shapes as pydantic models: the source of the OpenAPI schemas.

The resources build plain dicts (``uploader.views``); a unit test validates
those dicts against these models, so the documentation cannot drift from what
is sent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Size(BaseModel):
    width: int = Field(description="Width in pixels.", examples=[100])
    height: int = Field(description="Height in pixels.", examples=[100])


class Source(BaseModel):
    bucket: str | None = Field(None, examples=["thumbnails"])
    key: str = Field(examples=["uploads/default/tj-0ovqj2g1d4h5k7m.jpg"])


class ThumbnailInfo(BaseModel):
    width: int | None = Field(None, description="Width in pixels.", examples=[100])
    height: int | None = Field(None, description="Height in pixels.", examples=[100])
    content_type: str | None = Field(None, examples=["image/jpeg"])
    bytes: int | None = Field(None, description="Size of the encoded thumbnail in bytes.", examples=[4232])


class Job(BaseModel):
    """One thumbnail job (a ThumbnailJob custom resource)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="Job ID: the ThumbnailJob's name.", examples=["tj-0ovqj2g1d4h5k7m"])
    status: Literal["processing", "succeeded", "failed"]
    phase: Literal["Pending", "Running", "Succeeded", "Failed"] = Field(description="The ThumbnailJob's status.phase.")
    reason: str | None = Field(None, description="CamelCase reason, e.g. ThumbnailReady, TruncatedImage.",
                               examples=["ThumbnailReady"])
    message: str | None = Field(None, examples=["100x100 image/jpeg, 4232 bytes"])
    created_at: str | None = Field(None, description="RFC 3339 time.", examples=["2026-11-30T04:04:36Z"])
    completed_at: str | None = Field(None, description="RFC 3339 time, once finished.")
    thumbnail_url: str | None = Field(None, description="Where to fetch the thumbnail once succeeded.",
                                      examples=["/v1/jobs/tj-0ovqj2g1d4h5k7m/thumbnail"])
    source: Source | None = None
    size: Size
    fit: Literal["cover", "contain", "fill"]
    format: Literal["png", "jpeg", "webp", "gif"] | None = None
    thumbnail: ThumbnailInfo | None = None


class JobList(BaseModel):
    items: list[Job]
    continue_: str | None = Field(None, alias="continue",
                                  description="Opaque token for the next page; null on the last page.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["https://thumbnailer.dev/problems/job-not-found"])
    title: str = Field(examples=["Job not found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(None, examples=["no job with id 'tj-nope'"])
    instance: str | None = Field(None, examples=["/v1/jobs/tj-nope"])
    reason: str | None = Field(None, description="The image's rejection reason, where there is one.")
    parameter: str | None = Field(None, description="The query parameter at fault (invalid-parameter).",
                                  examples=["width"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    checks: dict[str, str] | None = Field(None, examples=[{"object_store": "ok", "kubernetes_api": "ok"}])


MODELS: tuple[type[BaseModel], ...] = (Size, Source, ThumbnailInfo, Job, JobList, Problem, Health)
