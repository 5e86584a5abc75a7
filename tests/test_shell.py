"""shell: resume commands quoted for POSIX shells, and for cmd.exe and PowerShell on Windows."""
from __future__ import annotations

import io
import shlex
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qianwen_video import hints, shell
from qianwen_video.options import DEFAULTS
from qianwen_video.context import Context
from tests.harness import ROOT


def crt_split(line: str):
    """argv[1:] as the Microsoft C runtime splits a command line (the documented rules, including the
    newer one that "" inside a quoted string is a literal quote)."""
    args, current, started, quoted, i = [], [], False, False, 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            j = i
            while j < len(line) and line[j] == "\\":
                j += 1
            count = j - i
            if j < len(line) and line[j] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    i = j + 1
                else:
                    i = j
            else:
                current.append("\\" * count)
                i = j
            started = True
            continue
        if ch == '"':
            if quoted and line[i + 1:i + 2] == '"':
                current.append('"')
                i += 2
                continue
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
            started = True
        i += 1
    if started:
        args.append("".join(current))
    return args


@pytest.mark.parametrize("line, argv", [  # the examples in Microsoft's "Parsing C command-line arguments"
    ('"a b c" d e', ["a b c", "d", "e"]),
    ('"ab\\"c" "\\\\" d', ['ab"c', "\\", "d"]),
    ('a\\\\\\b d"e f"g h', ["a\\\\\\b", "de fg", "h"]),
    ('a\\\\\\"b c d', ['a\\"b', "c", "d"]),
    ('a\\\\\\\\"b c" d e', ["a\\\\b c", "d", "e"]),
])
def test_the_crt_model_matches_the_documented_examples(line, argv):
    assert crt_split(line) == argv


def powershell_value(token: str) -> str:
    """What PowerShell hands a native program for one argument token written by shell.quote: a
    double-quoted string with backtick escapes removed; fails on anything it would expand."""
    if not token.startswith('"'):
        assert not any(c in token for c in "$@'\"(){};,|&<>#`"), token
        return token
    assert token.endswith('"'), token
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "`":
            out.append(body[i + 1])
            i += 2
            continue
        assert ch not in '"\u201c\u201d\u201e', "an unescaped quote ends the string early: %r" % token
        nxt = body[i + 1:i + 2]
        assert not (ch == "$" and nxt and (nxt.isalnum() or nxt in "_{($?^:")), "PowerShell expands %r" % token
        out.append(ch)
        i += 1
    return "".join(out)


