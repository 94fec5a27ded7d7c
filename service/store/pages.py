"""Keyset pagination for any list query: rows after a key, in a fixed total order.

A key is the tuple of the order columns' values of the last row a caller saw; unlike
OFFSET, a page costs the same however deep it is and rows inserted meanwhile neither repeat
nor vanish. The api side (service/api/pagination.py) turns keys into opaque cursors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_key: tuple[Any, ...] | None  # None on the last page


def after_key(order: Sequence[InstrumentedAttribute[Any]], key: Sequence[Any]) -> ColumnElement[bool]:
    """(c1, c2, ...) > (k1, k2, ...) lexicographically, spelt out so every database and
    column type (the UTC timestamp type included) binds its own parameters."""
    terms = []
    for i, column in enumerate(order):
        equal_before = [order[j] == key[j] for j in range(i)]
        terms.append(and_(*equal_before, column > key[i]))
    return or_(*terms)


def keyset_page(
    session: Session, query: Select[Any], order: Sequence[InstrumentedAttribute[Any]], after: Sequence[Any] | None, limit: int
) -> Page[Any]:
    """Up to `limit` rows of `query` after the key `after` in `order` (a unique total order).

    Rows are what `session.execute(query)` yields; `order`'s columns must be among them
    or on the first entity selected.
    """
    if after is not None:
        query = query.where(after_key(order, after))
    rows = session.execute(query.order_by(*order).limit(limit + 1)).all()
    if len(rows) <= limit:
        return Page(list(rows), None)
    rows = rows[:limit]
    last = rows[-1]
    entity = last[0]
    return Page(list(rows), tuple(getattr(entity, column.key) for column in order))
