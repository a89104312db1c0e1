import functools
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

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


P = ParamSpec("P")
R = TypeVar("R")


def requires_iteration(check: Callable[P, R]) -> Callable[P, R]:
    """An asset check of one iteration fails, saying to pick one, when run without a partition.

    The UI's "Execute all" on a partitioned asset's checks launches a check-only run without a partition
    key; the check would otherwise fail deep inside Dagster on `context.partition_key`."""

    @functools.wraps(check)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        context = kwargs.get("context", args[0] if args else None)
        if not getattr(context, "has_partition_key", True):
            raise dg.Failure(
                description=f"{check.__name__} checks one iteration and this run has no partition: pick an iteration "
                "partition. Materialize the asset for that partition (its checks run with it), or launch the checks "
                'from the launchpad with the partition chosen; "Execute all" on the Checks tab launches a run '
                "without one.",
                allow_retries=False,
            )
        return check(*args, **kwargs)

    return checked


def iteration_asset(*, group: str, **asset_kwargs) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`dg.asset` for one stage of an iteration: partitioned by `iteration`, owned by the team, grouped and tagged by
    its stage (`group` is both the UI's group and the `stage` tag), with the asset's own kinds, version, description
    and policies in `asset_kwargs`."""
    return dg.asset(
        partitions_def=iteration_partitions, group_name=group, owners=OWNERS, tags={"stage": group}, **asset_kwargs
    )
