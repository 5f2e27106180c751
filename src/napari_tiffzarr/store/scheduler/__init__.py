"""The store's runtime: one read scheduler per open file (cache, decoding threads,
request batches, prefetch along the predicted motion), beside the store's protocol and
its index, which it reads and never changes."""

from .cache import DEFAULT_CACHE_BYTES, ChunkCache
from .chunks import ChunkReader, TiffChunkWarning, page_key
from .scheduler import ReadScheduler

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "ChunkCache",
    "ChunkReader",
    "ReadScheduler",
    "TiffChunkWarning",
    "page_key",
]
