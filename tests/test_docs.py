"""The documents are executable: their commands run, their tables match the code.

* The model tables in references/models.md are generated from ``qianwen_video.catalog``
  (regenerate with ``python3 tests/test_docs.py --write``) and compared here.
* SKILL.md stays short enough to read in one go, with the run recipe and the argument table at
  its top, and keeps every section of the seed's skill page.
* The one error table in SKILL.md: what the script prints occurs in scripts/, what the service
  answers occurs in the emulator.
* Every field the catalog knows is documented in references/request-fields.md.
* Every ``video.py`` call in SKILL.md, examples.md, polling-guide.md and workflows.md runs: with
  ``--dry-run`` appended, or against the local emulator for --task-id/--list/--cancel.
* Every curl block in execution-guide.md runs against the emulator (submit, poll, download,
  cancel), with ``$BASE`` and ``$DASHSCOPE_API_KEY`` supplied.
* Every ffmpeg recipe in merge-media.md runs on generated clips and is checked with ffprobe.
* Relative links resolve, URLs come from the reference files, .env.example covers the code.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:  # also when run as `python3 tests/test_docs.py --write`
    sys.path.insert(0, str(SCRIPTS))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from qianwen_video import catalog  # noqa: E402
from tests.media_files import signature  # noqa: E402

SKILL_MD = ROOT / "SKILL.md"
REFS = ROOT / "references"
MODELS_MD = REFS / "models.md"
DOCS = [SKILL_MD, ROOT / "agent-compatibility.md"] + sorted(REFS.glob("*.md"))
KEY = "sk-test-0123456789abcdef"
PLACEHOLDER_DIR = "<this-skill-dir>"
SHARED_REFERENCE = ROOT.parent.parent / "shared" / "reference"  # ../shared from a checkout in /work/wt/x
if not SHARED_REFERENCE.is_dir():
    SHARED_REFERENCE = Path("/work/shared/reference")

# ---------------------------------------------------------------------------------------
# Model tables, generated from the catalog

AUDIO_TEXT = {"silent": "silent", "auto": "with audio", "optional": "with audio; `audio: false` = silent",
              "given": "your `audio_url`", "unstated": "not documented"}
REGION_TEXT = {"cn-beijing": "BJ", "ap-southeast-1": "SG", "us-east-1": "US"}


def _models_for(key: str) -> List[catalog.Model]:
    if key == "happyhorse":
        return [m for m in catalog.MODELS.values() if m.family.startswith("happyhorse")]
    if key == "videoedit":
        return [m for m in catalog.MODELS.values() if m.mode == "videoedit"]
    modes = key.split(",")
    return [m for m in catalog.MODELS.values() if m.mode in modes and not m.family.startswith("happyhorse")]


def _resolution_cell(m: catalog.Model) -> str:
    if m.resolution_field is None:
        return "the input's"
    tiers = "/".join(m.tiers)
    if m.resolution_field == "size":
        return "`size` W*H, %s (default `%s`)" % (tiers, m.default_resolution)
    text = "`resolution` %s (default %s)" % (tiers, m.default_resolution)
    if m.ratios:
        text += " + `ratio`"
    return text


def _sent_cell(m: catalog.Model) -> str:
    """What the script sends when the request names no resolution/size or duration."""
    parts = []
    for key, value in m.sent_defaults.items():
        parts.append("%d s" % value if key == "duration" else "`%s`" % value if key == "size" else str(value))
    return ", ".join(parts) or "-"


def render_table(key: str) -> str:
    models = _models_for(key)
    multi_mode = len({m.mode for m in models}) > 1
    head = ["Model"] + (["Mode"] if multi_mode else []) + ["Resolution", "Duration (s)", "Sent when unset", "Audio",
                                                           "Prompt max", "Regions"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in models:
        name = "`%s`" % m.id + (" (default)" if catalog.DEFAULT_MODELS.get(m.mode) == m.id else "")
        duration = m.duration.describe() if m.duration else \
            "input length (≤15)" if m.mode == "videoedit" else "the %s's length" % m.length_from
        cells = [name] + ([m.mode] if multi_mode else []) + [
            _resolution_cell(m), duration, _sent_cell(m), AUDIO_TEXT[m.audio],
            str(m.prompt_max) if m.takes("prompt") else "-",
            ", ".join(REGION_TEXT.get(r, r) for r in m.regions)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLE_BLOCK = re.compile(r"(<!-- models:([a-z0-9,]+) -->\n)(.*?)(<!-- /models -->)", re.S)


def regenerate(text: str) -> str:
    return TABLE_BLOCK.sub(lambda m: m.group(1) + render_table(m.group(2)) + "\n" + m.group(4), text)


def test_model_tables_match_catalog():
    text = MODELS_MD.read_text(encoding="utf-8")
    blocks = TABLE_BLOCK.findall(text)
    assert {b[1] for b in blocks} == {"t2v", "i2v", "kf2v,r2v,vace", "videoedit", "happyhorse",
                                      "animate,s2v,lipsync,style", "omni"}
    assert text == regenerate(text), "references/models.md is stale: run python3 tests/test_docs.py --write"


def test_model_tables_live_only_in_models_md():
    for doc in DOCS:
        if doc != MODELS_MD:
            assert not TABLE_BLOCK.search(doc.read_text(encoding="utf-8")), doc.name


def test_every_catalog_model_is_in_a_table():
    text = MODELS_MD.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)`", "\n".join(b[2] for b in TABLE_BLOCK.findall(text)), re.M))
    assert listed == set(catalog.MODELS)


def test_defaults_named_in_skill_md_match_catalog():
    text = SKILL_MD.read_text(encoding="utf-8")
    for mode, model in catalog.DEFAULT_MODELS.items():
        assert re.search(r"%s\s+`%s`" % (mode, re.escape(model)), text), (mode, model)


# ---------------------------------------------------------------------------------------
# SKILL.md: short, the run recipe first, every section of the seed's skill page

SKILL_MAX_CHARS = 20000
TOP_LINES = 120

# The seed's skill page (../shared/seed/): its sections, each with the heading it has here.
SEED_SECTIONS = [
    ("Skill directory", "## Skill directory"),
    ("Security", "## Security"),
    ("Key Compatibility", "## Key compatibility"),
    ("Mode Selection Guide", "## Mode selection guide"),
    ("Model Selection", "## Model selection"),
    ("Models", "## Models"),
    ("Execution", "## Execution"),
    ("Prerequisites", "### Prerequisites"),
    ("Environment Check", "### Environment check"),
    ("Default: Run Script", "### Run the script"),
    ("Verify Result", "### Verify the result"),
    ("On Failure", "### On failure"),
    ("Request Fields Summary", "## Request fields summary"),
    ("Resolution Parameter by Mode", "### ⚠️ Resolution parameter by family"),
    ("Mode-Specific Required Fields", "### Mode-specific required fields"),
    ("Cost Estimation", "## Cost"),
    ("Local File Handling", "## Local file handling"),
    ("Cross-Skill Chaining", "## Cross-skill chaining"),
    ("Important Notes", "## Important notes"),
    ("Error Handling", "## Error handling"),
    ("Output Location", "## Output location"),
    ("Update Check (MANDATORY Post-Execution)", "## Update check (MANDATORY after each run)"),
    ("References", "## References"),
]
# The seed's model subsections now live in references/models.md.
SEED_MODEL_SECTIONS = ["## t2v (text-to-video)", "## i2v (image-to-video)", "## kf2v / r2v / vace",
                       "## videoedit (video editing)", "## HappyHorse series"]


def _skill_lines() -> List[str]:
    return SKILL_MD.read_text(encoding="utf-8").splitlines()


def test_skill_md_size():
    text = SKILL_MD.read_text(encoding="utf-8")
    size = max(len(text), len(text.encode("utf-8")))  # bytes too: some readers count those
    assert size <= SKILL_MAX_CHARS, "SKILL.md has %d characters (UTF-8 bytes); at most %d" % (size, SKILL_MAX_CHARS)


def test_seed_sections_all_present():
    headings = [line.rstrip() for line in _skill_lines() if line.startswith("#")]
    missing = [seed for seed, ours in SEED_SECTIONS if ours not in headings]
    assert not missing, "sections of the seed's skill page missing from SKILL.md: %s" % missing
    models = [line.rstrip() for line in MODELS_MD.read_text(encoding="utf-8").splitlines()]
    assert [h for h in SEED_MODEL_SECTIONS if h not in models] == []
    text = SKILL_MD.read_text(encoding="utf-8")
    for signal in ("[ACTION_REQUIRED]", "[UPDATE_AVAILABLE]", "**No signal**", "check_update.py --print-response",
                   "gossamer.py --dismiss", "gossamer.py --never-install"):
        assert signal in text, signal


def _line_of(pattern: str, lines: List[str], last: bool = False) -> int:
    found = [n for n, line in enumerate(lines, 1) if re.search(pattern, line)]
    assert found, "SKILL.md has no line matching %r" % pattern
    return found[-1] if last else found[0]


def test_run_recipe_and_arguments_at_the_top():
    """An agent that reads only the first TOP_LINES lines knows how to run, read and resume the script."""
    lines = _skill_lines()
    table = _line_of(r"^\| Argument \| Meaning \|$", lines)
    table_end = table + next(i for i, line in enumerate(lines[table:]) if not line.startswith("|"))
    marks = {
        "the recipe's heading": _line_of(r"^### Run the script$", lines),
        "the absolute-path rule": _line_of(r"\*\*absolute path\*\*", lines),
        "a full run": _line_of(r"^python3 <this-skill-dir>/scripts/video\.py \\$", lines),
        "what it prints": _line_of(r"^\*\*What it prints\.\*\*", lines),
        "the exit codes": _line_of(r"^\*\*Exit codes:\*\*", lines),
        "submit in a short shell": _line_of(r"^python3 \S+ --request .* --submit-only$", lines),
        "check in a short shell": _line_of(r"^python3 \S+ --task-id <task_id> --poll-once", lines),
        "the batch recipe's place": _line_of(r"^<!-- two-minute-batch:", lines),
        "the end of the argument table": table_end,
    }
    late = {what: n for what, n in marks.items() if n > TOP_LINES}
    assert not late, "SKILL.md must give these within its first %d lines: %s" % (TOP_LINES, late)
    exit_codes = "\n".join(lines[marks["the exit codes"] - 1:marks["the exit codes"] + 3])
    from qianwen_video import errors

    assert all("**%d**" % code in exit_codes for code in errors.EXIT_CODES), exit_codes


def test_two_minute_recipes_agree():
    """SKILL.md and polling-guide.md state one time for a 5 s 720P video and both keep the marked
    place for the batch submit/check pair."""
    skill = SKILL_MD.read_text(encoding="utf-8")
    guide = (REFS / "polling-guide.md").read_text(encoding="utf-8")
    stated = re.search(r"5 s 720P video takes about (\d+–\d+) minutes", skill)
    assert stated, "SKILL.md must state how long a 5 s 720P video takes"
    row = re.search(r"^\| t2v / i2v, 5 s, 720P \|.*\| (\d+–\d+) min \|$", guide, re.M)
    assert row and row.group(1) == stated.group(1), (stated.group(1), row and row.group(0))
    assert re.search(r"roughly %s minutes for 5 s at 720P" % stated.group(1), guide)
    for text in (skill, guide):
        assert "<!-- two-minute-batch:" in text


# ---------------------------------------------------------------------------------------
# Request fields: every field the catalog knows is documented where fields are listed

def _catalog_fields() -> set:
    fields = set(catalog.INPUT_FIELDS) | set(catalog.MEDIA_FIELDS) | set(catalog.FIELD_ALIASES)
    fields |= {target for targets in catalog.FIELD_ALIASES.values() for target in targets}
    fields |= set(catalog.STRING_FIELDS) | set(catalog.INTEGER_FIELDS) | set(catalog.NUMBER_FIELDS)
    for model in catalog.MODELS.values():
        fields |= set(model.input_fields) | set(model.param_fields)
        if model.media:
            fields |= {name for name, _ in model.media.from_fields}
    return fields


def test_every_catalog_field_in_request_fields_md():
    text = (REFS / "request-fields.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Za-z_]+)`", text))
    missing = sorted(_catalog_fields() - documented)
    assert not missing, "fields the catalog knows but request-fields.md never names: %s" % missing


def test_media_fields_listed_as_the_catalog_has_them():
    text = (REFS / "request-fields.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- media-fields -->(.*?)<!-- /media-fields -->", text, re.S)
    assert block, "request-fields.md lacks the <!-- media-fields --> list"
    listed = re.findall(r"`([a-z_]+)`", block.group(1))
    assert sorted(listed) == sorted(catalog.MEDIA_FIELDS)


# The "Defaults sent when the request names none" table in SKILL.md: each row's models.
LEGACY = ("wan2.1", "wan2.2", "wan2.5", "wan2.6")
NEWER = ("wan2.7", "happyhorse-1.0", "happyhorse-1.1")
DEFAULT_ROWS = {
    "t2v wan2.1–2.6": lambda m: m.mode == "t2v" and m.family in LEGACY,
    "i2v wan2.1–2.6, kf2v": lambda m: (m.mode == "i2v" and m.family in LEGACY) or m.mode == "kf2v",
    "r2v wan2.6": lambda m: m.mode == "r2v" and m.family in LEGACY,
    "t2v, i2v on wan2.7 and HappyHorse": lambda m: m.mode in ("t2v", "i2v") and m.family in NEWER,
    "r2v on wan2.7 and HappyHorse": lambda m: m.mode == "r2v" and m.family in NEWER,
    "vace, videoedit": lambda m: m.mode in ("vace", "videoedit"),
    "animate": lambda m: m.mode == "animate",
    "s2v, lipsync, style": lambda m: m.mode in ("s2v", "lipsync", "style"),
    "omni (wan3.0)": lambda m: m.mode == "omni",
}
# Models whose tiers lack the family's default: only these keys are sent (named in their row).
DEFAULT_EXCEPTIONS = {"wan2.2-i2v-plus": ("duration",)}


def _default_rows() -> Dict[str, str]:
    text = SKILL_MD.read_text(encoding="utf-8")
    section = re.search(r"^### Defaults sent when the request names none\n(.*?)^#", text, re.S | re.M)
    assert section, "SKILL.md lacks the defaults table"
    rows = {}
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("Mode and family",):
            rows[cells[0]] = cells[1]
    return rows


def test_defaults_table_covers_every_model_once():
    rows = _default_rows()
    assert set(rows) == set(DEFAULT_ROWS), sorted(rows)
    for model in catalog.MODELS.values():
        owners = [label for label, owns in DEFAULT_ROWS.items() if owns(model)]
        assert len(owners) == 1, (model.id, owners)
    for model_id in DEFAULT_EXCEPTIONS:
        owner = next(label for label, owns in DEFAULT_ROWS.items() if owns(catalog.MODELS[model_id]))
        assert model_id in rows[owner], (model_id, owner)


def test_defaults_table_matches_what_the_catalog_sends():
    rows = _default_rows()
    for label, owns in DEFAULT_ROWS.items():
        stated = {}
        for key, value in re.findall(r'`([a-z_]+): "?([^"`]+)"?`', rows[label]):
            stated[key] = int(value) if value.isdigit() else value
        for model in filter(owns, catalog.MODELS.values()):
            expected = {k: v for k, v in stated.items() if k in DEFAULT_EXCEPTIONS.get(model.id, stated)}
            assert dict(model.sent_defaults) == expected, (label, model.id, dict(model.sent_defaults), expected)


# ---------------------------------------------------------------------------------------
# Error patterns and flags must be what the code does

def _source_strings() -> List[str]:
    found = []
    for path in SCRIPTS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return found


def _pattern_in_sources(pattern: str, strings: List[str]) -> bool:
    """Fixed parts of the pattern (split at `<placeholder>`s and numbers) appear, in order, in one literal."""
    parts = [p for p in re.split(r"<[^>]+>|\d+", pattern) if p.strip()]
    for literal in strings:
        at = 0
        for part in parts:
            at = literal.find(part, at)
            if at < 0:
                break
            at += len(part)
        else:
            return True
    return False


SERVICE_ROW = "| **Service answers** |"


def _failure_patterns() -> Tuple[List[str], List[str]]:
    """The one error table: (what the script prints, what the service answers), split at its
    "Service answers" row."""
    text = SKILL_MD.read_text(encoding="utf-8")
    assert len(re.findall(r"<!-- errors -->", text)) == 1, "SKILL.md must have exactly one error table"
    block = re.search(r"<!-- errors -->(.*?)<!-- /errors -->", text, re.S)
    assert block, "SKILL.md lacks the <!-- errors --> table"
    ours: List[str] = []
    service: List[str] = []
    target = ours
    for line in block.group(1).splitlines():
        if line.startswith(SERVICE_ROW):
            target = service
        elif line.startswith("| `"):
            target.append(re.match(r"\| `([^`]+)`", line).group(1))
    return ours, service


def _emulator_strings() -> List[str]:
    found = []
    for path in (ROOT / "tests" / "emulator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return found


def test_on_failure_patterns_occur_in_code():
    ours, service = _failure_patterns()
    assert len(ours) >= 15 and len(service) >= 5
    strings = _source_strings()
    missing = [p for p in ours if not _pattern_in_sources(p, strings)]
    assert not missing, "error patterns in SKILL.md that scripts/ never prints: %s" % missing
    answers = _emulator_strings()
    unknown = [p for p in service if not _pattern_in_sources(p, answers)]
    assert not unknown, "service answers in SKILL.md that the emulator never gives: %s" % unknown


def test_one_error_table():
    text = SKILL_MD.read_text(encoding="utf-8")
    tables = re.findall(r"^\| [^|\n]+ \| [^|\n]+(?: \| [^|\n]+)? \|\n\|---\|", text, re.M)
    headers = [h for h in tables if re.search(r"error|stderr|service says", h, re.I)]
    assert len(headers) == 1, headers


def test_argument_table_matches_parser():
    from qianwen_video.cli import build_parser

    options = {s for action in build_parser()._actions for s in action.option_strings}
    text = SKILL_MD.read_text(encoding="utf-8")
    table = re.search(r"\| Argument \| Meaning \|\n\|---\|---\|\n((?:\|.*\n)+)", text).group(1)
    documented = set(re.findall(r"^\| `(--?[a-z-]+)", table, re.M))
    documented |= set(re.findall(r"`, `(-[a-z])`", table))
    assert documented == options - {"-h", "--help"}


def test_exit_codes_documented():
    from qianwen_video import errors

    text = SKILL_MD.read_text(encoding="utf-8") + (REFS / "polling-guide.md").read_text(encoding="utf-8")
    for code in errors.EXIT_CODES:
        assert "**%d**" % code in text, code


def test_messages_quoted_in_skill_md_are_real():
    strings = _source_strings()
    for quoted in ("Warning: Token Plan key detected (sk-sp-...)", "refusing to write output inside"):
        assert _pattern_in_sources(quoted, strings), quoted
    from qianwen_video.store import journal, outputs

    text = SKILL_MD.read_text(encoding="utf-8")
    assert journal.JOURNAL_NAME in text and "./%s/" % outputs.DEFAULT_OUTPUT.as_posix() in text


# ---------------------------------------------------------------------------------------
# Markdown helpers

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def code_blocks(path: Path, lang: Optional[str] = None) -> List[str]:
    return [body for kind, body in FENCE.findall(path.read_text(encoding="utf-8")) if lang is None or kind == lang]


def _join_continuations(text: str) -> List[str]:
    return re.sub(r"\\\n\s*", " ", text).splitlines()


def video_invocations(path: Path) -> List[str]:
    text = path.read_text(encoding="utf-8")
    found = []
    for block in [b for _, b in FENCE.findall(text)]:
        for line in _join_continuations(block):
            line = line.strip()
            if line.startswith("python3 ") and "/scripts/video.py" in line:
                found.append(line)
    prose = FENCE.sub("", text)
    found += [m for m in re.findall(r"`(python3 [^`]*?/scripts/video\.py[^`]*)`", prose)]
    return found


def _argv(line: str) -> List[str]:
    line = re.split(r"\s+#\s", line)[0]  # trailing shell comment
    words = shlex.split(line)
    assert words[0] == "python3" and words[1].endswith("/scripts/video.py"), line
    assert words[1].startswith((PLACEHOLDER_DIR, "$SKILL_DIR")), "use %s/scripts/video.py: %s" % (PLACEHOLDER_DIR, line)
    return words[2:]


# ---------------------------------------------------------------------------------------
# Running video.py calls

def _tiny_png(side: int = 1) -> bytes:
    """A valid black RGB PNG, `side` pixels square (a photo-sized side for models with pixel limits)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = (b"\x00" + b"\x00" * 3 * side) * side
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _create_local_files(argv: List[str], cwd: Path) -> None:
    """Make every relative media path the request names, so validation finds real files.

    A `--batch FILE` gets a two-line JSONL batch of valid requests.
    """
    for flag, value in zip(argv, argv[1:]):
        if flag == "--batch" and not (cwd / value).exists():
            (cwd / value).write_text('{"prompt": "a red kite"}\n{"prompt": "a blue kite", "duration": 10}\n',
                                     encoding="utf-8")
    for word in argv:
        if not word.startswith("{"):
            continue
        for value in re.findall(r'"(\./[^"]+|[\w-]+\.(?:png|jpg|mp4|mov|wav|mp3))"', word):
            target = cwd / value
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix in (".mp4", ".mov"):
                shutil.copy(ROOT / "tests" / "emulator" / "fixtures" / "sample.mp4", target)
            elif target.suffix in (".wav", ".mp3"):
                target.write_bytes(signature(target) + b"\x00" * 64)  # WAV or MP3 by content
            else:
                target.write_bytes(_tiny_png(640))  # within every model's pixel limits


