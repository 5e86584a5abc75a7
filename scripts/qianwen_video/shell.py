"""Commands printed for the user to run again, written for the shell of the platform they run on.

Pure functions. POSIX shells get ``shlex.quote``. On Windows one line has to work when pasted into
cmd.exe and into PowerShell, and the program receiving it (python.exe) splits its command line with
the Microsoft C runtime rules:

* CRT (learn.microsoft.com/cpp/c-language/parsing-c-command-line-arguments): a double-quoted
  string is one argument; backslashes are literal except right before a double quote, where 2n
  backslashes + ``"`` give n backslashes and end the quoting, and 2n+1 give n backslashes and a
  literal ``"``. So backslashes before a closing quote (``"C:\\out\\"``) are doubled.
* cmd.exe (ss64.com/nt/syntax-esc.html; stackoverflow.com/questions/30620876): ``& | < > ^`` and the delimiters ``, ; =`` and space are
  plain text inside double quotes; ``%NAME%`` still expands there when NAME is a defined variable
  (an undefined one is left as typed), and ``!`` only with delayed expansion, which is off unless
  cmd is started with /V.
* PowerShell (about_Quoting_Rules, about_Parsing): inside double quotes only ``$`` (a variable or
  ``$( )``), the backtick (its escape character) and the double quotes, typographic ones
  included, are special; a backtick makes the next character literal. An unquoted argument is
  also parsed specially when it holds ``$ @ ' " ( ) { } ; , | & < > #`` or a backtick. A command name
  that is quoted is only a string there (it needs ``&`` before it, which cmd.exe refuses), so the
  interpreter is never quoted: ``sys.executable`` when it needs no quotes, else the ``py -3``
  launcher (docs.python.org/3/using/windows.html, "Python Launcher for Windows").

Where the two shells disagree the line is written for PowerShell, the shell Windows Terminal opens
by default: a backtick is added before a ``$`` that would start a variable and before a backtick
or a typographic double quote, and cmd.exe would pass those backticks on. File names on Windows
cannot hold ``"`` or control characters, and task ids are letters, digits, ``_ . -``, so the
arguments printed here almost never meet those cases.
"""
from __future__ import annotations

import os
import re
import shlex
from typing import List, Optional, Sequence

_WINDOWS_PLAIN = re.compile(r"[A-Za-z0-9_\-.:\\/]+\Z")  # needs no quotes in cmd.exe or PowerShell
_PS_ESCAPED = "`\u201c\u201d\u201e"  # backtick and the typographic double quotes PowerShell treats as "
_PS_VARIABLE_START = "_{($?^:"  # after $ these (or a letter or digit) start a variable or subexpression
WINDOWS = os.name == "nt"  # the platform the printed commands are for, unless a call says otherwise


def _on_windows(windows: Optional[bool]) -> bool:
    return WINDOWS if windows is None else windows


def quote(arg: str, windows: Optional[bool] = None) -> str:
    """One argument, quoted for the platform (default: the one running now)."""
    if not _on_windows(windows):
        return shlex.quote(arg)
    if _WINDOWS_PLAIN.match(arg):
        return arg
    out = ['"']
    backslashes = 0
    for i, ch in enumerate(arg):
        if ch == "\\":
            backslashes += 1
            continue
        if ch == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')  # CRT: a literal quote after n backslashes
        else:
            out.append("\\" * backslashes)
            following = arg[i + 1:i + 2]
            if ch in _PS_ESCAPED or (ch == "$" and following and (following.isalnum() or following in _PS_VARIABLE_START)):
                out.append("`")
            out.append(ch)
        backslashes = 0
    out.append("\\" * (2 * backslashes))  # CRT: backslashes before the closing quote are doubled
    out.append('"')
    return "".join(out)


def join(args: Sequence[str], windows: Optional[bool] = None) -> str:
    """A whole command line, each argument quoted for the platform (default: the one running now)."""
    return " ".join(quote(arg, windows) for arg in args)


def python_command(executable: Optional[str] = None, windows: Optional[bool] = None) -> List[str]:
    """How to start Python 3 in a printed command: ``python3`` on POSIX; on Windows the running
    interpreter when its path needs no quotes (a quoted command name is only a string in
    PowerShell), else the ``py -3`` launcher."""
    if not _on_windows(windows):
        return ["python3"]
    if executable and _WINDOWS_PLAIN.match(executable):
        return [executable]
    return ["py", "-3"]
