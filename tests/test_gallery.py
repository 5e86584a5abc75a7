"""The gallery page (index.html): what the journal records for it, how it is rendered and
escaped, how it is written, and when the CLI writes it. The page in a real browser:
test_gallery_browser.py."""
from __future__ import annotations

import json
import os
import re
import stat
import struct
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qianwen_video import payload
from qianwen_video.store import gallery, journal
from tests.emulator import Emulator
from tests.harness import KEY, env_for, run

HOSTILE = '"><script>window.__hit=1</script><img src=x onerror="window.__hit=2">&amp;\'<!--'


def png(width: int = 48, height: int = 48) -> bytes:
    """A small gradient PNG (a real image a browser can decode)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"".join(bytes((40 + x * 4 % 200, 90 + y * 3 % 150, 160)) for x in range(width))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Page(HTMLParser):
    """Every start tag with its attributes, every text run, and the raw content of scripts/styles."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: List[Tuple[str, Dict[str, Optional[str]]]] = []
        self.text: List[str] = []
        self.raw: Dict[str, List[str]] = {"script": [], "style": []}
        self._inside: Optional[str] = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in self.raw:
            self._inside = tag
            self.raw[tag].append("")

    def handle_endtag(self, tag):
        if tag == self._inside:
            self._inside = None

    def handle_data(self, data):
        if self._inside:
            self.raw[self._inside][-1] += data
        else:
            self.text.append(data)

    def all_text(self) -> str:
        return "".join(self.text)

    def attrs(self, tag: str) -> List[Dict[str, Optional[str]]]:
        return [a for t, a in self.tags if t == tag]


def entry(task_id: str, at: float, **fields) -> Dict[str, object]:
    record = {"task_id": task_id, "submitted_at": at, "model": "wan2.6-t2v", "mode": "t2v",
              "status": "SUCCEEDED", "prompt": "prompt of " + task_id}
    record.update(fields)
    return record


