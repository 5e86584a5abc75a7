"""qianwen_video: the library behind scripts/video.py (stdlib only, Python 3.9+)."""
