"""How the jobs domain reacts to the others' signals: a thumbnail job for each stored image."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from flaskyard.core.auth import Principal
from flaskyard.core.signals import upload_stored
from flaskyard.extensions import db
from flaskyard.jobs import services
from flaskyard.uploads.models import Upload

log = logging.getLogger(__name__)


def _thumbnail_for(_sender: Flask, *, upload: Upload, owner: Principal, **_: Any) -> None:
    if not upload.is_image:
        return
    try:
        row = services.submit(
            session=db.session, owner=owner, type_="thumbnail", params={"upload_id": str(upload.id)}
        )
        db.session.commit()
        services.dispatch(session=db.session, row=row, owner=owner)
    except services.QueueUnavailable:
        # A missing thumbnail must not fail the upload that was already stored.
        db.session.commit()  # the row that could not be queued is gone
        log.warning("could not start a thumbnail job: the queue is unavailable")
    except services.TooManyJobs:
        # Nor must the owner's job cap: the picture is shown without a thumbnail instead.
        db.session.rollback()
        log.warning("no thumbnail for upload %s: its owner has too many jobs", upload.id)


def init_app(app: Flask) -> None:
    """Connect this app's receivers."""
    upload_stored.connect(_thumbnail_for, sender=app)
