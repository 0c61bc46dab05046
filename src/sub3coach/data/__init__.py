"""Big corpora: runner-sharded Parquet datasets (:mod:`.shard` writes, :mod:`.dataset` reads)."""
from sub3coach.data.dataset import ShardDataset, check_spec, iter_prepared, open_dataset, spec_hash

__all__ = ["ShardDataset", "check_spec", "iter_prepared", "open_dataset", "spec_hash"]
