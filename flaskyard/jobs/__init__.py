"""Background jobs on RQ: a database row per job, Redis as the live state, SSE progress."""