def _run_cli(argv: List[str], cwd: Path, env: Dict[str, str]):
    from tests.harness import run

    return run(argv, env, cwd)


NEEDS_SERVER = ("--task-id", "--list", "--cancel")


def _doc_calls() -> List[Tuple[str, str]]:
    calls = []
    for path in (SKILL_MD, REFS / "examples.md", REFS / "polling-guide.md", REFS / "workflows.md"):
        for line in video_invocations(path):
            calls.append((path.name, line))
    return calls


def test_doc_calls_found():
    calls = _doc_calls()
    names = {name for name, _ in calls}
    assert names == {"SKILL.md", "examples.md", "polling-guide.md", "workflows.md"}
    examples = [line for name, line in calls if name == "examples.md"]
    for function in ("image_reference", "video_repainting", "video_edit", "video_extension", "video_outpainting"):
        assert any(function in line for line in examples), function


def test_video_py_calls_dry_run(tmp_path):
    """Every submit-style call validates (exit 0 with --dry-run): no key, no network."""
    ran = 0
    for index, (name, line) in enumerate(_doc_calls()):
        argv = _argv(line)
        if any(flag in argv for flag in NEEDS_SERVER):
            continue
        cwd = tmp_path / ("call%d" % index)
        cwd.mkdir()
        _create_local_files(argv, cwd)
        if not any(flag in argv for flag in ("--help", "--list-models", "--dry-run")):
            argv = argv + ["--dry-run"]
        result = _run_cli(argv, cwd, {"PATH": os.environ.get("PATH", "")})
        assert result.code == 0, "%s: %s\n%s" % (name, line, result.stdout + result.stderr)
        assert "Warning:" not in result.stderr, "%s: %s\n%s" % (name, line, result.stderr)  # no unused fields
        ran += 1
    assert ran >= 20


