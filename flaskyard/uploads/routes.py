"""HTTP routes for uploading and downloading files."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from apiflask import APIBlueprint, abort
from flask import Response, current_app, send_file, url_for
from flask_jwt_extended import get_current_user
from werkzeug.datastructures import FileStorage

from flaskyard.core.auth import auth_required, current_user, verified_required
from flaskyard.core.links import links
from flaskyard.core.paging import PageQuery
from flaskyard.core.signals import upload_stored
from flaskyard.extensions import db
from flaskyard.uploads import services
from flaskyard.uploads.schemas import UploadIn, UploadOut, UploadPageOut
from flaskyard.uploads.storage import ALLOWED_TYPES, BINARY_TYPES, UploadRejected

bp = APIBlueprint("uploads", __name__, url_prefix="/api/v1/uploads", tag="Uploads")
log = logging.getLogger(__name__)


NOT_FOUND = "No upload with that id is yours."
SIGN_IN = "Sign in to download this file; only files attached to a post are public."


@bp.get("")
@bp.input(PageQuery, location="query", arg_name="paging")
@bp.output(UploadPageOut)
@bp.doc(summary="My uploads, newest first", security="BearerAuth", responses=[401, 422])
@auth_required()
def list_uploads(paging: dict[str, int]) -> Any:
    """The caller's files (thumbnails left out), for example to pick one to import."""
    return services.list_uploads(
        session=db.session, owner=current_user(), page=paging["page"], per_page=paging["per_page"]
    )


@bp.post("")
@bp.input(UploadIn, location="files", arg_name="data")
@bp.output(
    UploadOut, status_code=201, links=links("upload_id", ("Download", "get", "uploads.download"))
)
@bp.doc(summary="Upload a file", security="BearerAuth", responses=[401, 403, 413, 415, 422])
@auth_required()
@verified_required
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
    return record, 201, {"Location": url_for("uploads.download", upload_id=record.id)}


_BYTES = {"schema": {"type": "string", "format": "binary"}}
#: The bytes themselves, under the type they were stored with. application/octet-stream comes
#: first so generated clients hand any of them back as bytes; JSON and text files are
#: documents of their own, so their bodies are not described further.
DOWNLOAD_RESPONSES: dict[int | str, Any] = {
    200: {
        "description": "The stored bytes with their stored content type, as an attachment",
        "content": {"application/octet-stream": _BYTES}
        | {
            content_type: _BYTES if content_type in BINARY_TYPES else {"schema": {}}
            for content_type in sorted(set(ALLOWED_TYPES.values()))
        },
    },
    401: "",
    404: "",
}


@bp.get("/<uuid:upload_id>")
@bp.doc(
    summary="Download a file",
    description="Files attached to a post (and their thumbnails) answer without a token. "
    "Any other file answers only its owner and admins: 401 without a token, 404 to other users.",
    # Public when attached to a post (an empty requirement: no token needed), else a token.
    security=[{}, {"BearerAuth": []}],
    responses=DOWNLOAD_RESPONSES,
)
@auth_required(optional=True)
def download(upload_id: uuid.UUID) -> Response:
    """The stored bytes as an attachment with the stored content type."""
    user = get_current_user()
    found = services.get_readable(session=db.session, upload_id=upload_id, user=user)
    if found is None and user is None:
        # The same answer whether or not the file exists: a sign-in may make it readable.
        abort(401, detail=SIGN_IN, headers={"WWW-Authenticate": "Bearer"})
    if found is None:
        abort(404, detail=NOT_FOUND)
    record, public = found
    path = services.file_path(record)
    if not path.is_file():
        log.error("upload %s has a row but no file at %s", record.id, path)
        abort(404, detail=NOT_FOUND)
    response = send_file(
        path,
        mimetype=record.content_type,
        as_attachment=True,
        download_name=record.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Public files may be cached but are checked again each time: detached, they turn private.
    response.headers["Cache-Control"] = "public, no-cache" if public else "private, no-store"
    return response
