#!/usr/bin/env bash
# Removes what scripts/install.sh installed.
#
#   sudo /opt/sensorgate/scripts/uninstall.sh            keeps the config and the queue
#   sudo /opt/sensorgate/scripts/uninstall.sh --purge    removes them too, and the sensorgate user
#
# Without --purge, /etc/sensorgate and /var/lib/sensorgate (readings not yet delivered) stay, so
# installing again carries on where this one stopped.
#
# Options:
#   --purge         also remove /var/lib/sensorgate (the queue: undelivered readings are lost),
#                   /etc/sensorgate and the sensorgate user
#   --destdir DIR   uninstall from under DIR (also: DESTDIR=DIR), as install.sh --destdir
#   --prefix DIR    where the app is (default /opt/sensorgate)
#   --no-systemd    do not call systemctl
#   -h, --help
set -euo pipefail

PREFIX=/opt/sensorgate
DESTDIR="${DESTDIR:-}"
SYSCONFDIR=/etc/sensorgate
STATEDIR=/var/lib/sensorgate
UNITDIR=/etc/systemd/system
BINDIR=/usr/local/bin
SERVICE=sensorgate
SERVICE_USER=sensorgate
PURGE=0
USE_SYSTEMD=1

say() { printf 'sensorgate uninstall: %s\n' "$*"; }
die() {
  printf 'sensorgate uninstall: error: %s\n' "$*" >&2
  exit 1
}
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ "$#" -gt 0 ]; do
  case "$1" in
    --purge) PURGE=1; shift ;;
    --destdir) [ "$#" -ge 2 ] || die "--destdir needs a directory"; DESTDIR="$2"; shift 2 ;;
    --destdir=*) DESTDIR="${1#*=}"; shift ;;
    --prefix) [ "$#" -ge 2 ] || die "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --no-systemd) USE_SYSTEMD=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path (got $PREFIX)" ;; esac
if [ -n "$DESTDIR" ]; then
  [ -d "$DESTDIR" ] || die "--destdir $DESTDIR does not exist"
  DESTDIR="$(cd "$DESTDIR" && pwd)"
  USE_SYSTEMD=0
elif [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0), or use --destdir DIR"
fi
if [ "$USE_SYSTEMD" -eq 1 ] && { ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; }; then
  USE_SYSTEMD=0
fi

system() {
  if [ -n "$DESTDIR" ]; then
    say "skipped (--destdir): $*"
  else
    "$@"
  fi
}

if [ "$USE_SYSTEMD" -eq 1 ]; then
  # A clean stop: the agent says `offline`; unacknowledged readings stay in the queue.
  systemctl disable --now "$SERVICE" 2>/dev/null || true
fi
rm -f "$DESTDIR$UNITDIR/$SERVICE.service"
if [ "$USE_SYSTEMD" -eq 1 ]; then systemctl daemon-reload; fi

# Only our symlink: a sensorgate installed otherwise (npm -g) is not ours to remove.
link="$DESTDIR$BINDIR/sensorgate"
if [ -L "$link" ] && [ "$(readlink "$link")" = "$PREFIX/dist/src/cli.js" ]; then rm -f "$link"; fi

rm -rf "$DESTDIR$PREFIX" "$DESTDIR$PREFIX.new" "$DESTDIR$PREFIX.old"
say "removed the service and $PREFIX"

if [ "$PURGE" -eq 1 ]; then
  rm -rf "$DESTDIR$STATEDIR" "$DESTDIR$SYSCONFDIR"
  if [ -n "$DESTDIR" ] || getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
    system userdel "$SERVICE_USER"
  fi
  say "purged $STATEDIR (the queue), $SYSCONFDIR and the $SERVICE_USER user"
else
  say "kept $SYSCONFDIR and the queue in $STATEDIR (remove them with --purge)"
fi