# -- what the journal records ------------------------------------------------------------
def test_request_fields_keep_prompt_settings_and_inputs_but_no_url_secrets(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cat.png").write_bytes(png())
    request = {"prompt": "a cat\nwaves", "negative_prompt": "blur", "img_url": "in/cat.png",
               "audio_url": "https://user:pw-123@cdn.example.com:8443/a/voice.mp3?Expires=1&Signature=s3cr3t#t",
               "resolution": "720P", "duration": 5.0, "seed": 42, "prompt_extend": False}
    body = payload.build(request, "wan2.6-i2v-flash", "i2v").body
    fields = journal.request_fields(request, body, tmp_path, None)
    assert fields == {
        "prompt": "a cat\nwaves", "negative_prompt": "blur", "resolution": "720P", "duration": 5, "seed": 42,
        "inputs": [{"field": "img_url", "path": str(tmp_path / "in" / "cat.png")}],
        "remote_inputs": [{"field": "audio_url", "url": "https://cdn.example.com:8443/a/voice.mp3"}],
    }
    # A native request counts as well; a data: URL keeps only its media type.
    native = {"input": {"prompt": "p", "img_url": "data:image/png;base64," + "A" * 5000},
              "parameters": {"size": "1280*720"}}
    fields = journal.request_fields(native, payload.build(native, "wan2.6-i2v-flash", "i2v").body, tmp_path)
    assert fields == {"prompt": "p", "size": "1280*720", "duration": 5,  # the skill's default duration is sent
                      "remote_inputs": [{"field": "input.img_url", "url": "data:image/png;base64"}]}


def test_failure_fields_are_bounded_strings_from_the_output():
    task = {"output": {"code": "DataInspectionFailed", "message": "x" * 5000, "task_status": "FAILED"}}
    assert journal.failure_fields(task) == {"code": "DataInspectionFailed", "message": "x" * journal.MAX_MESSAGE}
    assert journal.failure_fields({"output": {"code": True, "message": {"a": 1}}}) == {}
    assert journal.failure_fields({"output": "nope"}) == journal.failure_fields(None) == {}


def test_tasks_merge_the_request_and_a_failure_and_a_newer_status_clears_it(tmp_path):
    book = journal.Journal(tmp_path, clock=lambda: 100.0)
    book.append("submitted", "t1", mode="t2v", model="m", prompt="hello", size="1280*720", duration=5)
    book.append("status", "t1", status="FAILED", code="E1", message="first")
    assert {k: book.find("t1")[k] for k in ("prompt", "size", "duration", "status", "code", "message")} == {
        "prompt": "hello", "size": "1280*720", "duration": 5, "status": "FAILED", "code": "E1", "message": "first"}
    book.append("status", "t1", status="RUNNING")
    assert "code" not in book.find("t1") and "message" not in book.find("t1")


# -- rendering ---------------------------------------------------------------------------
def test_every_journal_string_is_escaped_and_round_trips_as_text(tmp_path):
    directory = str(tmp_path)
    hostile = entry(HOSTILE, 10.0, model=HOSTILE, mode=HOSTILE, prompt=HOSTILE, negative_prompt=HOSTILE,
                    seed=HOSTILE, size=HOSTILE, duration=HOSTILE, local_path=str(tmp_path / (HOSTILE.replace("/", "_") + ".mp4")),
                    inputs=[{"field": HOSTILE, "path": str(tmp_path / "x\"><b>.png")}],
                    remote_inputs=[{"field": HOSTILE, "url": "javascript:alert(1)//" + HOSTILE}],
                    batch=str(tmp_path / (HOSTILE.replace("/", "_") + ".manifest.jsonl")), batch_item=1)
    failed = entry("f1", 9.0, status="FAILED", code=HOSTILE, message=HOSTILE)
    page = Page(gallery.render([hostile, failed], directory))
    tags = {t for t, _ in page.tags}
    assert tags <= {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "form", "input",
                    "select", "option", "span", "main", "div", "section", "article", "video", "dl", "dt", "dd",
                    "code", "a", "ul", "li", "img", "time", "strong", "footer", "script"}, tags
    assert all(not name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert page.raw["script"] == [gallery.SCRIPT] and page.raw["style"] == [gallery.STYLE]
    for _, attrs in page.tags:
        for name in ("src", "href"):
            if attrs.get(name):
                assert not re.match(r"^[a-z][a-z0-9+.-]*:", attrs[name]) or attrs[name].startswith("file:"), attrs
    text = page.all_text()
    assert text.count(HOSTILE) >= 8  # prompt, negative, model, mode, seed, size, task id, code, message...
    assert "javascript:alert(1)//" + HOSTILE in text  # a remote input is text, never a link
    assert not any(a.get("href", "").startswith("javascript") for a in page.attrs("a"))


def test_csp_forbids_network_loads_and_allows_exactly_the_inline_style_and_script(tmp_path):
    import base64
    import hashlib

    page = Page(gallery.render([entry("t1", 1.0, local_path=str(tmp_path / "a.mp4"))], str(tmp_path)))
    (csp,) = [a["content"] for a in page.attrs("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == directives["media-src"] == "file:"
    for kind in ("script", "style"):
        digest = base64.b64encode(hashlib.sha256(page.raw[kind][0].encode("utf-8")).digest()).decode()
        assert directives[kind + "-src"] == "'sha256-%s'" % digest
    assert "http" not in csp and "*" not in csp and "unsafe" not in csp


def test_newest_first_batches_grouped_in_item_order(tmp_path):
    entries = [entry("old", 1.0), entry("b2", 2.0, batch="/o/shots.manifest.jsonl", batch_item=2),
               entry("mid", 3.0), entry("b1", 4.0, batch="/o/shots.manifest.jsonl", batch_item=1),
               entry("b3", 2.5, batch="/o/shots.manifest.jsonl", batch_item=3), entry("new", 5.0)]
    text = gallery.render(entries, str(tmp_path))
    assert re.findall(r'data-task="([^"]+)"', text) == ["new", "b1", "b2", "b3", "mid", "old"]
    page = Page(text)
    assert [a["data-batch"] for a in page.attrs("section")] == [os.path.relpath("/o/shots.manifest.jsonl", tmp_path)]
    assert "Batch shots" in page.all_text()


def test_states_code_and_message_of_failed_expired_and_missing_tasks(tmp_path):
    (tmp_path / "here.mp4").write_bytes(b"x")
    entries = [entry("saved", 6.0, local_path=str(tmp_path / "here.mp4")),
               entry("gone", 5.0, local_path=str(tmp_path / "gone.mp4")),
               entry("failed", 4.0, status="FAILED", code="DataInspectionFailed", message="Input data may contain "
                     "inappropriate content."),
               entry("expired", 3.0, status="UNKNOWN"), entry("canceled", 2.0, status="CANCELED"),
               entry("running", 1.0, status="RUNNING"), entry("nodownload", 0.5)]
    text = gallery.render(entries, str(tmp_path), exists=os.path.isfile)
    cards = dict(re.findall(r'data-status="([a-z]+)"[^>]*data-task="([^"]+)"', text))
    assert {task: state for state, task in cards.items()} == {
        "saved": "saved", "gone": "missing", "failed": "failed", "expired": "expired", "canceled": "canceled",
        "running": "running", "nodownload": "undownloaded"}
    assert text.count("<video ") == 1 and 'src="here.mp4"' in text
    assert "DataInspectionFailed" in text and "Input data may contain inappropriate content." in text
    assert "expired or not found" in text


def test_file_links_are_relative_and_percent_encoded(tmp_path):
    entries = [entry("t1", 1.0, local_path=str(tmp_path / "a b#1?.mp4"),
                     inputs=[{"field": "img_url", "path": str(tmp_path.parent / "in" / "猫 1.png")}])]
    page = Page(gallery.render(entries, str(tmp_path)))
    assert page.attrs("video")[0]["src"] == "a%20b%231%3F.mp4"
    assert page.attrs("img")[0]["src"] == "../in/%E7%8C%AB%201.png"
    assert "a b#1?.mp4" in page.all_text() and os.path.join("..", "in", "猫 1.png") in page.all_text()


def test_long_text_and_many_tasks_are_bounded(tmp_path):
    entries = [entry("t%d" % i, float(i), prompt="p" * 10000 if i == 999 else "x") for i in range(1000)]
    text = gallery.render(entries, str(tmp_path))
    assert text.count("<article ") == gallery.MAX_CARDS
    assert "p" * gallery.MAX_PROMPT + "\u2026 (%d more characters)" % (10000 - gallery.MAX_PROMPT) in text
    assert "p" * (gallery.MAX_PROMPT + 1) not in text
    assert "500 older tasks not shown here" in text
    assert 'data-task="t999"' in text and 'data-task="t499"' not in text  # the newest are kept
    assert len(text) < 2_000_000


def test_lone_surrogates_and_control_characters_never_break_the_page(tmp_path):
    record = json.loads('{"task_id": "t1", "prompt": "a\\ud800b\\u0000c\\u001b[31m", "model": "m\\udfff"}')
    text = gallery.render([record], str(tmp_path))
    text.encode("utf-8")  # no UnicodeEncodeError
    assert "a\ufffdb\ufffdc\ufffd[31m" in text and "\x00" not in text and "\x1b" not in text


def test_list_helpers():
    e = {"resolution": "720P", "ratio": "16:9", "duration": 5, "prompt": " a\n long   prompt " + "z" * 80,
         "status": "FAILED", "code": "DataInspectionFailed"}
    assert gallery.resolution_of(e) == "720P 16:9" and gallery.duration_of(e) == "5 s"
    assert gallery.excerpt(e["prompt"]) == ("a long prompt " + "z" * 80)[:39] + "\u2026"
    assert gallery.status_text(e) == "FAILED (DataInspectionFailed)"
    assert gallery.resolution_of({}) == gallery.duration_of({}) == gallery.excerpt(None) == ""


# -- writing -----------------------------------------------------------------------------
def test_write_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me", encoding="utf-8")
    directory = tmp_path / "out"
    directory.mkdir()
    (directory / gallery.INDEX_NAME).symlink_to(outside)
    page = gallery.write(directory, "<p>new</p>")
    assert outside.read_text(encoding="utf-8") == "keep me"
    assert not page.is_symlink() and page.read_text(encoding="utf-8") == "<p>new</p>"
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    assert sorted(p.name for p in directory.iterdir()) == [gallery.INDEX_NAME]


def test_write_fsyncs_before_the_rename_and_a_failed_rename_keeps_the_old_page(tmp_path, monkeypatch):
    gallery.write(tmp_path, "old page")
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        calls.append(("fsync", os.fstat(fd).st_size))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    def broken_replace(src, dst):
        calls.append(("replace", src, dst))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        gallery.write(tmp_path, "new page")
    assert calls[0] == ("fsync", len("new page")) and calls[1][0] == "replace" and len(calls) == 2
    assert Path(calls[1][1]).parent == tmp_path and calls[1][2] == str(tmp_path / gallery.INDEX_NAME)
    assert (tmp_path / gallery.INDEX_NAME).read_text(encoding="utf-8") == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == [gallery.INDEX_NAME]  # the temporary file is gone


def test_a_killed_writers_old_temporary_file_is_removed_a_fresh_one_kept(tmp_path):
    old, fresh = tmp_path / ".index.html.abc.part", tmp_path / ".index.html.def.part"
    old.write_text("x")
    fresh.write_text("y")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    gallery.write(tmp_path, "page")
    assert not old.exists() and fresh.exists()


def test_refresh_warns_instead_of_raising(tmp_path, monkeypatch):
    journal.Journal(tmp_path).append("submitted", "t1", model="m")
    (tmp_path / gallery.INDEX_NAME).mkdir()  # something that cannot be replaced by a file
    warnings: List[str] = []
    assert gallery.refresh(tmp_path, warnings.append) is None
    assert len(warnings) == 1 and "could not write the gallery page" in warnings[0] and "--gallery" in warnings[0]
    assert gallery.refresh(tmp_path / "nothing-here", warnings.append) is None and len(warnings) == 1
    (tmp_path / gallery.INDEX_NAME).rmdir()

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(gallery, "render", broken)  # a bug must not fail the run that saved a paid video
    assert gallery.refresh(tmp_path, warnings.append) is None
    assert "internal error: RuntimeError: a bug" in warnings[1]


# -- the CLI -----------------------------------------------------------------------------
@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as server:
        yield server


def test_a_saved_video_rewrites_the_page_and_list_shows_the_request(emu, tmp_path):
    (tmp_path / "cat.png").write_bytes(png())
    request = {"prompt": "a cat <waves> & smiles", "img_url": "cat.png", "resolution": "720P", "duration": 5,
               "seed": 7}
    result = run(["--request", json.dumps(request), "--output", "out", "--poll-interval", "0.05"], env_for(emu),
                 tmp_path)
    assert result.code == 0, result.stderr
    (task,) = journal.Journal(tmp_path / "out").tasks().values()
    assert {k: task[k] for k in ("prompt", "resolution", "duration", "seed", "inputs")} == {
        "prompt": request["prompt"], "resolution": "720P", "duration": 5, "seed": 7,
        "inputs": [{"field": "img_url", "path": str(tmp_path / "cat.png")}]}
    text = (tmp_path / "out" / gallery.INDEX_NAME).read_text(encoding="utf-8")
    assert str(tmp_path) not in text  # every path on the page is relative to it: the folder can move
    page = Page(text)
    (video,) = page.attrs("video")
    assert (tmp_path / "out" / video["src"]).resolve() == Path(task["local_path"]).resolve()
    assert video["preload"] == "metadata" and "controls" in video
    assert page.attrs("img")[0]["src"] == "../cat.png"
    assert request["prompt"] in page.all_text() and task["task_id"] in page.all_text()

    listed = run(["--list", "--output", "out"], env_for(emu), tmp_path)
    header, _, row = listed.stdout.splitlines()[:3]
    assert header.split() == ["task", "id", "submitted", "mode", "model", "status", "resolution", "duration",
                              "prompt", "local", "file"]
    assert "720P" in row and "5 s" in row and "a cat <waves> & smiles" in row


def test_a_failed_task_shows_its_code_and_message_in_list_and_page(emu, tmp_path):
    emu.script_task(["PENDING", "FAILED"], code="DataInspectionFailed", message="Input <b>text</b> rejected")
    result = run(["--request", json.dumps({"prompt": "x"}), "--output", "out", "--poll-interval", "0.05"],
                 env_for(emu), tmp_path)
    assert result.code == 1
    assert not (tmp_path / "out" / gallery.INDEX_NAME).exists()  # written after saves and batches, or on demand
    written = run(["--gallery", "--output", "out"], env_for(emu), tmp_path)
    assert written.code == 0 and "Gallery written: " in written.stderr and "(0 saved videos of 1 tasks)" in written.stderr
    text = (tmp_path / "out" / gallery.INDEX_NAME).read_text(encoding="utf-8")
    assert "Input &lt;b&gt;text&lt;/b&gt; rejected" in text and "DataInspectionFailed" in text
    assert 'data-status="failed"' in text
    listed = run(["--list", "--output", "out"], env_for(emu), tmp_path)
    assert "FAILED (DataInspectionFailed)" in listed.stdout


def test_a_batch_writes_the_page_with_its_items_grouped(emu, tmp_path):
    items = [{"prompt": "shot %d" % i, "model": "happyhorse-1.0-t2v", "duration": 3} for i in (1, 2)]
    (tmp_path / "shots.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    result = run(["--batch", "shots.jsonl", "--output", "out", "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    tasks = journal.Journal(tmp_path / "out").tasks()
    assert sorted((t["batch_item"], t["prompt"], t["duration"]) for t in tasks.values()) == [
        (1, "shot 1", 3), (2, "shot 2", 3)]
    page = Page((tmp_path / "out" / gallery.INDEX_NAME).read_text(encoding="utf-8"))
    (section,) = page.attrs("section")
    assert section["data-batch"] == "shots.manifest.jsonl"  # relative: the page names no absolute path
    assert "Batch shots" in page.all_text() and len(page.attrs("video")) == 2


def test_a_batch_without_a_saved_video_still_writes_the_page_at_its_end(emu, tmp_path):
    emu.script_task(["PENDING", "FAILED"], code="InternalError.Algo", message="algo failed")
    (tmp_path / "b.jsonl").write_text(json.dumps({"prompt": "one", "model": "happyhorse-1.0-t2v"}) + "\n",
                                      encoding="utf-8")
    result = run(["--batch", "b.jsonl", "--output", "out", "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert result.code == 1
    text = (tmp_path / "out" / gallery.INDEX_NAME).read_text(encoding="utf-8")
    assert 'data-status="failed"' in text and "InternalError.Algo" in text and "algo failed" in text


def test_gallery_flag_without_a_journal_and_with_print_response(emu, tmp_path):
    result = run(["--gallery", "--output", "empty"], {}, tmp_path)
    assert result.code == 0 and "No tasks recorded in" in result.stderr
    assert not (tmp_path / "empty").exists()
    journal.Journal(tmp_path / "out").append("submitted", "t1", model="m", mode="t2v", prompt="p")
    result = run(["--gallery", "--output", "out", "--print-response"], {}, tmp_path)
    assert result.code == 0
    assert result.json() == {"gallery": str(tmp_path / "out" / gallery.INDEX_NAME),
                             "journal": str(tmp_path / "out" / journal.JOURNAL_NAME), "tasks": 1,
                             "states": {"running": 1}}


@pytest.mark.parametrize("extra", [["--request", "{}"], ["--task-id", "abc"], ["--batch", "b.jsonl"], ["--list"],
                                   ["--dry-run"]])
def test_gallery_flag_refuses_other_commands(tmp_path, extra):
    result = run(["--gallery"] + extra, {}, tmp_path)
    assert result.code == 64 and "--gallery only rewrites index.html" in result.stderr


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=40))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.sampled_from(["field", "path", "url", "x"]),
                                                                         inner, max_size=3)), max_leaves=8)
_KEYS = ["status", "local_path", "prompt", "negative_prompt", "model", "mode", "resolution", "size", "ratio",
         "duration", "seed", "submitted_at", "code", "message", "batch", "batch_item", "inputs", "remote_inputs"]


# New examples every run: coverage adds up across runs, each run keeps the suite under a minute.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"task_id": st.text(min_size=1, max_size=20)},
                                      optional={k: _VALUES for k in _KEYS}), max_size=5))
