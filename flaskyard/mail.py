"""Outgoing mail: one function for every message, sent by a job on the ``high`` queue.

Without ``MAIL_SERVER`` the message is not sent and only its recipient and subject are
logged: bodies carry reset and verification tokens, which must not reach a log. In
development the whole message is kept in the dev mailbox (``GET /api/v1/dev/mail``).
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

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


def send_mail(to: str, subject: str, body: str) -> None:
    """Send a message through the ``high`` queue (inline when there is no queue)."""
    try:
        get_queue("high").enqueue(
            deliver,
            to,
            subject,
            body,
            job_timeout=60,
            retry=Retry(max=3, interval=RETRY_INTERVALS),
            result_ttl=3600,
            failure_ttl=current_settings().JOB_FAILURE_TTL,
        )
    except (RuntimeError, RedisError):
        log.warning("mail queue unavailable; sending inline", exc_info=True)
        deliver(to, subject, body)
