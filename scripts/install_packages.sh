#!/bin/sh
# Installs Debian packages that the tests need, each only when its program is
# missing, with apt-get (Debian or Ubuntu; needs root or sudo):
#
#   scripts/install_packages.sh squid:/usr/sbin/squid openssl:openssl
#
# Each argument is PACKAGE:PROGRAM, where PROGRAM is a command name or an
# absolute path. What it does to the system is bounded:
#
# - only the missing packages, without recommended ones (--no-install-recommends);
# - never an upgrade of an installed package for its own sake (--no-upgrade):
#   apt-get is asked first (-s) what it would do; when that includes removing
#   anything, nothing is installed; an installed package is upgraded only where
#   a missing one cannot be installed without it (Debian 12's libdbi-perl,
#   needed by squid, wants the newest perl), and the script names those;
# - the apt/dpkg lock held by another process is waited for, at most
#   KOGNIC_APT_LOCK_WAIT seconds (default 300).
#
# Exit codes: 0 when every program is there; 77 when they cannot be installed
# here (no apt-get, no root or sudo, or a removal would be needed), with one
# line on stderr saying so; another non-zero code when apt-get failed.
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
# Each package once, in a stable order.
missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
missing=${missing% }

cannot() {
  echo "install_packages.sh: cannot install $missing: $1" >&2
  exit 77
}

command -v apt-get >/dev/null 2>&1 || cannot "no apt-get (install them yourself)"
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    cannot "needs root or sudo without a password"
  fi
fi

wait=${KOGNIC_APT_LOCK_WAIT:-300}
apt() {
  # shellcheck disable=SC2086 # $sudo is empty or "sudo -n"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout="$wait" "$@"
}

echo "install_packages.sh: installing $missing (apt-get, --no-install-recommends)" >&2
# Package lists older than a day are refreshed (a fresh machine has none).
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
  apt update -qq >/dev/null || echo "install_packages.sh: apt-get update failed" >&2
fi

# shellcheck disable=SC2086 # word splitting of the package list is wanted
plan=$(apt install -s -y --no-install-recommends --no-upgrade $missing) || {
  printf '%s\n' "$plan" >&2
  exit 1
}
# "Remv name" is a removal; "Inst name [installed-version] (new ...)" an upgrade.
removals=$(printf '%s\n' "$plan" | awk '/^Remv / { print $2 }' | tr '\n' ' ')
if [ -n "$removals" ]; then
  cannot "apt-get would remove installed packages: ${removals% }"
fi
upgrades=$(printf '%s\n' "$plan" | awk '/^Inst [^ ]+ \[/ { print $2 }' | tr '\n' ' ')
if [ -n "$upgrades" ]; then
  echo "install_packages.sh: the missing packages need newer versions of: ${upgrades% }" >&2
fi

# shellcheck disable=SC2086 # word splitting of the package list is wanted
apt install -y -qq --no-install-recommends --no-upgrade $missing >/dev/null
# A package that starts its own service (redis-server on port 6379, squid on
# 3128) where the system runs init scripts: stop it; the tests start their own.
for package in $missing; do
  if [ -x "/etc/init.d/$package" ] && command -v service >/dev/null 2>&1; then
    $sudo service "$package" stop >/dev/null 2>&1 || true
  fi
done
echo "install_packages.sh: installed $(printf '%s\n' "$plan" | grep -c '^Inst ') packages" >&2