def test_any_journal_values_render_a_well_formed_page(tmp_path, entries):
    """Journal lines are read back from disk: any JSON value in any field renders, escaped."""
    text = gallery.render(entries, str(tmp_path), exists=lambda path: len(path) % 2 == 0, now=1.0)
    text.encode("utf-8")
    page = Page(text)
    assert page.raw["script"] == [gallery.SCRIPT]
    assert len(page.attrs("article")) == len(entries)
    assert all(not name.startswith("on") for _, attrs in page.tags for name in attrs)


def test_the_page_reads_only_the_newest_tasks_of_a_long_journal(tmp_path, monkeypatch):
    """Written after every saved video, the page must cost the same with a journal of years:
    it reads the journal from its end, MAX_CARDS + 1 tasks at most, never the whole history."""
    book = journal.Journal(tmp_path, clock=lambda: 100.0)
    for i in range(gallery.MAX_CARDS + 5):
        book.append("submitted", "t%d" % i, submitted_at=float(i), model="m", mode="t2v", prompt="p%d" % i)

    def whole_journal(_self):
        raise AssertionError("the gallery read the whole journal")

    monkeypatch.setattr(journal.Journal, "tasks", whole_journal)
    monkeypatch.setattr(journal.Journal, "records", whole_journal)
    page, counts = gallery.build(tmp_path, clock=lambda: 100.0)
    text = page.read_text(encoding="utf-8")
    assert text.count("<article ") == gallery.MAX_CARDS and sum(counts.values()) == gallery.MAX_CARDS
    assert 'data-task="t%d"' % (gallery.MAX_CARDS + 4) in text and 'data-task="t4"' not in text
    assert "Older tasks are not shown here" in text and "newest %d tasks" % gallery.MAX_CARDS in text


@pytest.mark.parametrize("path, shown, link", [
    ("/out/clip.mp4", "clip.mp4", "clip.mp4"),
    ("/out/a b#1?.mp4", "a b#1?.mp4", "a%20b%231%3F.mp4"),
    ("/out/sub/clip.mp4", "sub/clip.mp4", "sub/clip.mp4"),
    ("/elsewhere/clip.mp4", "../elsewhere/clip.mp4", "../elsewhere/clip.mp4"),
    ("clip.mp4", "clip.mp4", "clip.mp4"),  # a relative path is the page folder's
    ("/out/../clip.mp4", "../clip.mp4", "../clip.mp4"),
    ("/out/./clip.mp4", "clip.mp4", "clip.mp4"),
])
def test_how_the_page_names_and_links_a_file(path, shown, link):
    from qianwen_video.store import gallery

    assert gallery.relative(path, "/out") == shown
    assert gallery.href(path, "/out") == link
