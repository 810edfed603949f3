"""The CRUD baseline for ``tiffin bench api``: what a team would build without event sourcing.

The same ``POST /v1/orders`` body and validation (the API's own ``OrderCreate`` model and
bearer tokens, customers only), on the same server stack (FastAPI under Hypercorn on uvloop,
TLS, the same configuration), priced from the menu in one query and written as one row of one
PostgreSQL table, in one transaction. The Idempotency-Key is a unique column of that row: a
retry answers the order it placed. No events, no saga, no views, no payment.

Run by the benchmark in a process of its own (``python -m bench.crud_server``), with the
database URL, port, certificate and key as arguments and the token secret in
``TIFFIN_JWT_SECRET``; it prints ``LISTENING`` once it serves. (No ``from __future__ import
annotations``: FastAPI reads the routes' annotations, which name a dependency local to
``create_app``.)
"""

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID, uuid4

import psycopg
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.schemas.orders import OrderCreate
from api.server import hypercorn_config, run_server
from application.identity import Identity, InvalidToken, TokenVerifier
from application.settings import load_settings
from domain.values import Money, Role
from wiring.tokens import platform_tokens

LISTENING = "crud baseline: listening"
SCHEMA = """
CREATE TABLE IF NOT EXISTS crud_menu_items (
    id uuid PRIMARY KEY,
    restaurant_id uuid NOT NULL,
    name text NOT NULL,
    price_minor bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS crud_orders (
    id uuid PRIMARY KEY,
    idempotency_key text UNIQUE,
    customer_id text NOT NULL,
    restaurant_id uuid NOT NULL,
    lines jsonb NOT NULL,
    delivery_address jsonb NOT NULL,
    payment_vpa text NOT NULL,
    total_minor bigint NOT NULL,
    status text NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now()
);
"""
PRICES = (
    "SELECT id, name, price_minor FROM crud_menu_items WHERE restaurant_id = %s AND id = ANY(%s)"
)
INSERT = """
INSERT INTO crud_orders (id, idempotency_key, customer_id, restaurant_id, lines,
                         delivery_address, payment_vpa, total_minor, status)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'awaiting_payment')
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""
PLACED = "SELECT id, lines, total_minor FROM crud_orders WHERE idempotency_key = %s"


def create_schema(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(SCHEMA)


def add_menu(database_url: str, restaurant_id: str, items: Sequence[tuple[str, str, str]]) -> None:
    """The seeded restaurant's menu as the baseline's table: (id, name, price as text)."""
    with psycopg.connect(database_url) as connection:
        connection.cursor().executemany(
            "INSERT INTO crud_menu_items VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(i, restaurant_id, name, Money.parse(price).minor) for i, name, price in items],
        )


def create_app(pool: ConnectionPool, tokens: TokenVerifier) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def customer(authorization: Annotated[str, Header()] = "") -> Identity:
        scheme, _, token = authorization.partition(" ")
        try:
            identity = tokens.verify(token if scheme.lower() == "bearer" else "")
        except InvalidToken as error:
            raise HTTPException(401, str(error)) from None
        if identity.role is not Role.CUSTOMER:
            raise HTTPException(403, "this needs the role customer")
        return identity

    @app.post("/v1/orders", status_code=201)
    def place_order(
        body: OrderCreate,
        caller: Annotated[Identity, Depends(customer)],
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Any:
        wanted = [line.menu_item_id for line in body.items]
        with pool.connection() as connection:
            menu: dict[UUID, tuple[str, int]] = {
                row[0]: (row[1], row[2])
                for row in connection.execute(PRICES, (body.restaurant_id, wanted), prepare=True)
            }
            missing = [str(item) for item in wanted if item not in menu]
            if missing:
                raise HTTPException(422, f"not on the restaurant's menu: {', '.join(missing)}")
            lines = [
                _line(line.menu_item_id, *menu[line.menu_item_id], line) for line in body.items
            ]
            total = sum(line["line_total_minor"] for line in lines)
            order_id = uuid4()
            inserted = connection.execute(
                INSERT,
                (
                    order_id,
                    idempotency_key,
                    caller.subject,
                    body.restaurant_id,
                    Jsonb(lines),
                    Jsonb(body.delivery_address.model_dump(mode="json")),
                    body.payment.vpa,
                    total,
                ),
                prepare=True,
            ).fetchone()
            if inserted is None:  # a retry: the order its Idempotency-Key placed before
                order_id, lines, total = connection.execute(
                    PLACED, (idempotency_key,), prepare=True
                ).fetchone() or (order_id, lines, total)
        return JSONResponse(
            {
                "id": str(order_id),
                "status": "awaiting_payment",
                "lines": lines,
                "total": {"amount": Money(total).amount_text, "currency": "INR"},
            },
            status_code=201,
        )

    return app


def _line(item: UUID, name: str, price: int, line: Any) -> dict[str, Any]:
    return {
        "menu_item_id": str(item),
        "name": name,
        "quantity": line.quantity,
        "notes": line.notes,
        "unit_price_minor": price,
        "line_total_minor": price * line.quantity,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crud_server")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    args = parser.parse_args(argv)
    create_schema(args.database_url)
    tokens = platform_tokens(load_settings({"TIFFIN_JWT_SECRET": os.environ["TIFFIN_JWT_SECRET"]}))
    with ConnectionPool(args.database_url, min_size=4, max_size=10, open=True) as pool:
        config = hypercorn_config("127.0.0.1", args.port, args.cert, args.key, graceful_seconds=2)
        run_server(
            create_app(pool, tokens),
            config,
            on_ready=lambda: print(LISTENING, flush=True),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
