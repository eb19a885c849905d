"""The result store: studies, runs, trials and curves in SQLite or PostgreSQL.

- `engine`: store targets (paths, URLs; passwords hidden) and the engines that open them.
- `optuna_storage`: the Optuna storage that belongs with a store, and opening it.
- `store`: the `Store` itself: its schema, migrations, reads, writes and study locks.
"""

from suite.store import engine, optuna_storage, store
from suite.store.engine import hide_password, parse_target, public_target
from suite.store.optuna_storage import close_rdb_storage, optuna_storage_for, rdb_storage
from suite.store.store import DEFAULT_PATH, SCHEMA_VERSION, Store, now

__all__ = ["DEFAULT_PATH", "SCHEMA_VERSION", "Store", "close_rdb_storage", "engine",
           "hide_password", "now", "optuna_storage", "optuna_storage_for", "parse_target",
           "public_target", "rdb_storage", "store"]
