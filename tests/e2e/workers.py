"""`tiffin worker` processes for the crash tests: started, SIGKILLed at random, replaced."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from application.settings import Settings, load_settings
from tests.e2e.test_cli import TIFFIN
from tests.polling import Seen, poll_until

RUNNING = "tiffin worker: running"


def worker_environ(database_url: str, data_dir: Path, **tiffin: str) -> dict[str, str]:
    """This process's environment without its TIFFIN_* variables, plus server mode on the
    database and ``tiffin``'s settings (``TIFFIN_…=value``)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIFFIN_")}
    return {
        **clean,
        "TIFFIN_DATA_DIR": str(data_dir),
        "TIFFIN_DATABASE_URL": database_url,
        **tiffin,
    }


def settings_of(environ: Mapping[str, str]) -> Settings:
    """The settings a worker started with this environment runs under."""
    return load_settings({k: v for k, v in environ.items() if k.startswith("TIFFIN_")})


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def running(self) -> bool:
        """Whether it has started its components (the platform is up, its tables exist)."""
        return RUNNING in self.log.read_text()


@dataclass
class Workers:
    """`tiffin worker` processes (every component, or ``only`` some), each logging to a file
    of its own in ``logs``."""

    environ: dict[str, str]
    logs: Path
    only: Sequence[str] = ()
    processes: list[Worker] = field(default_factory=list)
    started: int = 0
    kills: int = 0

    def start(self) -> Worker:
        assert TIFFIN is not None, "the tiffin console script is not installed"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.started += 1
        log = self.logs / f"worker-{self.started}.log"
        only = ["--only", *self.only] if self.only else []
        with log.open("wb") as out:
            process = subprocess.Popen(
                [TIFFIN, "worker", *only], env=self.environ, stdout=out, stderr=subprocess.STDOUT
            )
        worker = Worker(process, log)
        self.processes.append(worker)
        return worker

    @property
    def newest(self) -> Worker:
        return self.processes[-1]

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILLs one of them, chosen at random, and starts another in its place."""
        self.kill(rng.choice(self.processes))

    def kill(self, victim: Worker) -> None:
        """SIGKILLs this one and starts another in its place."""
        self.processes.remove(victim)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        self.kills += 1
        self.start()

    def wait_running(self, worker: Worker, timeout: float) -> None:
        """Waits (polling: it is another process) until the worker has started its components."""

        def look(seen: Seen) -> bool | None:
            assert worker.process.poll() is None, f"the worker exited; see {worker.log}"
            seen.last = f"its log, {worker.log}"
            return True if worker.running() else None

        poll_until(look, within=timeout, what="the worker starting", every=0.01)

    def log_text(self) -> str:
        """Every worker's log, the killed ones' included."""
        return "".join(log.read_text() for log in sorted(self.logs.glob("worker-*.log")))

    def stop(self) -> None:
        for worker in self.processes:
            worker.process.terminate()
        for worker in self.processes:
            worker.process.wait(timeout=30)
