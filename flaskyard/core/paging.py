"""Paging shared by every list endpoint: the query schema and the page of results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from apiflask import Schema
from apiflask.fields import Integer
from apiflask.validators import Range

T = TypeVar("T")
MAX_PER_PAGE = 100
#: Far past any real list, and small enough that the offset fits every database's integer.
MAX_PAGE = 1_000_000
DEFAULT_PER_PAGE = 20


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results and the total count."""

    items: list[T]
    page: int
    per_page: int
    total: int


class PageQuery(Schema):
    """Paging parameters shared by every list endpoint."""

    page = Integer(
        load_default=1,
        validate=Range(min=1, max=MAX_PAGE, error=f"page must be 1 to {MAX_PAGE}."),
    )
    per_page = Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=Range(min=1, max=MAX_PER_PAGE, error=f"per_page must be 1 to {MAX_PER_PAGE}."),
    )
