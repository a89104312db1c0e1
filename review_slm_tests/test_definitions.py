import dagster as dg

from review_slm.definitions import defs

EXPECTED = {"mined_reviews", "hf_supplement", "gold_set", "gold_set_quarantine", "parent_model", "sft_adapter", "preference_pairs", "dpo_model", "eval_report", "deployed_endpoint"}
GROUPS = {"data", "training", "evaluation", "deployment"}


def test_graph_reads_like_the_pipeline():
    graph = defs.resolve_asset_graph()
    specs = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    assert set(specs) == EXPECTED
    for name, node in specs.items():
        assert node.partitions_def is not None and node.partitions_def.name == "iteration", name
        assert node.group_name in GROUPS, name
        assert node.description and node.code_version and node.kinds, name
    assert {p.to_user_string() for p in graph.get(dg.AssetKey("gold_set")).parent_keys} == {"mined_reviews", "hf_supplement"}
    assert {p.to_user_string() for p in graph.get(dg.AssetKey("deployed_endpoint")).parent_keys} == {"eval_report"}
    check = graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey("eval_report"), "no_regression_vs_champion"))
    assert check.blocking
    assert defs.resolve_job_def("iteration_job") is not None
