"""The ThumbnailJob operator (Kopf). Lives in the folder ``operator/`` but is
imported as ``thumbnail_operator``, so it never shadows the standard library's
``operator`` module."""
