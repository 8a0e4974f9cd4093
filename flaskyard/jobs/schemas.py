"""Schemas for the job API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, DateTime, Dict, Integer, List, Nested, Raw, String
from apiflask.validators import Length


class JobIn(Schema):
    """A job request: a type and its parameters."""

    type = String(required=True, validate=Length(min=1, max=32))
    params = Dict(load_default=dict)


class JobOut(Schema):
    """A job as its owner sees it."""

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


class JobItemOut(JobOut):
    """A job inside a page (its own name keeps APIFlask from registering JobOut twice)."""


class JobPageOut(Schema):
    """One page of jobs."""

    items = List(Nested(JobItemOut))
    page = Integer()
    per_page = Integer()
    total = Integer()
