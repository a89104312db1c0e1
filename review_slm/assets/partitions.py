import dagster as dg

iteration_partitions = dg.DynamicPartitionsDefinition(name="iteration")

# Who answers for these assets in the UI's catalog (Dagster owner form: `team:<name>` or an e-mail).
OWNERS = ["team:ml-platform"]
