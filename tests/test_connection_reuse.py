"""Kept-alive connections: GETs share one, a create never does, a closed one is never a failure.

Each request the emulator records carries its client port (`connection`): requests with the same
port went over the same TCP connection.
"""
from __future__ import annotations

import gc
import io
import time

from qianwen_video.context import Context
from qianwen_video.net import transport as transport_module
from qianwen_video.net.transport import NoResponse, Transport
from tests.emulator import Emulator
from tests.emulator.actions import Reset
from tests.harness import KEY, creates, env_for, run

AUTH = {"Authorization": "Bearer " + KEY}


def _task_url(emu, name: str = "x") -> str:
    return emu.base_url + "/tasks/" + name


def _wait_until(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def test_a_run_polls_and_downloads_over_one_connection_and_creates_over_its_own(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.2) as emu:
        result = run(["--request", '{"prompt": "a test pattern"}', "--output", "out", "--poll-interval", "0.05"],
                     env_for(emu), tmp_path)
        assert result.code == 0, result.stderr
        (create,) = creates(emu)
        gets = [r for r in emu.requests if r.method == "GET"]
    assert len(gets) >= 3 and any(r.path.startswith("/results/") for r in gets)  # polls, then the video
    assert {r.connection for r in gets} == {gets[0].connection}  # one handshake for all of them
    assert create.connection not in {r.connection for r in gets}  # the paid call is alone on its own
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 1


def test_a_create_never_goes_over_a_kept_connection(tmp_path):
    ctx = Context(environ={}, cwd=tmp_path)
    body = b'{"model": "wan2.6-t2v", "input": {"prompt": "p"}, "parameters": {}}'
    headers = dict(AUTH, **{"Content-Type": "application/json", "X-DashScope-Async": "enable"})
    with Emulator(api_keys=(KEY,)) as emu:
        transport = Transport(ctx)
        transport.request("GET", _task_url(emu))
        transport.request("POST", emu.base_url + "/services/aigc/video-generation/video-synthesis", headers, body)
        transport.request("POST", emu.base_url + "/services/aigc/video-generation/video-synthesis", headers, body)
        transport.request("GET", _task_url(emu))
        first, post1, post2, last = emu.requests
    assert first.connection == last.connection  # the GETs kept theirs
    assert len({first.connection, post1.connection, post2.connection}) == 3  # each create opened its own


def test_a_connection_the_server_closed_while_idle_is_left_and_nothing_fails(tmp_path):
    ctx = Context(environ={}, cwd=tmp_path)
    with Emulator(api_keys=(KEY,)) as emu:
        transport = Transport(ctx)
        assert transport.request("GET", _task_url(emu), AUTH).status == 200
        emu.drop_connections()  # an idle timeout on the server's side
        time.sleep(0.05)  # the FIN arrives
        assert transport.request("GET", _task_url(emu), AUTH).status == 200
        first, second = emu.requests  # no request was lost or repeated
    assert first.connection != second.connection


def test_a_reused_connection_dropped_before_answering_sends_the_get_once_more_on_a_new_one(tmp_path):
    trace = io.StringIO()
    ctx = Context(environ={"QWEN_TRACE": "1"}, cwd=tmp_path, stderr=trace)
    with Emulator(api_keys=(KEY,)) as emu:
        transport = Transport(ctx)
        assert transport.request("GET", _task_url(emu), AUTH).status == 200
        emu.script("GET", r"/tasks/", Reset())  # the race: closed just as the next request arrives
        answer = transport.request("GET", _task_url(emu), AUTH)
        first, dropped, again = emu.requests
    assert answer.status == 200
    assert dropped.action == "Reset" and dropped.connection == first.connection
    assert again.connection != first.connection and again.action is None
    lines = trace.getvalue().splitlines()
    assert len(lines) == 3 and "not answered on a reused connection" in lines[1] and "sent again on a new one" in lines[1]


def test_a_get_dropped_on_a_new_connection_is_not_sent_again_here(tmp_path):
    """Only a reused connection's drop is resent at once; any other loss is the retry policy's to judge."""
    ctx = Context(environ={}, cwd=tmp_path)
    with Emulator(api_keys=(KEY,)) as emu:
        emu.script("GET", r"/tasks/", Reset())
        transport = Transport(ctx)
        try:
            transport.request("GET", _task_url(emu), AUTH)
        except NoResponse:
            pass
        else:
            raise AssertionError("a drop on a new connection must be reported")
        assert len(emu.requests) == 1


def test_an_answer_not_read_to_its_end_does_not_leave_its_connection_for_the_next(tmp_path):
    ctx = Context(environ={}, cwd=tmp_path)
    with Emulator(api_keys=(KEY,), pending_seconds=0.0, run_seconds=0.0, video_size=4 * 1024 * 1024) as emu:
        result = run(["--request", '{"prompt": "p"}', "--output", "out", "--submit-only"], env_for(emu), tmp_path)
        task_id = result.stdout.strip().splitlines()[-1]
        transport = Transport(ctx)
        answer = {}
        _wait_until(lambda: answer.update(transport.request("GET", _task_url(emu, task_id), AUTH).json())
                    or answer["output"]["task_status"] == "SUCCEEDED")
        stream = transport.open("GET", answer["output"]["video_url"])
        assert stream.read(1024)  # a little of the video, then given up
        stream.close()
        transport.request("GET", _task_url(emu, task_id), AUTH)
        status1, video, status2 = [r for r in emu.requests if r.method == "GET"][-3:]
    assert video.connection == status1.connection  # the video's GET took the kept connection ...
    assert status2.connection != video.connection  # ... and, cut short, it was closed, not kept


def test_a_connection_idle_longer_than_the_limit_is_closed_not_reused(tmp_path, monkeypatch):
    now = [1000.0]
    ctx = Context(environ={}, cwd=tmp_path)
    with Emulator(api_keys=(KEY,)) as emu:
        transport = Transport(ctx, clock=lambda: now[0])
        transport.request("GET", _task_url(emu), AUTH)
        now[0] += transport_module.IDLE_LIMIT - 1
        transport.request("GET", _task_url(emu), AUTH)
        now[0] += transport_module.IDLE_LIMIT + 1
        transport.request("GET", _task_url(emu), AUTH)
        first, second, third = emu.requests
    assert first.connection == second.connection != third.connection


def test_idle_connections_are_closed_when_the_transport_goes(tmp_path):
    ctx = Context(environ={}, cwd=tmp_path)
    with Emulator(api_keys=(KEY,)) as emu:
        transport = Transport(ctx)
        transport.request("GET", _task_url(emu), AUTH)
        (kept,) = [conn for conns in transport._idle.values() for conn, _ in conns]  # the pool itself
        assert kept.sock is not None
        del transport
        gc.collect()
        assert kept.sock is None  # closed (http.client drops the socket it closes)
