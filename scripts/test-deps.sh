#!/bin/sh
# Installs the system packages the test suite starts for real: redis-server
# (the cluster tests run real Redis processes) and swaks (the SMTP tests drive
# `moonwatch serve` with a real client). Does nothing when both are present.
# Debian/Ubuntu only; elsewhere it says what to install and fails.
set -e
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v swaks >/dev/null 2>&1 || missing="$missing swaks"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: please install:$missing (no apt-get on this machine)" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" = "0" ] || SUDO="sudo"
echo "test-deps: installing$missing" >&2
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
