"""synthempathy: grow synthetic empathy corpora with local LLMs, as a DVC pipeline."""

__version__ = "0.1.0"
