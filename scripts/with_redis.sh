#!/bin/sh
# Runs a command with redis-server on PATH, for the Redis token cache's tests
# (which start and stop their own servers on free ports of 127.0.0.1):
#
#   scripts/with_redis.sh npx -y deno@2.9.6 test -A tests/e2e/redis_test.ts
#
# Installs Debian's redis-server with scripts/install_packages.sh when it is
# missing (needs root or sudo; exit code 77 when it cannot). The package's own
# service is stopped; the command sees
# KOGNIC_TEST_REDIS=1; its exit code is this script's exit code.
set -eu

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

# Exits 77 when redis-server is missing and cannot be installed here.
sh "$(dirname "$0")/install_packages.sh" redis-server:redis-server

status=0
KOGNIC_TEST_REDIS=1 "$@" || status=$?
exit "$status"
