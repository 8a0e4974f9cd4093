"""Schemas for the job API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Boolean, DateTime, Dict, Integer, List, Nested, Raw, String
from apiflask.validators import Length

from flaskyard.core.paging import PageQuery
from flaskyard.users.schemas import AuthorOut


class JobIn(Schema):
    """A job request: a type and its parameters."""

    type = String(required=True, validate=Length(min=1, max=32))
    params = Dict(load_default=dict)


class JobOut(Schema):
    """A job as its owner (or an admin) sees it."""

    id = UUID()
    type = String()
    status = String(metadata={"enum": ["queued", "started", "finished", "failed", "canceled"]})
    progress = Integer()
    message = String()
    result = Raw(allow_none=True)
    error = String(allow_none=True)
    created_at = DateTime(format="iso")
    started_at = DateTime(format="iso", allow_none=True)
    ended_at = DateTime(format="iso", allow_none=True)
    owner = Nested(AuthorOut, metadata={"description": "Who started the job."})


class JobItemOut(JobOut):
    """A job inside a page (its own name keeps APIFlask from registering JobOut twice)."""


class JobPageOut(Schema):
    """One page of jobs."""

    items = List(Nested(JobItemOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class JobQuery(PageQuery):
    """Paging, and for admins the choice to see every user's jobs."""

    all = Boolean(
        load_default=False, metadata={"description": "Every user's jobs (admins only; else 403)."}
    )
