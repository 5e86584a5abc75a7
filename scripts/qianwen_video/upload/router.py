"""Choose where local files go: the user's own OSS bucket when configured, else DashScope."""
from __future__ import annotations

from typing import Callable, List

from . import own_bucket
from ..net.api import DashScope
from ..console import Console
from ..context import Context
from ..media import LocalFile
from .temp_storage import TempStorage


def uploader_for(ctx: Context, console: Console, api: DashScope, model: str) -> Callable[[List[LocalFile]], List[str]]:
    """``upload_all(files) -> urls`` for the configured destination.

    QWEN_TMP_OSS_BUCKET selects the user's bucket (signed PUT, presigned GET URL; no upload
    policy, no oss:// URL). A misconfigured bucket raises UsageError before anything is sent.
    """
    config = own_bucket.settings(ctx)
    if config is not None:
        return own_bucket.OwnBucket(api.transport, console, config).upload_all
    stray = own_bucket.stray_settings(ctx)
    if stray:
        console.warn("%s set but QWEN_TMP_OSS_BUCKET is not: uploading to DashScope temporary storage"
                     % "/".join(stray))
    return TempStorage(api, console, model).upload_all
