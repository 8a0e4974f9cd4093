#!/bin/sh
# Healthy when the server answers PING on its port.
[ "$(redis-cli -h 127.0.0.1 -p "${REDIS_PORT:-6379}" ping 2>/dev/null)" = PONG ]
