"""trunkgate: project gating CI with speculative dependent queues on fresh test nodes."""

__version__ = "0.1.0"

__all__ = ["__version__"]
