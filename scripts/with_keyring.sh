#!/bin/sh
# Runs a command against a real, unlocked Secret Service (gnome-keyring) on a
# private D-Bus session bus, for the keyring tests:
#
#   scripts/with_keyring.sh npx -y deno@2.9.6 test --allow-all tests/e2e/keyring_test.ts
#
# Installs gnome-keyring, dbus and libsecret-tools with apt-get when they are
# missing (Debian/Ubuntu; needs root or sudo). The keyring lives in a throwaway
# directory that is removed afterwards, so the user's own keyring is never
# touched. The command sees KOGNIC_TEST_KEYRING=1; its exit code is this
# script's exit code.
set -eu

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

if [ "${KOGNIC_WITH_KEYRING_INNER:-}" != 1 ]; then
  # Outer half: install what is missing, make the throwaway directories, and
  # re-enter this script inside a new session bus.
  sh "$(dirname "$0")/install_packages.sh" gnome-keyring:gnome-keyring-daemon \
    dbus:dbus-run-session dbus:dbus-send libsecret-tools:secret-tool

  scratch=$(mktemp -d "${TMPDIR:-/tmp}/kognic-keyring.XXXXXX")
  chmod 700 "$scratch"
  mkdir -m 700 "$scratch/runtime" "$scratch/data" "$scratch/bus"
  # The session bus listens in the scratch folder (the default is a socket in
  # /tmp), so the command may be allowed to write there alone.
  cat >"$scratch/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$scratch/bus</listen>
  <auth>EXTERNAL</auth>
  <standard_session_servicedirs/>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
  status=0
  env -u DISPLAY -u WAYLAND_DISPLAY -u DBUS_SESSION_BUS_ADDRESS \
    XDG_RUNTIME_DIR="$scratch/runtime" XDG_DATA_HOME="$scratch/data" \
    KOGNIC_WITH_KEYRING_INNER=1 KOGNIC_WITH_KEYRING_SCRATCH="$scratch" \
    dbus-run-session --config-file="$scratch/bus.conf" -- sh "$0" "$@" || status=$?
  rm -rf "$scratch"
  exit "$status"
fi

# Inner half: on the private session bus. Start the daemon in the foreground
# (so $! is its PID), unlocking a fresh login keyring with a throwaway password
# read from stdin.
scratch=$KOGNIC_WITH_KEYRING_SCRATCH
unset KOGNIC_WITH_KEYRING_INNER KOGNIC_WITH_KEYRING_SCRATCH
printf %s "kognic-test-$$" >"$scratch/password"
gnome-keyring-daemon --foreground --unlock --components=secrets \
  --control-directory="$scratch/runtime/keyring" \
  <"$scratch/password" >"$scratch/daemon.log" 2>&1 &
daemon=$!

stop_daemon() {
  if kill -0 "$daemon" 2>/dev/null; then
    kill "$daemon" 2>/dev/null || true
    kill -CONT "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
}
trap stop_daemon EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Wait (at most about 10 s) until the daemon owns the Secret Service name.
tries=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
  grep -q "boolean true"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 100 ] || ! kill -0 "$daemon" 2>/dev/null; then
    echo "with_keyring.sh: gnome-keyring-daemon did not provide org.freedesktop.secrets" >&2
    cat "$scratch/daemon.log" >&2 || true
    exit 1
  fi
  sleep 0.1
done
rm -f "$scratch/password"

status=0
KOGNIC_TEST_KEYRING=1 "$@" || status=$?
exit "$status"
