"""The pure decisions over a task's answers, as tables with no emulator. First
tasks.recover.decide, the rule that settles an unanswered create: which listed task (if any) it made. A table, no emulator: each row is candidates as the task list shows them, the age
of the submit, and the one decision allowed. Adopting the wrong task gives the user someone
else's video; deciding "none" too early pays twice."""
from __future__ import annotations

import pytest

from qianwen_video.tasks import recover
from qianwen_video.tasks.recover import ADOPT, AMBIGUOUS, FOREIGN, NONE, SETTLE, WAIT, Candidate, decide

SENT = "a paper boat on a rainy street"
YOUNG, OLD = 5.0, SETTLE + 1.0


def c(task_id: str, status: str = "SUCCEEDED", prompt=SENT) -> Candidate:
    return Candidate(task_id, status, 0, prompt)


ROWS = [
    # (why, candidates, sent prompt, age, kind, task ids the decision names)
    ("nothing listed yet, too soon to believe it", [], SENT, YOUNG, WAIT, []),
    ("nothing listed after the settle time: nothing was made", [], SENT, OLD, NONE, []),
    ("one task shows the prompt sent", [c("t1")], SENT, YOUNG, ADOPT, ["t1"]),
    ("one of ours among others", [c("t1", prompt="another"), c("t2")], SENT, OLD, ADOPT, ["t2"]),
    ("the prompt matches once whitespace around it is ignored", [c("t1", prompt="  %s\n" % SENT)], SENT, OLD,
     ADOPT, ["t1"]),
    ("two tasks show our prompt: nothing proves which", [c("t1"), c("t2")], SENT, OLD, AMBIGUOUS, ["t1", "t2"]),
    ("a running task shows no prompt yet: wait for it", [c("t1", "RUNNING", None)], SENT, YOUNG, WAIT, ["t1"]),
    ("still waiting after the settle time while it runs", [c("t1", "PENDING", None)], SENT, OLD, WAIT, ["t1"]),
    ("a finished task that never shows a prompt can never be confirmed", [c("t1", "FAILED", None)], SENT, OLD,
     AMBIGUOUS, ["t1"]),
    ("someone else's task, too soon to say ours is not coming", [c("t1", prompt="another")], SENT, YOUNG,
     FOREIGN, ["t1"]),
    ("someone else's task after the settle time: ours was not made", [c("t1", prompt="another")], SENT, OLD,
     NONE, []),
    ("no prompt was sent: nothing can prove a match", [c("t1", prompt="")], "", OLD, AMBIGUOUS, ["t1"]),
    ("more tasks than can be read one by one", [c("t%d" % i) for i in range(recover.MAX_EXAMINED + 1)], SENT,
     OLD, AMBIGUOUS, ["t%d" % i for i in range(recover.MAX_EXAMINED + 1)]),
]


@pytest.mark.parametrize("why,candidates,sent,age,kind,ids", ROWS, ids=[row[0] for row in ROWS])
def test_decide(why, candidates, sent, age, kind, ids):
    decision = decide(candidates, sent, age)
    assert decision.kind == kind, why
    assert [candidate.task_id for candidate in decision.candidates] == ids, why
    assert decision.task_id == (ids[0] if kind == ADOPT else None)


def test_a_task_is_adopted_only_on_its_own_shown_prompt():
    """Whatever else is listed, a candidate without the sent prompt is never the one adopted."""
    for _, candidates, sent, age, _, _ in ROWS:
        decision = decide(candidates, sent, age)
        if decision.kind == ADOPT:
            assert decision.candidates[0].prompt.strip() == sent.strip()


# -- the other pure reads of a task answer ---------------------------------------------------
from qianwen_video.tasks.finish import video_url_of  # noqa: E402
from qianwen_video.tasks.follow import TERMINAL, WAITING, status_of  # noqa: E402

URL = "https://dashscope-result.example/v.mp4?Expires=1"


@pytest.mark.parametrize("output,expected", [
    ({"video_url": URL}, URL),  # Wan, HappyHorse, wan3.0
    ({"results": [{"url": URL}]}, URL),  # older answers
    ({"results": {"video_url": URL}}, URL),  # animate, s2v
    ({"output_video_url": URL}, URL),  # style transfer
    ({"video_url": "", "results": {"video_url": URL}}, URL),
    ({"video_url": 7, "results": [7]}, None),
    ({"results": [{"url": {"nested": URL}}]}, None),
    ({"results": []}, None),
    ({}, None),
])
def test_every_documented_result_shape_gives_the_video_url(output, expected):
    assert video_url_of(output) == expected


@pytest.mark.parametrize("status", WAITING)
def test_running_statuses_of_every_family_are_not_final(status):
    assert status_of({"output": {"task_status": status.lower()}}) == status and status not in TERMINAL
