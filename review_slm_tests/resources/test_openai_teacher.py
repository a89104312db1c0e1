"""OpenAITeacher over a fleet of OpenAI-compatible stand-in replicas (127.0.0.1): spread, back-off, nothing lost."""

import pytest

from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.core.prompts import student_messages
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.openai_teacher import OpenAITeacher
from review_slm.resources.teacher import BudgetExceeded, TeacherBudget
from review_slm.resources.teacher_cache import TeacherCache
from review_slm_tests.resources.fleet_standin import ReplicaState, fleet_standin
from review_slm_tests.resources.test_teacher import rec


def teacher(urls, **kwargs) -> OpenAITeacher:
    return OpenAITeacher(urls=urls, model="teacher", **{"probe_after_s": 0.2, "concurrency": 12, **kwargs})


def cache_in(tmp_path):
    artifacts = LocalArtifactStore(root=str(tmp_path))
    return lambda run: lambda model, digest: TeacherCache(artifacts, model, run, digest=digest)


def test_three_replicas_one_failing_one_pushing_back_every_prompt_answered_once(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fleet")
    states = [
        ReplicaState(latency_s=0.1),
        ReplicaState(latency_s=0.1, fail_first=[503, 500, 503, 503]),  # down at first, then recovers
        ReplicaState(latency_s=0.1, fail_first=[429], retry_after="1"),  # asks for a second's rest
    ]
    records = [rec(i, f"close the body {i}") for i in range(150)]
    with fleet_standin(states) as urls:
        cands, report = teacher(urls).enrich(records)
    assert all(c.review is not None for c in cands) and (report.teacher_failures, report.teacher_invalid) == (0, 0)
    answered = sum((s.answered for s in states), start=__import__("collections").Counter())
    assert len(answered) == 150 and set(answered.values()) == {1}  # each prompt answered once, by one replica
    assert all(sum(s.answered.values()) > 0 for s in states)  # spread, the failing one too once it recovered
    assert report.teacher_calls == 150 + 4 + 1  # each failed request asked again once, elsewhere or later
    assert report.teacher_completion_tokens == 150 * 40 and report.teacher_requests_per_replica.count("=") == 3
    assert states[0].bodies[0]["response_format"]["type"] == "json_schema"
    assert report.teacher_probe_rate_per_s > 0 and report.teacher_estimated_seconds > 0


def test_a_replica_that_keeps_failing_is_taken_out_and_nothing_is_lost():
    states = [ReplicaState(latency_s=0.01), ReplicaState(fail_first=[500] * 1000)]
    with fleet_standin(states) as urls:
        cands, report = teacher(urls, concurrency=4).enrich([rec(i, f"c {i}") for i in range(40)])
    assert all(c.review is not None for c in cands) and sum(states[0].answered.values()) == 40
    assert states[1].posts < 20  # out after 3 failures, then one probe at a time, not a share of the work


def test_retries_are_bounded_and_a_failure_is_recorded_per_row():
    with fleet_standin([ReplicaState(fail_first=[503] * 100)]) as urls:
        cands, report = teacher(urls, max_attempts=3, probe_after_s=0.01).enrich([rec(1, "x"), rec(2, "y")])
    assert [c.failure for c in cands] == ["teacher_failed"] * 2 and "after 3 attempts" in cands[0].error
    assert report.teacher_calls == 6 and report.teacher_failures == 2


def test_invalid_answers_are_retried_once_with_the_error():
    with fleet_standin([ReplicaState()]) as urls:
        cands, report = teacher(urls).enrich([rec(1, "retry-me"), rec(2, "always-bad"), rec(3, "fine")])
    assert cands[0].review is not None and cands[2].review is not None
    assert cands[1].failure == "teacher_invalid" and (report.teacher_invalid, report.teacher_calls) == (1, 5)


def test_the_cache_is_endpoint_independent_a_rerun_asks_nothing(tmp_path):
    cache = cache_in(tmp_path)
    records = [rec(i, f"close {i}") for i in range(5)]
    first, second = ReplicaState(), ReplicaState()
    with fleet_standin([first]) as urls:
        teacher(urls).enrich(records, cache("iter-0001"))
    with fleet_standin([second]) as other_urls:  # another replica, another URL: the same answers
        cands, report = teacher(other_urls).enrich(records, cache("iter-0002"))
    assert first.posts == 5 and second.posts == 0 and report.teacher_cache_hits == 5 and report.teacher_calls == 0
    assert all(c.review is not None for c in cands)


def test_the_budget_refuses_before_the_work_naming_the_setting(tmp_path):
    cache = cache_in(tmp_path)
    state = ReplicaState(latency_s=0.05)
    records = [rec(i, f"close {i}") for i in range(10)]
    with fleet_standin([state]) as urls:
        with pytest.raises(BudgetExceeded, match="max_teacher_prompts=5"):
            teacher(urls).enrich(records, cache("r1"), budget=TeacherBudget(max_prompts=5))
        assert state.posts == 0
        with pytest.raises(BudgetExceeded, match="max_teacher_hours=1e-06"):
            teacher(urls, concurrency=2).enrich(records, cache("r2"), budget=TeacherBudget(max_hours=1e-6))
        assert state.posts == 2  # the probe (one wave) measured the rate; the rest was never asked
        _, report = teacher(urls).enrich(records, cache("r3"))
    assert report.teacher_cache_hits == 2 and state.posts == 2 + 8  # the probe's answers were kept


def test_evaluation_answers_partial_failure_keeps_the_column_and_a_rerun_asks_nothing(tmp_path):
    cache = cache_in(tmp_path)
    prompts = [{"id": f"t:{i}", "messages": student_messages(f"f{i}.go", "go", "@@ -1 +1 @@\n+x")} for i in range(4)]
    state = ReplicaState(fail_first=[400])  # one request refused for good (not retried)
    with fleet_standin([state]) as urls:
        answers, why = teacher(urls, concurrency=1).answer_prompts(prompts, cache_factory=cache("e1"))
        assert len(answers) == 3 and why.startswith("1 of 4 items failed")
        again, why = teacher(urls).answer_prompts(prompts, cache_factory=cache("e2"))
    assert len(again) == 4 and why == "" and state.posts == 5  # only the failed item was asked again
    assert "path" not in state.bodies[0]["response_format"]["json_schema"]["schema"]["$defs"]["Finding"]["required"]


def test_an_unreachable_or_wrong_model_fleet_falls_back_or_fails_loudly():
    dead = "http://127.0.0.1:9/v1"
    cands, report = OpenAITeacher(urls=[dead], model="teacher").enrich([rec(1, "There is a data race on this map.")])
    assert report.teacher_model.startswith(f"none (unreachable: {dead}") and report.teacher_warning
    with fleet_standin([ReplicaState()]) as urls:
        with pytest.raises(RuntimeError, match="is not served"):
            OpenAITeacher(urls=urls, model="other", required=True).enrich([rec(1, "x")])


def test_the_environment_chooses_the_teacher(monkeypatch):
    from review_slm.definitions import teacher_resource
    from review_slm.resources.teacher import OllamaTeacher

    monkeypatch.delenv("REVIEW_SLM_TEACHER_URL", raising=False)
    assert isinstance(teacher_resource(), OllamaTeacher)
    monkeypatch.setenv("REVIEW_SLM_TEACHER_URL", "http://a:8000/v1, http://b:8000/v1")
    monkeypatch.setenv("REVIEW_SLM_TEACHER_MODEL", "Qwen/Qwen2.5-Coder-32B-Instruct")
    chosen = teacher_resource()
    assert isinstance(chosen, OpenAITeacher) and chosen.urls == ["http://a:8000/v1", "http://b:8000/v1"]
    monkeypatch.setenv("REVIEW_SLM_TEACHER_URL", "http://a:8000")
    with pytest.raises(ValueError, match="ending in /v1"):
        teacher_resource()


def test_the_judge_grades_each_models_answers_cached_by_answer(tmp_path):
    import json

    from review_slm.core.judge import judge_requests, judge_scores
    from review_slm.evaluate.eval_sets import eval_items
    from review_slm_tests.resources.fleet_standin import ANSWER

    cache = cache_in(tmp_path)
    items = [{**i, "review": ANSWER} for i in eval_items([], DEFAULT_LANGUAGES)[:3]]
    answers = {
        "candidate": {i["id"]: json.dumps(ANSWER) for i in items},  # names the gold problem
        "base": {i["id"]: "LGTM, ship it" for i in items},  # prose: wrong on every criterion
        "teacher": {items[0]["id"]: json.dumps(ANSWER)},  # a partial column: judged on what it answered
    }
    requests = judge_requests(items, answers)
    judge_replica, teacher_replica = ReplicaState(model="judge"), ReplicaState()
    with fleet_standin([teacher_replica, judge_replica]) as (teacher_url, judge_url):
        graded = OpenAITeacher(urls=[teacher_url], model="teacher", judge_model="judge", judge_urls=[judge_url])
        verdicts, why = graded.judge(requests, cache_factory=cache("e1"))
        assert why == "" and judge_scores(verdicts) == {"candidate": 1.0, "base": 0.0, "teacher": 1.0}
        # The teacher gave the candidate's answer on item 0: the same item and answer, judged once.
        assert judge_replica.posts == 3 + 3 and teacher_replica.posts == 0
        body = judge_replica.bodies[0]
        assert body["model"] == "judge" and set(body["response_format"]["json_schema"]["schema"]["required"]) >= {
            "correct_problem",
            "right_line",
            "actionable",
            "right_severity",
        }
        _, why = graded.judge(requests, cache_factory=cache("e2"))
    assert why == "" and judge_replica.posts == 6  # every verdict from the cache: nothing asked again
    assert "untrusted" in body["messages"][0]["content"] and "<gold_review>" in body["messages"][1]["content"]


def test_the_gate_uses_the_judge_only_when_told():
    from review_slm.core.recipe import load_recipe
    from review_slm.evaluate.promotion_gate import GateDecision, with_judge

    assert load_recipe("tiny").gate.use_judge is False  # the embedded default runs no judge
    passed = GateDecision(True, "base", 0.0, 0.0, "no regression against base (score delta +0.000)")
    assert with_judge(passed, 0.80, 0.81, 0.02).passed
    worse = with_judge(passed, 0.50, 0.81, 0.02)
    assert not worse.passed and "judge score 0.500 < base 0.810" in worse.reason
    blind = with_judge(passed, None, 0.81, 0.02)
    assert not blind.passed and "no judge score" in blind.reason
