#!/bin/sh
# Healthy once the real server (not the socket-only set-up one) accepts TCP connections.
exec pg_isready -q -h 127.0.0.1 -p "${PGPORT:-5432}" -U "${POSTGRES_USER:-postgres}" -d postgres
