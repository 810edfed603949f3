"""A real Kafka wire-protocol broker for tests and benchmarks: librdkafka's mock cluster,
driven through ctypes.

No Apache Kafka broker can be installed on this machine, so tests that need Kafka over TCP
(aiokafka producers and consumers) talk to the mock cluster built into librdkafka instead. It
listens on 127.0.0.1, answers the Kafka protocol (metadata, produce, fetch, consumer groups,
idempotent producer ids) and can take its brokers down and bring them back up, which simulates
an outage. The library is the copy bundled in confluent-kafka's wheel
(site-packages/confluent_kafka.libs/librdkafka*.so*); confluent-kafka itself is never imported.

Known limits of the mock: topics must be created here (`create_topic`), since it does not serve
the admin CreateTopics request; it does not honour `isolation_level="read_committed"`; and
consumers reading transaction markers need `check_crcs=False`.

A missing or unloadable library raises `MockKafkaUnavailable`: a failure, never a skip.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path
from types import TracebackType
from typing import Self

RD_KAFKA_PRODUCER = 0  # rd_kafka_type_t: the mock cluster needs a client handle to live in
ERROR_BUFFER_SIZE = 512
RD_KAFKA_RESP_ERR_NO_ERROR = 0
FIRST_BROKER_ID = 1  # the mock numbers its brokers 1..N


class MockKafkaUnavailable(RuntimeError):
    """librdkafka (from the confluent-kafka wheel) could not be found, loaded or started."""


class MockKafkaError(RuntimeError):
    """A mock cluster call answered with a librdkafka error code."""


def find_librdkafka() -> Path:
    """The librdkafka shared library shipped next to the installed confluent_kafka package."""
    spec = importlib.util.find_spec("confluent_kafka")
    if spec is None or not spec.submodule_search_locations:
        raise MockKafkaUnavailable(
            "confluent-kafka is not installed; the Kafka tests need its bundled librdkafka "
            "(pip install 'confluent-kafka==2.16.*')"
        )
    site_packages = Path(next(iter(spec.submodule_search_locations))).parent
    candidates = sorted((site_packages / "confluent_kafka.libs").glob("librdkafka*.so*"))
    if not candidates:
        raise MockKafkaUnavailable(
            f"no librdkafka*.so* in {site_packages / 'confluent_kafka.libs'}; "
            "this confluent-kafka install does not bundle librdkafka"
        )
    return candidates[0]


def load_librdkafka(path: Path | None = None) -> ctypes.CDLL:
    """The library, with argument and return types declared for every function used here."""
    library_path = path or find_librdkafka()
    try:
        library = ctypes.CDLL(str(library_path))
    except OSError as error:
        raise MockKafkaUnavailable(f"cannot load {library_path}: {error}") from error
    signatures: dict[str, tuple[list[type], type | None]] = {
        "rd_kafka_version_str": ([], ctypes.c_char_p),
        "rd_kafka_err2str": ([ctypes.c_int], ctypes.c_char_p),
        "rd_kafka_conf_new": ([], ctypes.c_void_p),
        "rd_kafka_conf_set": (
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t],
            ctypes.c_int,
        ),
        "rd_kafka_conf_destroy": ([ctypes.c_void_p], None),
        "rd_kafka_new": (
            [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t],
            ctypes.c_void_p,
        ),
        "rd_kafka_destroy": ([ctypes.c_void_p], None),
        "rd_kafka_mock_cluster_new": ([ctypes.c_void_p, ctypes.c_int], ctypes.c_void_p),
        "rd_kafka_mock_cluster_destroy": ([ctypes.c_void_p], None),
        "rd_kafka_mock_cluster_bootstraps": ([ctypes.c_void_p], ctypes.c_char_p),
        "rd_kafka_mock_topic_create": (
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int],
            ctypes.c_int,
        ),
        "rd_kafka_mock_broker_set_down": ([ctypes.c_void_p, ctypes.c_int32], ctypes.c_int),
        "rd_kafka_mock_broker_set_up": ([ctypes.c_void_p, ctypes.c_int32], ctypes.c_int),
        "rd_kafka_mock_group_initial_rebalance_delay_ms": (
            [ctypes.c_void_p, ctypes.c_int32],
            None,
        ),
    }
    for name, (argument_types, result_type) in signatures.items():
        if not hasattr(library, name):
            raise MockKafkaUnavailable(f"{library_path} has no {name}; librdkafka is too old")
        function = getattr(library, name)
        function.argtypes = argument_types
        function.restype = result_type
    return library


class MockKafka:
    """A librdkafka mock cluster of `brokers` brokers on 127.0.0.1, for one test.

    `group_rebalance_delay_ms` is the brokers' group.initial.rebalance.delay.ms: Kafka's (and the
    mock's) default of 3000 makes every consumer group's first join wait three seconds, so tests
    get 0 unless they ask otherwise.

    Usage (not a doctest)::

        with MockKafka(brokers=3) as kafka:
            kafka.create_topic("orders", partitions=3)
            producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    """

    def __init__(self, brokers: int = 1, group_rebalance_delay_ms: int = 0) -> None:
        if brokers < 1:
            raise ValueError(f"a cluster needs at least one broker, not {brokers}")
        self.broker_count = brokers
        self._library = load_librdkafka()
        self._client = self._new_client_handle()
        cluster = self._library.rd_kafka_mock_cluster_new(self._client, brokers)
        if not cluster:
            self._library.rd_kafka_destroy(self._client)
            raise MockKafkaUnavailable(f"rd_kafka_mock_cluster_new({brokers}) failed")
        self._cluster: int | None = cluster
        self._library.rd_kafka_mock_group_initial_rebalance_delay_ms(
            cluster, group_rebalance_delay_ms
        )
        bootstraps = self._library.rd_kafka_mock_cluster_bootstraps(cluster)
        self.bootstrap_servers: str = bootstraps.decode()

    @property
    def librdkafka_version(self) -> str:
        return str(self._library.rd_kafka_version_str().decode())

    def _new_client_handle(self) -> int:
        """The idle producer handle that owns the cluster; it connects nowhere, logs nothing."""
        config = self._library.rd_kafka_conf_new()
        error_buffer = ctypes.create_string_buffer(ERROR_BUFFER_SIZE)
        quiet = self._library.rd_kafka_conf_set(
            config, b"log_level", b"0", error_buffer, ERROR_BUFFER_SIZE
        )
        if quiet != 0:  # RD_KAFKA_CONF_OK
            self._library.rd_kafka_conf_destroy(config)
            raise MockKafkaUnavailable(f"rd_kafka_conf_set: {error_buffer.value.decode()}")
        # On success rd_kafka_new owns the configuration; on failure it is still ours.
        client = self._library.rd_kafka_new(
            RD_KAFKA_PRODUCER, config, error_buffer, ERROR_BUFFER_SIZE
        )
        if not client:
            self._library.rd_kafka_conf_destroy(config)
            raise MockKafkaUnavailable(f"rd_kafka_new: {error_buffer.value.decode()}")
        return int(client)

    def _live_cluster(self) -> int:
        if self._cluster is None:
            raise MockKafkaError("the mock cluster is closed")
        return self._cluster

    def _check(self, call: str, error_code: int) -> None:
        if error_code != RD_KAFKA_RESP_ERR_NO_ERROR:
            reason = self._library.rd_kafka_err2str(error_code).decode()
            raise MockKafkaError(f"{call}: {reason} (error {error_code})")

    @property
    def broker_ids(self) -> range:
        return range(FIRST_BROKER_ID, FIRST_BROKER_ID + self.broker_count)

    def create_topic(self, name: str, partitions: int = 1, replication: int = 1) -> None:
        """Create a topic up front (the mock does not serve the admin CreateTopics request)."""
        error_code = self._library.rd_kafka_mock_topic_create(
            self._live_cluster(), name.encode(), partitions, replication
        )
        self._check(f"rd_kafka_mock_topic_create({name!r})", error_code)

    def set_down(self) -> None:
        """Take every broker down: its connections are closed and its port refuses new ones.

        The port is kept, so `set_up` brings the same bootstrap addresses back. Partition
        leadership does not move: clients see an outage, not a failover.
        """
        for broker_id in self.broker_ids:
            error_code = self._library.rd_kafka_mock_broker_set_down(
                self._live_cluster(), broker_id
            )
            self._check(f"rd_kafka_mock_broker_set_down({broker_id})", error_code)

    def set_up(self) -> None:
        """Bring every broker back; clients reconnect on their own retry schedule."""
        for broker_id in self.broker_ids:
            error_code = self._library.rd_kafka_mock_broker_set_up(self._live_cluster(), broker_id)
            self._check(f"rd_kafka_mock_broker_set_up({broker_id})", error_code)

    def close(self) -> None:
        """Destroy the cluster (its listeners close) and then its client handle. Idempotent."""
        if self._cluster is None:
            return
        cluster, self._cluster = self._cluster, None
        self._library.rd_kafka_mock_cluster_destroy(cluster)
        self._library.rd_kafka_destroy(self._client)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
