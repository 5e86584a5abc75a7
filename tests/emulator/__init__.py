"""Local emulator of the DashScope (Alibaba Model Studio) video API for tests.

Independent implementation of the service described in
/work/shared/reference/dashscope-api.md; it never imports ``scripts/``.
"""
from __future__ import annotations

from .actions import Drip, Recorded, Reply, Reset, Stall, StoredObject, Task, Truncate
from .server import Emulator

__all__ = ["Emulator", "Reply", "Reset", "Stall", "Truncate", "Drip", "Recorded", "Task", "StoredObject"]
