"""Settings module for the plain ``rq worker -c jobs_rq_settings`` of ``bench/jobs.py``.

RQ imports this file in the worker's parent process before any job runs. Importing the job
module here means every forked work horse inherits it (and SQLAlchemy) instead of importing it
again per job, as it would under a bare ``rq worker``. That keeps the comparison about forking
and connections, not imports, and errs in plain RQ's favour.
"""

import jobs_tasks  # noqa: F401 - imported for its side effect: preloaded in the parent
import psycopg  # noqa: E402, F401 - the driver and SQLAlchemy's dialect for it, likewise
import sqlalchemy.dialects.postgresql.psycopg  # noqa: E402, F401
