"""The device registry in the work database (SQLite or PostgreSQL): ``tiffin_devices``, one
row per FCM token, with the party holding it."""

from __future__ import annotations

from adapters.sql import SqlDatabase, create_tables
from application.devices import Device

CREATE_TABLES = (
    "CREATE TABLE IF NOT EXISTS tiffin_devices ("
    " token TEXT PRIMARY KEY, party TEXT NOT NULL, registered_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tiffin_devices_party ON tiffin_devices (party, registered_at)",
)
REGISTER = (
    "INSERT INTO tiffin_devices (token, party, registered_at) VALUES (?, ?, ?)"
    " ON CONFLICT (token) DO UPDATE SET party = excluded.party,"
    " registered_at = excluded.registered_at"
)
PARTY_DEVICES = (
    "SELECT token, party, registered_at FROM tiffin_devices WHERE party = ?"
    " ORDER BY registered_at DESC, token"
)


class SqlDeviceRegistry:
    def __init__(self, database: SqlDatabase, max_devices: int) -> None:
        self.database = database
        self.max_devices = max_devices
        create_tables(database, CREATE_TABLES, "tiffin-devices-ddl")

    def register(self, party: str, token: str, now: float) -> tuple[Device, bool]:
        with self.database.transaction() as run:
            held = run("SELECT party FROM tiffin_devices WHERE token = ?", (token,)).fetchone()
            run(REGISTER, (token, party, now))
            run(  # past the limit, the party's least recently registered devices go
                "DELETE FROM tiffin_devices WHERE party = ? AND token NOT IN ("
                " SELECT token FROM tiffin_devices WHERE party = ?"
                " ORDER BY registered_at DESC, token LIMIT ?)",
                (party, party, self.max_devices),
            )
        return Device(token, party, now), held is None or held[0] != party

    def remove(self, token: str, party: str | None = None) -> bool:
        with self.database.transaction() as run:
            if party is None:
                cursor = run("DELETE FROM tiffin_devices WHERE token = ?", (token,))
            else:
                cursor = run(
                    "DELETE FROM tiffin_devices WHERE token = ? AND party = ?", (token, party)
                )
            return bool(cursor.rowcount == 1)

    def devices(self, party: str) -> list[Device]:
        with self.database.transaction() as run:
            rows = run(PARTY_DEVICES, (party,)).fetchall()
        return [Device(token, holder, float(at)) for token, holder, at in rows]

    def holder(self, token: str) -> str | None:
        with self.database.transaction() as run:
            row = run("SELECT party FROM tiffin_devices WHERE token = ?", (token,)).fetchone()
        return None if row is None else str(row[0])
