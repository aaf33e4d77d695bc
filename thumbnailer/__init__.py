"""Code shared by every component: the ThumbnailJob API contract."""
