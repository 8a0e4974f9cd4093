"""Outgoing mail: one function for every message; logged instead of sent without MAIL_SERVER."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10


def deliver(to: str, subject: str, body: str) -> None:
    """Send one plain-text message now (or log it when no MAIL_SERVER is configured)."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not config.get("MAIL_SERVER"):
        log.info("mail not sent (no MAIL_SERVER): to=%s subject=%s\n%s", to, subject, body)
        return
    with smtplib.SMTP(
        config["MAIL_SERVER"], config["MAIL_PORT"], timeout=SMTP_TIMEOUT_SECONDS
    ) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)


def send_mail(to: str, subject: str, body: str) -> None:
    """Send a message through the ``high`` queue (inline when there is no queue)."""
    from redis.exceptions import RedisError
    from rq import Retry

    from flaskyard.queue import get_queue

    try:
        get_queue("high").enqueue(
            "flaskyard.jobs.tasks.send_email",
            to,
            subject,
            body,
            job_timeout=60,
            retry=Retry(max=3, interval=[10, 60, 300]),
            result_ttl=3600,
            failure_ttl=current_app.config["JOB_FAILURE_TTL"],
        )
    except (RuntimeError, RedisError):
        log.warning("mail queue unavailable; sending inline", exc_info=True)
        deliver(to, subject, body)
