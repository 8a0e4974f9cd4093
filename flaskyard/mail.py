"""Outgoing mail: :func:`deliver` sends one message; :func:`enqueue_mail` runs a mail job on
the ``high`` queue.

Mail jobs are queued with ids, not messages (see ``flaskyard.auth.mails``): the worker makes
the message, so the job's data in Redis never holds a reset or verification token.

Without ``MAIL_SERVER`` the message is not sent and only its recipient and subject are
logged: bodies carry reset and verification tokens, which must not reach a log. In
development the whole message is kept in the dev mailbox (``GET /api/v1/dev/mail``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import smtplib
from collections.abc import Callable
from email.message import EmailMessage

from cryptography.fernet import Fernet
from flask import current_app
from redis.exceptions import RedisError
from rq import Retry

from flaskyard.broker import get_queue
from flaskyard.devmail import store as devmail
from flaskyard.settings import current_settings

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10
RETRY_INTERVALS = [10, 60, 300]


def deliver(to: str, subject: str, body: str) -> None:
    """Send one plain-text message now (mail jobs call it); keep it in a dev mailbox."""
    settings = current_settings()
    message = EmailMessage()
    message["From"] = settings.MAIL_DEFAULT_SENDER
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not settings.MAIL_SERVER:
        where = " (kept in the dev mailbox)" if settings.dev_mailbox else ""
        log.info("mail not sent (no MAIL_SERVER): to=%s subject=%s%s", to, subject, where)
    else:
        with smtplib.SMTP(
            settings.MAIL_SERVER, settings.MAIL_PORT, timeout=SMTP_TIMEOUT_SECONDS
        ) as smtp:
            if settings.MAIL_USE_TLS:
                smtp.starttls()
            if settings.MAIL_USERNAME:
                password = settings.MAIL_PASSWORD
                smtp.login(settings.MAIL_USERNAME, password.get_secret_value() if password else "")
            smtp.send_message(message)
    if settings.dev_mailbox:
        devmail.keep(to=to, subject=subject, body=body)


def _fernet() -> Fernet:
    # A key of its own, derived from the app's secret key, which the web and worker share.
    secret = str(current_app.secret_key).encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"flaskyard mail\0" + secret).digest()))


def deliver_sealed(to: str, subject: str, sealed_body: str) -> None:
    """Send a message an earlier version queued with its body encrypted.

    Kept so that mail queued before an upgrade is still delivered; nothing queues it now.
    """
    deliver(to, subject, _fernet().decrypt(sealed_body.encode()).decode())


def enqueue_mail(job: Callable[..., None], *args: str | None, description: str = "mail") -> None:
    """Run ``job(*args)`` on the ``high`` queue (inline when there is no queue).

    ``args`` name what to send (ids, a purpose), never a message: a job's arguments sit in
    Redis in clear text, and RQ logs them. ``description`` is what the worker logs instead.
    """
    try:
        get_queue("high").enqueue(
            job,
            *args,
            job_timeout=60,
            retry=Retry(max=3, interval=RETRY_INTERVALS),
            result_ttl=3600,
            failure_ttl=current_settings().JOB_FAILURE_TTL,
            description=description,
        )
    except (RuntimeError, RedisError):
        log.warning("mail queue unavailable; sending inline", exc_info=True)
        job(*args)
