"""Outgoing mail: one function for every message, sent by a job on the ``high`` queue.

The queued body is encrypted with a key derived from the app's secret key, so the job's
data in Redis never holds a reset or verification token in clear text.

Without ``MAIL_SERVER`` the message is not sent and only its recipient and subject are
logged: bodies carry reset and verification tokens, which must not reach a log. In
development the whole message is kept in the dev mailbox (``GET /api/v1/dev/mail``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import smtplib
from email.message import EmailMessage

from cryptography.fernet import Fernet
from flask import current_app
from redis.exceptions import RedisError
from rq import Retry

from flaskyard.broker import get_queue
from flaskyard.mailbox import store as mailbox
from flaskyard.settings import current_settings

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10
RETRY_INTERVALS = [10, 60, 300]


def deliver(to: str, subject: str, body: str) -> None:
    """Send one plain-text message now (the job ``send_mail`` queues); keep it in a dev mailbox."""
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
        mailbox.keep(to=to, subject=subject, body=body)


def _fernet() -> Fernet:
    # A key of its own, derived from the app's secret key, which the web and worker share.
    secret = str(current_app.secret_key).encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"flaskyard mail\0" + secret).digest()))


def seal(body: str) -> str:
    """``body`` encrypted for the queue: job data in Redis never holds a token in clear text."""
    return _fernet().encrypt(body.encode()).decode()


def deliver_sealed(to: str, subject: str, sealed_body: str) -> None:
    """The queued job: open the sealed body and send the message."""
    deliver(to, subject, _fernet().decrypt(sealed_body.encode()).decode())


def send_mail(to: str, subject: str, body: str) -> None:
    """Send a message through the ``high`` queue (inline when there is no queue)."""
    try:
        get_queue("high").enqueue(
            deliver_sealed,
            to,
            subject,
            seal(body),
            job_timeout=60,
            retry=Retry(max=3, interval=RETRY_INTERVALS),
            result_ttl=3600,
            failure_ttl=current_settings().JOB_FAILURE_TTL,
        )
    except (RuntimeError, RedisError):
        log.warning("mail queue unavailable; sending inline", exc_info=True)
        deliver(to, subject, body)
