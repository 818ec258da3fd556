"""Django's PostgreSQL backend with a health check that costs no round trip on a quiet connection.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request that
reuses a connection: two of the annotation loop's ten round trips (issue 13). When a server
ends a connection (restart, `pg_terminate_backend`, an idle timeout) it says so on the socket
(an error message, then end of file), so a connection that is idle, not broken and has nothing
to read is alive as far as a `SELECT 1` could tell; only one with something to read is checked
with the round trip. A link that dies silently (no FIN, no RST) fools both checks alike.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if self.health_check_enabled and not self.health_check_done and self.connection is not None and self._quiet():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _quiet(self) -> bool:
        """Say whether the connection is idle, unbroken and has nothing waiting on its socket."""
        conn = self.connection
        if conn.closed or conn.broken or conn.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):  # the socket is gone
            return False
        return not readable
