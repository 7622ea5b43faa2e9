#!/bin/sh
# Installs Debian packages that the tests need, each only when its program is
# missing, with apt-get (needs root or sudo):
#
#   scripts/install_packages.sh squid:/usr/sbin/squid openssl:openssl
#
# Each argument is PACKAGE:PROGRAM, where PROGRAM is a command name or an
# absolute path. Prints what it installs on stderr; exits non-zero when an
# install fails, so the step that needs the package says why.
set -eu

missing=""
for pair in "$@"; do
  package=${pair%%:*}
  program=${pair#*:}
  case "$program" in
    /*) [ -x "$program" ] || missing="$missing $package" ;;
    *) command -v "$program" >/dev/null 2>&1 || missing="$missing $package" ;;
  esac
done
[ -n "$missing" ] || exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install_packages.sh: need root or sudo to install:$missing" >&2
    exit 1
  fi
fi
echo "install_packages.sh: installing$missing" >&2
$sudo apt-get update -qq >/dev/null
# shellcheck disable=SC2086 # word splitting of the package list is wanted
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  $missing >/dev/null
