"""The options of one run: a frozen record the CLI fills from argv; nothing below the CLI sees argparse."""
# No `from __future__ import annotations` here: with it, typing.NamedTuple compiles each of the
# fields' string annotations at every start-up (~0.6 ms of --dry-run's); these all evaluate on 3.9.
from typing import NamedTuple, Optional


class Options(NamedTuple):
    """Every command-line option, with the defaults the parser uses (one place for both)."""

    request: Optional[str] = None  # --request JSON text
    file: Optional[str] = None  # --file PATH holding the JSON request
    prompt: Optional[str] = None  # --prompt TEXT, merged into the request
    mode: Optional[str] = None
    model: Optional[str] = None
    output: Optional[str] = None
    print_response: bool = False
    quiet: bool = False
    submit_only: bool = False
    task_id: Optional[str] = None
    poll_once: bool = False
    poll_interval: float = 15.0
    timeout: float = 600.0
    cancel: bool = False
    list: Optional[int] = None  # --list N: how many of the newest tasks to show
    force: bool = False
    batch: Optional[str] = None
    concurrency: Optional[int] = None
    skip_invalid: bool = False
    dry_run: bool = False
    no_validate: bool = False
    list_models: bool = False
    version: bool = False  # --version
    gallery: bool = False  # --gallery: rewrite index.html from the journal


DEFAULTS = Options()
