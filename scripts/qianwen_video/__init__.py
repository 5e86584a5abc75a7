"""qianwen_video: the library behind scripts/video.py (stdlib only, Python 3.9+)."""

__version__ = "0.4.0"  # the release; pyproject.toml and version.json say the same (tests/test_packaging.py)
