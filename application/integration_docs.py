"""The integration events' contract as documents, generated from ``CONTRACTS``: a JSON Schema
per event type (the CloudEvent's ``data``) and an AsyncAPI 3.0 document of the topics.

``tiffin events docs --write docs/events`` writes them; a test checks that the files checked in
are what the code generates now, so the published contract never drifts from the code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from application.integration_events import (
    CONTEXT_TOPICS,
    CONTRACTS,
    LOCATION_TYPE,
    LOCATIONS_TOPIC,
    Contract,
    CourierLocation,
    Data,
)

ASYNCAPI_FILE = "asyncapi.json"
CE_ATTRIBUTES = {  # the envelope: CloudEvents 1.0, structured mode, JSON
    "specversion": {"const": "1.0"},
    "id": {"type": "string", "description": "<application>:<aggregate id>:<version>; stable"},
    "source": {"type": "string", "description": "/tiffin/<application>"},
    "type": {"type": "string"},
    "subject": {"type": "string", "description": "the aggregate id (also the message key)"},
    "time": {"type": "string", "format": "date-time"},
    "datacontenttype": {"const": "application/json"},
    "dataschema": {"type": "string", "description": "urn:tiffin:events:<type>"},
    "partitionkey": {"type": "string"},
    "correlationid": {"type": "string", "description": "the request or process it belongs to"},
    "actor": {"type": "string", "description": "the account id of who caused it"},
    "actorrole": {"type": "string", "description": "customer, restaurant, courier, admin, system"},
}


def schema_of(contract_type: str, data: type[Data], description: str) -> dict[str, Any]:
    schema = data.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:tiffin:events:{contract_type}",
        "description": description,
        **schema,
    }


def event_schemas() -> dict[str, dict[str, Any]]:
    """Each event type's JSON Schema of its data, by type."""
    schemas = {
        contract.type: schema_of(contract.type, contract.data, _described(contract))
        for contract in CONTRACTS
    }
    schemas[LOCATION_TYPE] = schema_of(
        LOCATION_TYPE, CourierLocation, "a courier's position, as the courier app sent it"
    )
    return schemas


def asyncapi(topic_prefix: str = "tiffin.") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the topics and their messages."""
    by_topic: dict[str, list[str]] = {topic: [] for topic in CONTEXT_TOPICS}
    for contract in CONTRACTS:
        by_topic[contract.topic].append(contract.type)
    by_topic[LOCATIONS_TOPIC] = [LOCATION_TYPE]
    messages = {
        _message_id(kind): {
            "name": kind,
            "contentType": "application/cloudevents+json",
            "payload": {
                "type": "object",
                "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
                "properties": {
                    **CE_ATTRIBUTES,
                    "type": {"const": kind},
                    "data": {"$ref": f"{kind}.json"},
                },
            },
        }
        for kinds in by_topic.values()
        for kind in kinds
    }
    channels = {
        topic: {
            "address": f"{topic_prefix}{topic}",
            "description": _topic_description(topic),
            "messages": {
                _message_id(kind): {"$ref": f"#/components/messages/{_message_id(kind)}"}
                for kind in kinds
            },
        }
        for topic, kinds in by_topic.items()
    }
    operations = {
        f"receive_{topic.replace('-', '_')}": {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{topic}"},
        }
        for topic in by_topic
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tiffin integration events",
            "version": "1.0.0",
            "description": (
                "Facts the platform records, as CloudEvents 1.0 (structured mode, JSON), keyed "
                "by their aggregate id: one aggregate's events keep their log order on one "
                "partition. At least once: a consumer dedupes by the CloudEvent id."
            ),
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def documents(topic_prefix: str = "tiffin.") -> dict[str, str]:
    """Every file of ``docs/events/`` by name, as the code generates it now."""
    files = {f"{kind}.json": _json(schema) for kind, schema in event_schemas().items()}
    files[ASYNCAPI_FILE] = _json(asyncapi(topic_prefix))
    return files


def _json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _message_id(kind: str) -> str:
    return kind.replace(".", "_")


def _described(contract: Contract) -> str:
    return f"the data of {contract.type}: published for the domain event {contract.domain_event}"


def _topic_description(topic: str) -> str:
    if topic == LOCATIONS_TOPIC:
        return "couriers' positions, from the courier app's pings (not from an event log)"
    return f"the {topic} context's events, keyed by aggregate id"
