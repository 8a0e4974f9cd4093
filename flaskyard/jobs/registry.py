"""The job types users may start: parameters, queue, time limit and retries of each."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apiflask import Schema
from apiflask.fields import UUID, Float, Integer
from apiflask.validators import Range
from marshmallow import ValidationError, validates_schema

from flaskyard.jobs import tasks


class DemoParams(Schema):
    """``demo``: sleep ``seconds`` in ``steps`` steps, optionally failing at step ``fail_at``."""

    seconds = Float(load_default=5, validate=Range(min=0, max=600))
    steps = Integer(load_default=10, validate=Range(min=1, max=1000))
    fail_at = Integer(load_default=None, allow_none=True, validate=Range(min=1))

    @validates_schema
    def _fail_within_steps(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("fail_at") is not None and data["fail_at"] > data["steps"]:
            raise ValidationError("fail_at must be at most steps.", field_name="fail_at")


class NoParams(Schema):
    """No parameters."""


class UploadParams(Schema):
    """One of the caller's uploads."""

    upload_id = UUID(required=True)


@dataclass(frozen=True)
class JobType:
    """How one kind of job is validated, queued and run."""

    name: str
    params: type[Schema]
    queue: str
    run: Callable[[uuid.UUID, dict[str, Any]], dict[str, Any] | None]
    timeout: Callable[[dict[str, Any]], int]
    retries: int = 2


JOB_TYPES: dict[str, JobType] = {
    "demo": JobType("demo", DemoParams, "default", tasks.demo, lambda p: int(p["seconds"]) + 60),
    "export_posts": JobType("export_posts", NoParams, "low", tasks.export_posts, lambda p: 600),
    "import_posts": JobType("import_posts", UploadParams, "low", tasks.import_posts, lambda p: 600),
    "thumbnail": JobType("thumbnail", UploadParams, "low", tasks.thumbnail, lambda p: 120),
}
