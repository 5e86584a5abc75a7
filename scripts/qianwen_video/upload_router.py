"""Choose where local files go: the user's own OSS bucket when configured, else DashScope."""
from __future__ import annotations

from typing import Callable, List

from .api import DashScope
from .console import Console
from .context import Context
from .media import LocalFile
from .upload import TempStorage


def uploader_for(ctx: Context, console: Console, api: DashScope, model: str) -> Callable[[List[LocalFile]], List[str]]:
    return TempStorage(api, console, model).upload_all
