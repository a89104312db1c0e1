import dagster as dg

iteration_partitions = dg.DynamicPartitionsDefinition(name="iteration")
