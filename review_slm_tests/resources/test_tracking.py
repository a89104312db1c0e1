"""MLflow that cannot be reached is an error naming the URI; "no champion" only when the registry says so."""

import socket

import pytest

from review_slm.resources.tracking import MlflowTracking, TrackingUnreachable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on exit: connecting is refused at once


@pytest.mark.parametrize("call", ["champion", "promoted_before", "promote"])
def test_unreachable_server_fails_every_registry_call_with_the_uri(call):
    uri = f"http://127.0.0.1:{_closed_port()}"
    tracking = MlflowTracking(tracking_uri=uri, probe_timeout_s=2)
    args = {"champion": (), "promoted_before": ("iter-0002",), "promote": ("/m", "iter-0001", "r")}[call]
    with pytest.raises(TrackingUnreachable, match=f"MLflow at {uri} cannot be reached"):
        getattr(tracking, call)(*args)


def test_a_registry_that_answers_none_means_none(tmp_path):
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/m.db", artifact_root=str(tmp_path / "a"))
    assert tracking.champion() is None and tracking.promoted_before("iter-0002") is None
    tracking.promote(str(tmp_path / "model"), "iter-0001", "")
    assert tracking.promoted_before("iter-0002").iteration == "iter-0001" and tracking.champion().version == "1"
    tracking.promote(str(tmp_path / "model2"), "iter-0002", "")  # the model exists now: no error on create
    assert tracking.champion().version == "2"


def test_a_key_of_another_form_is_refused_with_the_expected_form(tmp_path):
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/m.db")
    with pytest.raises(ValueError, match=r"'my-experiment' is not of the form iter-NNNN .*review-slm iteration next"):
        tracking.promoted_before("my-experiment")