def _substitute(argv: List[str], task_id: str) -> List[str]:
    return [task_id if w in ("<task_id>", "$TASK_ID", "TASK_ID") else w for w in argv]


def test_video_py_task_calls_against_emulator(tmp_path):
    """--task-id/--list/--cancel calls run against the emulator with a task created first."""
    from tests.emulator import Emulator

    calls = [(n, l) for n, l in _doc_calls() if any(f in _argv(l) for f in NEEDS_SERVER)]
    assert len(calls) >= 4
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.2) as fast, \
            Emulator(api_keys=(KEY,), pending_seconds=60, run_seconds=0.2) as slow:
        for index, (name, line) in enumerate(calls):
            argv = _argv(line)
            emu = slow if "--cancel" in argv else fast
            env = {"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY}
            cwd = tmp_path / ("task%d" % index)
            cwd.mkdir()
            output = argv[argv.index("--output") + 1] if "--output" in argv else None
            submit = ["--request", json.dumps({"prompt": "doc test %d" % index}), "--submit-only"]
            created = _run_cli(submit + (["--output", output] if output else []), cwd, env)
            assert created.code == 0, created.stderr
            task_id = created.stdout.strip().splitlines()[-1]
            if "--poll-once" in argv:
                time.sleep(0.4)  # let it finish, so the documented call downloads and exits 0
            result = _run_cli(_substitute(argv, task_id), cwd, env)
            assert result.code == 0, "%s: %s\n%s" % (name, line, result.stdout + result.stderr)
            if "--list" in argv and "--print-response" not in argv:
                assert task_id in result.stdout


# ---------------------------------------------------------------------------------------
# curl blocks in execution-guide.md

def _curl_blocks() -> Dict[str, List[str]]:
    """Blocks are tagged by their first line: `# setup`, `# submit: ...`, `# poll`, `# download`, `# cancel`."""
    tagged: Dict[str, List[str]] = {}
    for block in code_blocks(REFS / "execution-guide.md", "bash"):
        first = block.splitlines()[0].strip()
        if "curl" not in block and not first.startswith("# setup"):
            continue
        tag = re.match(r"#\s*(setup|submit|poll|download|cancel|upload|detect)\b", first)
        assert tag, "untagged curl block in execution-guide.md:\n" + block
        tagged.setdefault(tag.group(1), []).append(block)
    return tagged


def _bash(script: str, env: Dict[str, str], cwd: Path) -> Tuple[int, str, str]:
    full = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    full.update(env)
    proc = subprocess.run(["bash", "-c", "set -e\n" + script], env=full, cwd=str(cwd), capture_output=True,
                          text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


def _curl_json(script: str, env: Dict[str, str], cwd: Path) -> dict:
    # Append the HTTP status to every curl's output so "HTTP 200 JSON" can be asserted.
    script = re.sub(r"\bcurl ", "curl -w '\\n%{http_code}' ", script)
    code, out, err = _bash(script, env, cwd)
    assert code == 0, "curl failed (%d): %s\n%s" % (code, err, script)
    body, _, status = out.rstrip("\n").rpartition("\n")
    assert status == "200", "HTTP %s: %s\n%s" % (status, body, script)
    return json.loads(body)


def test_curl_blocks_against_emulator(tmp_path):
    from tests.emulator import Emulator

    blocks = _curl_blocks()
    assert len(blocks.get("submit", [])) >= 12, \
        "curl submits for t2v, i2v, kf2v, r2v, vace, videoedit, wan2.7, animate, s2v, lipsync, style, omni"
    assert blocks.get("poll") and blocks.get("download") and blocks.get("cancel")
    setup = "\n".join(blocks.get("setup", []))
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.2) as emu, \
            Emulator(api_keys=(KEY,), pending_seconds=60, run_seconds=0.2) as slow:
        env = {"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY}
        task_ids = []
        for block in blocks["submit"]:
            answer = _curl_json(setup + "\n" + block, env, tmp_path)
            assert answer["output"]["task_status"] == "PENDING", answer
            task_ids.append(answer["output"]["task_id"])
        seen = {}
        deadline = time.time() + 10
        for task_id in task_ids:
            for block in blocks["poll"]:
                while True:
                    answer = _curl_json(setup + "\n" + block, dict(env, TASK_ID=task_id), tmp_path)
                    status = answer["output"]["task_status"]
                    if status in ("SUCCEEDED", "FAILED") or time.time() > deadline:
                        break
                    time.sleep(0.05)
                assert status == "SUCCEEDED", answer
                out = answer["output"]  # the three documented places of the URL (execution-guide, Poll)
                seen[task_id] = out.get("video_url") or out.get("output_video_url") or out["results"]["video_url"]
        for block in blocks["download"]:
            target = tmp_path / "download"
            target.mkdir(exist_ok=True)
            code, out, err = _bash(setup + "\n" + block, dict(env, VIDEO_URL=seen[task_ids[0]]), target)
            assert code == 0, err
            videos = list(target.glob("*.mp4"))
            assert videos and videos[0].stat().st_size > 1000
        slow_env = {"DASHSCOPE_HTTP_BASE_URL": slow.base_url, "DASHSCOPE_API_KEY": KEY}
        for block in blocks["cancel"]:
            pending = _curl_json(setup + "\n" + blocks["submit"][0], slow_env, tmp_path)["output"]["task_id"]
            answer = _curl_json(setup + "\n" + block, dict(slow_env, TASK_ID=pending), tmp_path)
            assert "request_id" in answer
        assert blocks.get("detect"), "the s2v portrait check has a curl block"
        for block in blocks["detect"]:
            answer = _curl_json(setup + "\n" + block, env, tmp_path)
            assert answer["output"]["check_pass"] is True, answer
        for block in blocks.get("upload", []):
            (tmp_path / "portrait.png").write_bytes(_tiny_png())
            code, out, err = _bash(setup + "\n" + block, env, tmp_path)
            assert code == 0, err
            answer = json.loads(out.strip().splitlines()[-1])
            assert answer["output"]["task_id"], answer
            uploads = emu.requests_to("POST", r"/oss")
            assert uploads, "the upload block did not POST the file"
        creates = emu.requests_to("POST", r"/video-synthesis$")
        assert creates and all({k.lower(): v for k, v in r.headers.items()}.get("x-dashscope-async") == "enable"
                               for r in creates)


# ---------------------------------------------------------------------------------------
# ffmpeg recipes in merge-media.md

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")


def _make_fixtures(cwd: Path) -> None:
    def ff(*args: str) -> None:
        subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y"] + list(args), cwd=str(cwd),
                       check=True, timeout=30)

    for name, seconds, freq in (("clip_1.mp4", 2, 440), ("clip_2.mp4", 2, 660)):
        ff("-f", "lavfi", "-i", "testsrc=duration=%d:size=160x90:rate=25" % seconds,
           "-f", "lavfi", "-i", "sine=frequency=%d:duration=%d" % (freq, seconds),
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", name)
    ff("-f", "lavfi", "-i", "testsrc=duration=2:size=160x90:rate=25", "-c:v", "libx264", "-pix_fmt", "yuv420p",
       "silent.mp4")
    ff("-f", "lavfi", "-i", "sine=frequency=330:duration=3", "-c:a", "libmp3lame", "narration.mp3")
    ff("-f", "lavfi", "-i", "sine=frequency=220:duration=1", "-c:a", "libmp3lame", "bgm.mp3")


def _probe(path: Path) -> Tuple[float, List[str]]:
    proc = subprocess.run([FFPROBE, "-v", "error", "-show_entries", "format=duration:stream=codec_type",
                           "-of", "json", str(path)], capture_output=True, text=True, check=True, timeout=30)
    data = json.loads(proc.stdout)
    duration = float(data["format"].get("duration") or 0)
    return duration, sorted(s["codec_type"] for s in data["streams"])


def _recipes() -> List[Tuple[str, Dict[str, str]]]:
    found = []
    for block in code_blocks(REFS / "merge-media.md", "bash"):
        if "ffmpeg" not in block or "-version" in block:
            continue
        expect = re.search(r"^# expect: (.*)$", block, re.M)
        assert expect, "ffmpeg recipe without an '# expect:' line:\n" + block
        found.append((block, dict(item.split("=", 1) for item in expect.group(1).split())))
    return found


def test_ffmpeg_recipes(tmp_path):
    import pytest

    recipes = _recipes()
    assert len(recipes) >= 5
    if not (FFMPEG and FFPROBE):
        pytest.skip("ffmpeg/ffprobe not installed: the merge-media.md recipes cannot be run")
    _make_fixtures(tmp_path)
    for block, expect in recipes:
        code, out, err = _bash(block, {}, tmp_path)
        assert code == 0, "%s\n%s" % (block, err)
        duration, streams = _probe(tmp_path / expect["out"])
        if expect["duration"] != "-":
            assert abs(duration - float(expect["duration"])) <= 0.25, (block, duration)
        assert streams == sorted(expect["streams"].split(",")), (block, streams)


def test_moviepy_recipes_compile():
    for block in code_blocks(REFS / "merge-media.md", "python"):
        compile(block, "merge-media.md", "exec")


# ---------------------------------------------------------------------------------------
# Links, URLs, secrets, .env.example

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_relative_links_resolve():
    for doc in DOCS:
        for target in LINK.findall(FENCE.sub("", doc.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            assert path.exists(), "%s links to missing %s" % (doc.relative_to(ROOT), target)


def test_all_documents_exist():
    for name in ("execution-guide", "request-fields", "workflows", "polling-guide", "merge-media",
                 "prompt-guide", "examples", "sources"):
        assert (REFS / (name + ".md")).is_file(), name
    assert (ROOT / ".env.example").is_file()


def _urls(text: str) -> List[str]:
    return [u.rstrip(".,;:") for u in re.findall(r"https?://[^\s)`\"'<>|{}]+", text)]


def test_urls_come_from_the_reference_files():
    import pytest

    if not SHARED_REFERENCE.is_dir():
        pytest.skip("the shared reference files are not available")
    known = "\n".join(p.read_text(encoding="utf-8") for p in SHARED_REFERENCE.glob("*.md"))
    allowed_hosts = ("img.alicdn.com/imgextra/i1/NotRealJustExample/",)
    for doc in DOCS:
        for url in _urls(doc.read_text(encoding="utf-8")):
            bare = re.sub(r"^https?://", "", url)
            if bare.startswith(allowed_hosts) or bare.startswith(("127.0.0.1", "localhost")):
                continue
            if bare.startswith("www.qianwenai.com/models/"):
                bare = "www.qianwenai.com/models"  # the per-model page pattern
            assert bare in known, "%s: URL not found in the reference files: %s" % (doc.name, url)


def test_no_secrets_in_docs():
    files = DOCS + [ROOT / ".env.example"]
    for doc in files:
        text = doc.read_text(encoding="utf-8")
        for token in re.findall(r"sk-[A-Za-z0-9-]{12,}", text):
            assert token == "sk-your-key-here", "%s contains something that looks like a key" % doc.name
        assert not re.search(r"LTAI[0-9A-Za-z]{8,}", text), doc.name


def _variables_read_by_code() -> set:
    names = set()
    for path in SCRIPTS.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"""(?:ctx\.get|environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']""", text))
        names |= set(re.findall(r"""environ\[\s*["']([A-Z][A-Z0-9_]+)["']\s*\]""", text))
    from qianwen_video import config

    names |= set(config.KEY_VARIABLES)
    return names - OS_VARIABLES


OS_VARIABLES = {"HOME", "USERPROFILE"}  # read to expand ~ in paths; not settings


def test_env_example_covers_every_variable():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    present = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    missing = _variables_read_by_code() - present
    assert not missing, "variables the scripts read but .env.example lacks: %s" % sorted(missing)
    for line in text.splitlines():
        if re.match(r"^[A-Z]", line):  # active (uncommented) assignments hold placeholders only
            name, _, value = line.partition("=")
            assert value in ("sk-your-key-here", ""), line


def test_agent_compatibility_markers():
    text = (ROOT / "agent-compatibility.md").read_text(encoding="utf-8")
    assert "<!-- QIANWEN_SKILLS -->" in text and "<!-- /QIANWEN_SKILLS -->" in text
    for place in (".claude/skills/", ".agents/skills/", "~/.claude/skills/", "~/.agents/skills/"):
        assert place in text, place


def _main(argv: List[str]) -> int:
    if argv == ["--write"]:
        text = MODELS_MD.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            MODELS_MD.write_text(new, encoding="utf-8")
            print("references/models.md regenerated from the catalog")
        else:
            print("references/models.md is up to date")
        return 0
    print("usage: python3 tests/test_docs.py --write   (regenerate the tables in references/models.md)")
    return 64


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


def test_readme_layout_table_names_every_module():
    """README's layout table has a row for each module under scripts/ (packages' __init__ aside)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    listed = set(re.findall(r"^\| `(scripts/[^`]+\.py)` \|", layout, re.M))
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "scripts").rglob("*.py")
               if p.name != "__init__.py" and "__pycache__" not in p.parts}
    assert modules - listed == set(), "add these to README's layout table"
    assert listed - modules == set(), "README's layout table names modules that do not exist"


def test_documented_batch_pair_runs_against_the_emulator(tmp_path):
    """The two-minute batch recipe as written: --submit-only exits 0, then --poll-once is repeated
    while it exits 2 and ends with 0, every item saved and none submitted twice."""
    from tests.emulator import Emulator

    pairs = {}
    for name, line in _doc_calls():
        argv = _argv(line)
        if "--batch" in argv and ("--submit-only" in argv or "--poll-once" in argv):
            pairs.setdefault(name, []).append(argv)
    assert {"SKILL.md", "polling-guide.md"} <= set(pairs)
    for name, calls in pairs.items():
        (submit,) = [argv for argv in calls if "--submit-only" in argv]
        (check,) = [argv for argv in calls if "--poll-once" in argv]
        cwd = tmp_path / name
        cwd.mkdir()
        _create_local_files(submit, cwd)
        with Emulator(api_keys=(KEY,), pending_seconds=0.0, run_seconds=0.1) as emu:
            env = {"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY}
            submitted = _run_cli(submit, cwd, env)
            assert submitted.code == 0, "%s: %s" % (name, submitted.stderr)
            codes = []
            for _ in range(20):
                codes.append(_run_cli(check, cwd, env).code)
                if codes[-1] != 2:
                    break
                time.sleep(0.1)
            assert codes[-1] == 0 and set(codes[:-1]) <= {2}, (name, codes)
            assert emu.created_count() == 2
