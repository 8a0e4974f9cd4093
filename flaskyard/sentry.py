"""Optional error reports to Sentry, for the web app and the worker, when ``SENTRY_DSN`` is set.

sentry-sdk is the optional ``sentry`` extra (``pip install flaskyard[sentry]``; the image's
locked requirements include it) and is imported only when a DSN is configured, so a deployment
without Sentry pays nothing for it.
"""

from __future__ import annotations

import logging

from flaskyard.config import ConfigError, Settings

log = logging.getLogger("flaskyard.sentry")


def init_sentry(settings: Settings, *, release: str) -> bool:
    """Start the Sentry client when ``SENTRY_DSN`` is set; return whether it was started."""
    if settings.SENTRY_DSN is None:
        return False
    try:
        # Import cost: only deployments that set SENTRY_DSN load the SDK and its integrations.
        import sentry_sdk
    except ImportError:
        raise ConfigError(
            "SENTRY_DSN is set but sentry-sdk is not installed; install flaskyard[sentry]."
        ) from None
    # Flask, RQ, SQLAlchemy, Redis and logging integrations turn themselves on when their
    # libraries are importable, which they are here: errors in requests and jobs are reported.
    sentry_sdk.init(
        dsn=settings.SENTRY_DSN.get_secret_value(),
        environment=settings.APP_ENV,
        release=f"flaskyard@{release}",
        traces_sample_rate=settings.SENTRY_TRACES_SAMPLE_RATE,
        send_default_pii=False,
    )
    log.info("error reports go to Sentry (environment %s)", settings.APP_ENV)
    return True
