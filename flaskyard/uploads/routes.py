"""HTTP routes for uploading and downloading files."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from apiflask import APIBlueprint, abort
from flask import Response, current_app, send_file, url_for
from werkzeug.datastructures import FileStorage

from flaskyard.core.auth import auth_required, current_user
from flaskyard.core.signals import upload_stored
from flaskyard.extensions import db
from flaskyard.uploads import services
from flaskyard.uploads.schemas import UploadIn, UploadOut
from flaskyard.uploads.storage import UploadRejected

bp = APIBlueprint("uploads", __name__, url_prefix="/api/v1/uploads", tag="Uploads")
log = logging.getLogger(__name__)


def _out(upload: Any) -> dict[str, Any]:
    return {
        "id": upload.id,
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": upload.size,
        "url": url_for("uploads.download", upload_id=upload.id),
        "thumbnail_id": upload.thumbnail_id,
    }


@bp.post("")
@bp.input(UploadIn, location="files", arg_name="data")
@bp.output(UploadOut, status_code=201)
@bp.doc(summary="Upload a file", security="BearerAuth", responses=[401, 413, 415, 422])
@auth_required()
def upload(data: dict[str, FileStorage]) -> Any:
    """Store a file after checking size, type, content and quota; images get a thumbnail job."""
    file = data["file"]
    user = current_user()
    try:
        record = services.create_upload(
            session=db.session, owner=user, stream=file.stream, filename=file.filename
        )
    except UploadRejected as exc:
        abort(exc.status, detail=exc.detail)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        services.discard(record)
        raise
    upload_stored.send(current_app._get_current_object(), upload=record, owner=user)  # type: ignore[attr-defined]
    return _out(record), 201, {"Location": url_for("uploads.download", upload_id=record.id)}


@bp.get("/<uuid:upload_id>")
@bp.doc(summary="Download a file (owner or admin)", security="BearerAuth", responses=[401, 404])
@auth_required()
def download(upload_id: uuid.UUID) -> Response:
    """The stored bytes as an attachment with the stored content type."""
    record = services.get_for(session=db.session, upload_id=upload_id, user=current_user())
    if record is None:
        abort(404, detail="No upload with that id is yours.")
    path = services.file_path(record)
    if not path.is_file():
        log.error("upload %s has a row but no file at %s", record.id, path)
        abort(404, detail="No upload with that id is yours.")
    response = send_file(
        path,
        mimetype=record.content_type,
        as_attachment=True,
        download_name=record.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