WINDOWS_CASES = [
    ("abc-123", "abc-123"),
    ("--task-id", "--task-id"),
    ("C:\\Users\\me\\clips", "C:\\Users\\me\\clips"),
    ("./out/clip.mp4", "./out/clip.mp4"),
    ("C:\\Users\\John Smith\\clips", '"C:\\Users\\John Smith\\clips"'),
    ("C:\\out dir\\", '"C:\\out dir\\\\"'),  # the closing quote must not be escaped by the backslash
    ("a&b|c<d>e^f", '"a&b|c<d>e^f"'),  # cmd.exe operators are plain text inside quotes
    ("x,y;z=w", '"x,y;z=w"'),  # cmd.exe delimiters, PowerShell's array and statement separators
    ("it's (new) {v2} @home #1", "\"it's (new) {v2} @home #1\""),
    ("50% off!", '"50% off!"'),
    ("\\\\server\\c$\\videos", '"\\\\server\\c$\\videos"'),  # an admin share: $\ is no variable
    ("my $HOME and $(x) ${y} $_", '"my `$HOME and `$(x) `${y} `$_"'),
    ("price $5", '"price `$5"'),
    ("cost: 5$", '"cost: 5$"'),
    ("a`b", '"a``b"'),
    ("clips \u201cnew\u201d", '"clips `\u201cnew`\u201d"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("\u89c6\u9891 \u8f93\u51fa", '"\u89c6\u9891 \u8f93\u51fa"'),
    ("", '""'),
]


@pytest.mark.parametrize("arg, quoted", WINDOWS_CASES)
def test_windows_quoting_table(arg, quoted):
    assert shell.quote(arg, windows=True) == quoted


@pytest.mark.parametrize("arg", [arg for arg, _ in WINDOWS_CASES])
def test_posix_quoting_is_shlex(arg):
    assert shell.quote(arg, windows=False) == shlex.quote(arg)
    assert shlex.split(shell.join([arg, "x"], windows=False)) == [arg, "x"]


NOT_IN_WINDOWS_NAMES = '"' + "".join(chr(c) for c in range(32)) + "\x7f"
windows_args = st.text(st.characters(blacklist_characters=NOT_IN_WINDOWS_NAMES, blacklist_categories=("Cs",)),
                       max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(windows_args, min_size=1, max_size=4))
def test_cmd_hands_python_the_same_arguments(args):
    """cmd.exe passes a line through unchanged (outside %VAR% of a defined variable and delayed
    expansion), so python.exe's CRT split must give back the arguments, except that the PowerShell
    escapes (a backtick before $name, a backtick or a typographic quote) reach it as typed."""
    got = crt_split(shell.join(args, windows=True))
    assert len(got) == len(args)
    for arg, out in zip(args, got):
        token = shell.quote(arg, windows=True)
        if "`" in token:  # PowerShell's escapes are all cmd.exe sees differently
            assert out.replace("`", "") == arg.replace("`", "")
        else:
            assert out == arg


@settings(max_examples=300, deadline=None)
@given(windows_args.filter(lambda a: not a.endswith("\\")))
def test_powershell_hands_python_the_same_argument(arg):
    assert powershell_value(shell.quote(arg, windows=True)) == arg


def test_every_token_is_plain_or_wholly_quoted_so_no_cmd_operator_is_exposed():
    for arg, _ in WINDOWS_CASES:
        token = shell.quote(arg, windows=True)
        if token.startswith('"'):
            inner = token[1:-1].replace('\\"', "")
            assert '"' not in inner, token
        else:
            assert not any(c in token for c in " &|<>^%!,;=()"), token


@pytest.mark.parametrize("executable, windows, command", [
    ("/usr/bin/python3.11", False, ["python3"]),
    ("C:\\Users\\me\\AppData\\Local\\Programs\\Python\\Python312\\python.exe", True,
     ["C:\\Users\\me\\AppData\\Local\\Programs\\Python\\Python312\\python.exe"]),
    ("C:\\proj\\.venv\\Scripts\\python.exe", True, ["C:\\proj\\.venv\\Scripts\\python.exe"]),
    ("C:\\Program Files\\Python312\\python.exe", True, ["py", "-3"]),  # quoted, it would be a string in PowerShell
    ("", True, ["py", "-3"]),
    (None, True, ["py", "-3"]),
])
def test_how_python_is_started(executable, windows, command):
    assert shell.python_command(executable, windows=windows) == command


def test_resume_commands_follow_the_platform(tmp_path, monkeypatch):
    script = tmp_path / "My Skills" / "scripts" / "video.py"
    script.parent.mkdir(parents=True)
    script.write_text("")
    ctx = Context(environ={}, cwd=tmp_path, stdout=io.StringIO(), stderr=io.StringIO(), script_path=script)
    monkeypatch.setattr(sys, "executable", "C:\\Python312\\python.exe")
    monkeypatch.setattr(shell, "WINDOWS", True)
    assert hints.resume_command(ctx, "abc-123", "C:\\my clips", poll_once=True) == \
        'C:\\Python312\\python.exe "%s" --task-id abc-123 --output "C:\\my clips" --poll-once' % script
    options = DEFAULTS._replace(batch="C:\\jobs\\my batch.jsonl", quiet=True)
    assert hints.batch_resume_command(ctx, options) == \
        'C:\\Python312\\python.exe "%s" --batch "C:\\jobs\\my batch.jsonl" --quiet' % script
    monkeypatch.setattr(shell, "WINDOWS", False)
    assert hints.resume_command(ctx, "abc-123", "my clips") == \
        "python3 '%s' --task-id abc-123 --output 'my clips'" % script


def test_the_default_is_the_running_platform():
    assert shell.WINDOWS is (sys.platform == "win32")
    assert hints.resume_command(Context(environ={}, stdout=io.StringIO(), stderr=io.StringIO()), "t-1") == \
        shell.join(shell.python_command(sys.executable) + [str(ROOT / "scripts" / "video.py"), "--task-id", "t-1"])
