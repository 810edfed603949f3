"""A writer process for the crash test: saves three-event tallies from 16 threads until killed.

It prints each tally's id once its save is acknowledged (committed).
"""

from __future__ import annotations

import sys
import threading

from tests.integration.write_path import Tally, ledger

WRITERS = 16


def main(database_url: str) -> None:
    app = ledger(database_url)

    def write_forever() -> None:
        while True:
            tally = Tally("crash")
            tally.bump()
            tally.bump()
            app.save(tally)
            sys.stdout.write(f"{tally.id}\n")
            sys.stdout.flush()

    threads = [threading.Thread(target=write_forever, daemon=True) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main(sys.argv[1])
