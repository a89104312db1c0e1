"""A configuration mistake fails when the definitions load, naming the variable (not later, inside an asset)."""

import pytest

from review_slm import definitions, settings


@pytest.mark.parametrize(
    "variable, value",
    [
        ("REVIEW_SLM_HF_ADAPTER", "codereview"),
        ("REVIEW_SLM_REPOS", "kubeflow/trainer, not a repo"),
        ("REVIEW_SLM_REPOS", " , "),
        ("REVIEW_SLM_RECIPE", "tiyn"),
        ("REVIEW_SLM_TEACHER_REQUIRED", "yes"),
        ("REVIEW_SLM_LANGUAGES", "go,pyhton"),
    ],
)
def test_a_bad_setting_fails_at_load_naming_the_variable(monkeypatch, home, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        definitions.local_resources()


def test_a_bad_profile_names_the_variable(monkeypatch):
    monkeypatch.setenv("REVIEW_SLM_PROFILE", "prod")
    with pytest.raises(ValueError, match="REVIEW_SLM_PROFILE='prod'"):
        settings.profile()


def test_a_configured_teacher_host_is_marked_configured(monkeypatch, home):
    monkeypatch.setenv("OLLAMA_HOST", "http://ollama.internal:11434")
    teacher = definitions.local_resources()["teacher"]
    assert teacher.configured and teacher.host == "http://ollama.internal:11434" and not teacher.required
