"""The data directory is the platform's alone: directories 0700, database files and secrets
0600, also those an older release left readable."""

from __future__ import annotations

import stat
from pathlib import Path

from application.settings import load_settings
from domain.values import Role
from tests.scenario import cause, open_kitchen, place
from wiring.bootstrap import bootstrap


def modes(data_dir: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(data_dir.stat().st_mode))}
    for path in sorted(data_dir.rglob("*")):
        if (
            path.is_dir()
            or path.suffix in (".sqlite3", ".secret", ".lock")
            or path.name.endswith(("-wal", "-shm"))
        ):
            found[str(path.relative_to(data_dir))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def test_every_database_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "views.sqlite3").touch(mode=0o644)  # as an older release left it
    (data_dir / "views.sqlite3").chmod(0o644)
    settings = load_settings({"TIFFIN_DATA_DIR": str(data_dir)})

    with bootstrap(settings) as tiffin:
        place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        runtime = tiffin.runtime()
        runtime.run_until_idle()
        runtime.stop()
        found = modes(data_dir)  # while open: the WAL files are there

    print(f"\ndata directory modes: {found}")
    databases = [name for name in found if ".sqlite3" in name]
    assert {"ordering.sqlite3", "views.sqlite3", "work.sqlite3"} <= set(databases)
    assert any(name.endswith("-wal") for name in databases)
    directories = {name: mode for name, mode in found.items() if (data_dir / name).is_dir()}
    files = {name: mode for name, mode in found.items() if name not in directories}
    assert set(directories.values()) == {"0o700"}, directories
    assert set(files.values()) == {"0o600"}, files
