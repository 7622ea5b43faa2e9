#!/bin/sh
# Runs a command with redis-server on PATH, for the Redis token cache's tests
# (which start and stop their own servers on free ports of 127.0.0.1):
#
#   scripts/with_redis.sh npx -y deno@2.9.6 test -A tests/e2e/redis_test.ts
#
# Installs Debian's redis-server with apt-get when it is missing (needs root
# or sudo). The package's own service is not started; the command sees
# KOGNIC_TEST_REDIS=1; its exit code is this script's exit code.
set -eu

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

if ! command -v redis-server >/dev/null 2>&1; then
  sh "$(dirname "$0")/install_packages.sh" redis-server:redis-server
  # The package starts its own service on the default port: stop it.
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if command -v service >/dev/null 2>&1; then $sudo service redis-server stop >/dev/null 2>&1 || true; fi
fi

status=0
KOGNIC_TEST_REDIS=1 "$@" || status=$?
exit "$status"
