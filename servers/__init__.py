"""What runs in the kernel and serves: the runtime, the news feed, the protocol codecs."""

from servers.runtime import Server, serve

__all__ = ["Server", "serve"]
