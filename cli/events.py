"""``tiffin events``: the integration events' contract (``docs``) and a topic's events as
they arrive (``tail``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from application.integration_docs import documents
from application.integration_events import CONTEXT_TOPICS, LOCATIONS_TOPIC
from application.settings import ConfigurationError, load_settings
from wiring.bootstrap import create_kafka_topics, kafka_topic_plan, tail_topic

DOCS_DIR = Path("docs/events")


def write_docs(arguments: argparse.Namespace) -> int:
    """Writes every JSON Schema and the AsyncAPI document; says which files changed."""
    directory: Path = arguments.write
    directory.mkdir(parents=True, exist_ok=True)
    generated = documents(load_settings().kafka_topic_prefix)
    changed = 0
    for name, text in sorted(generated.items()):
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed += 1
            print(f"wrote {path}")
    stale = sorted(p.name for p in directory.glob("*.json") if p.name not in generated)
    for name in stale:
        print(f"no longer generated (delete it or keep it for its v1 period): {directory / name}")
    print(f"{len(generated)} documents in {directory}, {changed} changed")
    return 0


def tail_events(arguments: argparse.Namespace) -> int:
    """Prints each CloudEvent of the topic as one JSON line (with its partition and offset)."""
    shown = tail_topic(
        load_settings(),
        arguments.topic,
        from_beginning=arguments.from_beginning,
        group=arguments.group,
        limit=arguments.limit,
        show=lambda line: print(line, flush=True),
    )
    print(f"{shown} event(s)", file=sys.stderr)
    return 0


def show_topics(arguments: argparse.Namespace) -> int:
    """The planned topics; with ``--create``, made in the cluster where they are missing."""
    settings = load_settings()
    if not arguments.create:
        for planned in kafka_topic_plan(settings):
            print(f"{planned.name:<32} {planned.partitions:>5} partitions")
        return 0
    if settings.kafka_bootstrap_servers is None:
        raise ConfigurationError("TIFFIN_KAFKA_BOOTSTRAP_SERVERS is not set: no cluster to use")
    outcomes = create_kafka_topics(settings)
    for outcome in outcomes:
        planned = outcome.planned
        note = (
            f" (planned {planned.partitions}: left as it is)" if outcome.state == "differs" else ""
        )
        print(
            f"{planned.name:<32} {outcome.state:<8} {outcome.partitions:>5} partitions,"
            f" replication {outcome.replication}{note}"
        )
    return 1 if any(o.state == "differs" for o in outcomes) else 0


def add_commands(commands: Any) -> None:
    events = commands.add_parser("events", help="integration events (Kafka): their contract")
    actions = events.add_subparsers(dest="action", required=True)
    docs = actions.add_parser(
        "docs",
        help="write the JSON Schemas of the event types and the AsyncAPI document",
        description="Generates docs/events/ from the code: a JSON Schema for each integration "
        "event type's data and an AsyncAPI 3.0 document of the topics.",
    )
    docs.add_argument("--write", type=Path, default=DOCS_DIR, metavar="DIR", help="(docs/events)")
    docs.set_defaults(run=write_docs)
    tail = actions.add_parser(
        "tail",
        help="print a topic's events as they arrive, one JSON line each",
        description="Reads a topic of TIFFIN_KAFKA_BOOTSTRAP_SERVERS (its name without "
        "TIFFIN_KAFKA_TOPIC_PREFIX) and prints each CloudEvent with its partition and offset.",
    )
    tail.add_argument("topic", help=f"one of {', '.join((*CONTEXT_TOPICS, LOCATIONS_TOPIC))}")
    tail.add_argument("--from-beginning", action="store_true", help="from the first message kept")
    tail.add_argument("--group", help="read in this consumer group (committing what is shown)")
    tail.add_argument("--limit", type=int, help="stop after this many")
    tail.set_defaults(run=tail_events)
    topics = actions.add_parser(
        "topics",
        help="the topics and their partitions; --create makes those the cluster lacks",
        description="Lists each topic (TIFFIN_KAFKA_TOPIC_PREFIX and its name) with its "
        "partition count (TIFFIN_KAFKA_PARTITIONS, or TIFFIN_KAFKA_TOPIC_PARTITIONS for one "
        "topic). With --create, makes the missing ones in TIFFIN_KAFKA_BOOTSTRAP_SERVERS "
        "(replication TIFFIN_KAFKA_REPLICATION_FACTOR, or 3, or fewer on a smaller cluster) "
        "and reports the others; exits 1 if one exists with another partition count.",
    )
    topics.add_argument("--create", action="store_true", help="create the missing topics")
    topics.set_defaults(run=show_topics)
