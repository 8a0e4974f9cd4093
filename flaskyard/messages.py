"""Texts that ``errors.py`` translates where it shapes a problem body, listed for the catalogue.

Problem titles, field messages and details are translated at that one boundary, so a route
may raise or abort with a plain English sentence. Sentences written with ``_()`` or ``_l()``
at their call site are in the catalogue already; this module lists the rest: the status
titles, marshmallow's own field messages, our schemas' rules and the routes' fixed details.
``flask translate update`` extracts them from here (``N_`` is one of Babel's default keywords).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString


def N_(message: str) -> str:  # noqa: N802 - the name Babel's extractor looks for
    """Mark ``message`` for the catalogue; it is translated when the problem body is built."""
    return message


#: Problem titles by status (the phrases Python 3.11's HTTPStatus uses, fixed here so English
#: titles do not change with the Python version).
TITLES: dict[int, LazyString] = {
    400: _l("Bad Request"),
    401: _l("Unauthorized"),
    403: _l("Forbidden"),
    404: _l("Not Found"),
    405: _l("Method Not Allowed"),
    409: _l("Conflict"),
    413: _l("Request Entity Too Large"),
    415: _l("Unsupported Media Type"),
    422: _l("Unprocessable Entity"),
    429: _l("Too Many Requests"),
    500: _l("Internal Server Error"),
    503: _l("Service Unavailable"),
}

#: marshmallow's built-in field messages that our schemas can produce.
FIELD_MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Unknown field."),
    N_("Invalid input type."),
    N_("Not a valid string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Not a valid boolean."),
    N_("Not a valid email address."),
    N_("Not a valid UUID."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
)

#: The rules of our schemas, as their ``error=`` arguments spell them at run time.
RULES = (
    N_(
        "Username must be 3-32 characters of A-Z, a-z, 0-9, '_', '.', '-', "
        "starting with a letter or digit."
    ),
    N_("Password must be 8 to 128 characters."),
    N_("Title must be 1 to 200 characters."),
    N_("Body must be at most 100000 characters."),
    N_("page must be 1 or more."),
    N_("per_page must be 1 to 100."),
    N_("fail_at must be at most steps."),
    N_("Must be an object."),
)

#: Fixed details the routes and services answer with.
DETAILS = (
    N_("The job request is invalid."),
    N_("No post has that id."),
    N_("No user has that id."),
    N_("No job with that id is yours."),
    N_("No upload with that id is yours."),
    N_("Sign in to download this file; only files attached to a post are public."),
    N_("Every upload_id must be one of your uploads."),
    N_("Only the author or an admin may change this post."),
    N_("Only admins may list every user's jobs."),
    N_("This needs the admin role."),
    N_("At least one active admin must remain."),
    N_("That username is already taken."),
    N_("That email is already taken."),
    N_("The token is not valid."),
    N_("The token has expired; ask for a new one."),
    N_("The token has already been used."),
    N_("That email address now belongs to another account."),
    N_("The token has expired."),
    N_("The token has been revoked."),
    N_("The account is inactive, gone, or signed out everywhere."),
    N_("This refresh token was already used; every token of this login is revoked."),
    N_("The development mailbox is off on this server."),
    N_("A backing service (Redis) is unavailable; try again shortly."),
    N_("The database is unavailable; try again shortly."),
    N_("Token revocation store is unavailable; try again shortly."),
    N_("Too many sign-ins are being checked right now; try again in a moment."),
    N_("Too many requests from this address; wait and try again."),
    N_("Too many failed sign-ins for this account; wait and try again."),
    N_("Too many wrong passwords for this account; wait and try again."),
    N_("Live progress needs Redis, which is not configured."),
    N_("Sign in as an admin to see the job dashboard."),
    N_("The job dashboard is for admins."),
    N_("The request body is not valid JSON."),
    N_("This endpoint takes a JSON body: send it with Content-Type: application/json."),
    N_("Text must not contain the NUL character."),
    N_("Text must be valid Unicode (it contains a lone surrogate)."),
)

#: Werkzeug's own descriptions, the detail of an error raised without one of ours (an unknown
#: URL, a method the route lacks, a body over the limit).
WERKZEUG_DETAILS = (
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_(
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again."
    ),
    N_("The method is not allowed for the requested URL."),
    N_("The data value transmitted exceeds the capacity limit."),
    N_("The server does not support the media type transmitted in the request."),
    N_("This user has exceeded an allotted request count. Try again later."),
    N_(
        "The server encountered an internal error and was unable to complete your request. "
        "Either the server is overloaded or there is an error in the application."
    ),
)
