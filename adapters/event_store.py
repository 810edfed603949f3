"""Event store configuration: SQLite files (embedded) or PostgreSQL (server mode)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from adapters.keyring_cipher import CIPHER_KEYS, KEYRING_CIPHER_TOPIC
from adapters.private_files import private_database
from application.settings import Settings

GROUP_COMMIT_FACTORY_TOPIC = "adapters.group_commit:GroupCommitFactory"
COMPRESSOR_TOPIC = "adapters.event_compression:LargeStatesCompressed"


def event_store_env(settings: Settings, app_name: str, keys: Sequence[str]) -> dict[str, str]:
    """The eventsourcing environment for one application under these settings.

    Embedded: one SQLite file per application under the data directory. Server mode: the
    PostgreSQL database of ``TIFFIN_DATABASE_URL`` (each application its own tables), or the
    context's own (``TIFFIN_ORDERING_DATABASE_URL``, ...), written through the group-commit
    recorder.
    Stored events of 1 KiB or more are compressed (``adapters/event_compression.py``); all
    are encrypted with the newest of ``keys`` when there are any (``adapters/event_keys.py``).
    """
    create = "y" if settings.create_tables else "n"  # off: `tiffin migrate` creates them
    env = {"COMPRESSOR_TOPIC": COMPRESSOR_TOPIC, "CREATE_TABLE": create}
    if keys:
        env["CIPHER_TOPIC"] = KEYRING_CIPHER_TOPIC
        env[CIPHER_KEYS] = ",".join(keys)
    database_url = settings.context_database_url(app_name)
    if database_url is None:
        env.update(_sqlite_env(settings.data_dir, app_name))
    else:
        env.update(postgres_env(database_url))
        env["PERSISTENCE_MODULE"] = GROUP_COMMIT_FACTORY_TOPIC
        env["GROUP_COMMIT_MAX_BATCH"] = str(settings.write_batch_max)
        env["GROUP_COMMIT_IN_FLIGHT"] = str(settings.write_batches_in_flight)
        env["POSTGRES_POOL_SIZE"] = str(settings.database_pool_size)
        env["POSTGRES_MAX_OVERFLOW"] = str(settings.database_pool_overflow)
    return env


def _sqlite_env(data_dir: Path, app_name: str) -> dict[str, str]:
    database = private_database(data_dir / f"{app_name.lower()}.sqlite3")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(database),
        "SQLITE_LOCK_TIMEOUT": "10",
    }


def postgres_env(database_url: str) -> dict[str, str]:
    """eventsourcing's POSTGRES_* settings from a ``postgresql://`` URL."""
    params = conninfo_to_dict(database_url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
    }
    options = str(params.get("options") or "")
    if "search_path=" in options:
        env["POSTGRES_SCHEMA"] = options.split("search_path=", 1)[1].split()[0]
    return env
