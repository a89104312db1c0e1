import warnings

import dagster as dg

iteration_partitions = dg.DynamicPartitionsDefinition(name="iteration")

# Acknowledged once, here: the blocking checks must share the assets' `iteration` partitions (a check
# result per iteration), which Dagster 1.13 still marks as preview. It warns each time it builds or
# copies a check spec (7 times per load of the definitions); every module defining such a check imports this one.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

# Who answers for these assets in the UI's catalog (Dagster owner form: `team:<name>` or an e-mail).
OWNERS = ["team:ml-platform"]
