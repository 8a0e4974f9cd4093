"""HTTP routes for jobs: start, get, list, cancel, and the SSE progress stream."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint, abort
from flask import Response, request, url_for

from flaskyard.core.auth import auth_required, current_user, verified_required
from flaskyard.core.handoff import offered, stream_loop
from flaskyard.core.links import links
from flaskyard.core.problems import validation_problem
from flaskyard.extensions import db
from flaskyard.jobs import events, runtime, services, streams, views
from flaskyard.jobs.models import Job
from flaskyard.jobs.schemas import JobIn, JobOut, JobPageOut, JobQuery
from flaskyard.settings import current_settings

bp = APIBlueprint("jobs", __name__, url_prefix="/api/v1/jobs", tag="Jobs")


def _own(job_id: uuid.UUID) -> Job:
    # Admins may see and cancel any job; everyone else only their own.
    row = services.get_for(session=db.session, job_id=job_id, user=current_user())
    if row is None:
        abort(404, detail="No job with that id is yours.")
    return row


@bp.post("")
@bp.input(JobIn, arg_name="data", example={"type": "demo", "params": {"seconds": 1, "steps": 2}})
@bp.output(
    JobOut,
    status_code=202,
    links=links(
        "job_id",
        ("GetJob", "get", "jobs.get_job"),
        ("CancelJob", "delete", "jobs.cancel_job"),
        ("JobEvents", "get", "jobs.job_events"),
    ),
)
@bp.doc(summary="Start a job", security="BearerAuth", responses=[401, 403, 422, 429, 503])
@auth_required()
@verified_required
def create_job(data: dict[str, Any]) -> Any:
    """Queue a job of ``type`` (demo, export_posts, import_posts, thumbnail)."""
    owner = current_user()
    try:
        row = services.submit(
            session=db.session, owner=owner, type_=data["type"], params=data["params"]
        )
        db.session.commit()
        services.dispatch(session=db.session, row=row, owner=owner)
    except services.InvalidJobError as exc:
        return validation_problem({"json": exc.messages}, "The job request is invalid.")
    except services.TooManyJobs as exc:
        abort(429, detail=exc.args[0])
    except services.QueueUnavailable as exc:
        db.session.commit()  # the row that could not be queued is gone
        abort(503, detail=str(exc))
    view = views.view(session=db.session, row=row)
    return view, 202, {"Location": url_for("jobs.get_job", job_id=row.id)}


@bp.get("")
@bp.input(JobQuery, location="query", arg_name="query")
@bp.output(JobPageOut)
@bp.doc(
    summary="My jobs (or, for admins, everyone's), newest first",
    security="BearerAuth",
    responses=[401, 403, 422],
)
@auth_required()
def list_jobs(query: dict[str, Any]) -> Any:
    """The caller's jobs; with ``all=true`` every user's, for admins."""
    user = current_user()
    if query["all"] and not user.has_role("admin"):
        abort(403, detail="Only admins may list every user's jobs.")
    return views.list_for(
        session=db.session,
        user=user,
        page=query["page"],
        per_page=query["per_page"],
        everyone=query["all"],
    )


@bp.get("/<uuid:job_id>")
@bp.output(JobOut)
@bp.doc(summary="One job", security="BearerAuth", responses=[401, 404])
@auth_required()
def get_job(job_id: uuid.UUID) -> Any:
    """The job's status, progress, result or error."""
    return views.view(session=db.session, row=_own(job_id))


@bp.delete("/<uuid:job_id>")
@bp.output(JobOut, status_code=202)
@bp.doc(summary="Cancel a job", security="BearerAuth", responses=[401, 404, 409])
@auth_required()
def cancel_job(job_id: uuid.UUID) -> Any:
    """Cancel now if queued; a running job stops at its next progress report."""
    row = _own(job_id)
    try:
        services.cancel(session=db.session, row=row)
    except services.JobEndedError as exc:
        abort(409, detail=exc.args[0])
    db.session.commit()
    runtime.notify(row.id)  # watchers read the committed state
    return views.view(session=db.session, row=row)


#: Server-Sent Events, not JSON: the stream's media type is what clients must expect.
EVENTS_RESPONSES: dict[int | str, Any] = {
    200: {
        "description": "A stream of `job` events, each carrying a job object as JSON; a "
        "`shutdown` event when the server stops (reconnect with `Last-Event-ID`)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    401: "",
    404: "",
    429: "The caller already has `EVENTS_MAX_STREAMS_PER_USER` streams open",
    503: "",
}
#: Seconds a client refused for too many streams is asked to wait.
STREAMS_RETRY_AFTER = 5


@bp.get("/<uuid:job_id>/events")
@bp.doc(
    summary="Live job state as Server-Sent Events",
    description="One `job` event per change with the same object as GET /api/v1/jobs/{id}; "
    "ends after the final state. Honours `Last-Event-ID`. Comments are sent as heartbeats. "
    "When the server stops, a `shutdown` event ends the stream; reconnect with "
    "`Last-Event-ID` to go on. Each user may hold `EVENTS_MAX_STREAMS_PER_USER` streams at "
    "once (429 beyond).",
    security="BearerAuth",
    responses=EVENTS_RESPONSES,
)
@auth_required()
def job_events(job_id: uuid.UUID) -> Response:
    """Stream the job's state until it ends."""
    key = _own(job_id).id
    hub = events.get_hub()
    if hub is None:
        abort(503, detail="Live progress needs Redis, which is not configured.")
    handoff = offered(request.environ)
    try:
        stream = streams.open_stream(
            hub,
            key,
            user=str(current_user().id),
            limit=current_settings().EVENTS_MAX_STREAMS_PER_USER,
            last_event_id=request.headers.get("Last-Event-ID"),
            loop=stream_loop() if handoff is not None else None,
        )
    except streams.TooManyStreams as exc:
        abort(429, detail=exc.args[0], headers={"Retry-After": str(STREAMS_RETRY_AFTER)})
    db.session.remove()  # the stream may last minutes; don't hold a pooled connection
    if handoff is None:
        # Served from this thread to the end (Flask's development server, the test client);
        # the stream reads in an app context of its own, so it needs no request context.
        body: Any = stream.frames()
    else:
        # The first frames from this thread, the rest from the stream loop. (An iterator, not
        # a list: a list would get a Content-Length.)
        body = iter(stream.opening())
        if not stream.ended:
            handoff.take(stream.take)
    response = Response(body, mimetype="text/event-stream")
    response.call_on_close(stream.close_unless_taken)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events through at once
    return response
