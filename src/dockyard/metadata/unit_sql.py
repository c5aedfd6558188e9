"""One-statement units of work (:mod:`dockyard.metadata.units`) shared by the stores.

Each runs one statement on the unit's synchronous connection and consumes its result there, so nothing
that still needs the connection (a ``Result``, a cursor) leaves the unit: rows come back as lists of
fully fetched ``Row`` objects or plain values. ``values`` binds a prebuilt statement's parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection


def execute(conn: Connection, statement: Any, values: Any = None) -> None:
    conn.execute(statement, values)


def rowcount(conn: Connection, statement: Any, values: Any = None) -> int:
    """How many rows an ``UPDATE`` or ``DELETE`` matched."""
    return int(conn.execute(statement, values).rowcount or 0)


def changed(conn: Connection, statement: Any, values: Any = None) -> bool:
    """Whether an ``UPDATE`` or ``DELETE`` matched any row."""
    return bool(conn.execute(statement, values).rowcount)


def first(conn: Connection, statement: Any, values: Any = None) -> Any:
    """The first row, or ``None``."""
    return conn.execute(statement, values).first()


def all_rows(conn: Connection, statement: Any, values: Any = None) -> list[Any]:
    return list(conn.execute(statement, values).all())


def scalar(conn: Connection, statement: Any, values: Any = None) -> Any:
    """The first column of the first row (``None`` when there is none); consumes the rest."""
    return conn.execute(statement, values).scalar()


def scalars(conn: Connection, statement: Any, values: Any = None) -> list[Any]:
    return list(conn.execute(statement, values).scalars())
