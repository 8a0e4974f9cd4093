"""``GET /api/v1/dev/mail``: the development mailbox, 404 wherever it is off."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema, abort
from apiflask.fields import List, Nested, String

from flaskyard.devmail import store

bp = APIBlueprint("dev_mail", __name__, url_prefix="/api/v1/dev", tag="Development")


class MailOut(Schema):
    """One delivered message."""

    id = String()
    to = String()
    subject = String()
    body = String()
    sent_at = String(metadata={"format": "date-time"})
    links = List(String(), metadata={"description": "The http(s) links in the body, in order."})


class MailListOut(Schema):
    """Every message this instance delivered, newest first."""

    items = List(Nested(MailOut))


@bp.get("/mail")
@bp.output(MailListOut)
@bp.doc(
    summary="Mail this instance sent (development only)",
    description="Every message the web app and its workers delivered, newest first, with the "
    "links in each body. Off in production (404); on in development unless DEV_MAILBOX=false.",
    responses=[404],
)
def list_mail() -> Any:
    """The development mailbox."""
    if not store.enabled():
        abort(404, detail="The development mailbox is off on this server.")
    return {"items": store.messages()}
