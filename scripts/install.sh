#!/usr/bin/env bash
# Installs sensorgate as a systemd service, or upgrades an installed one in place.
#
#   sudo scripts/install.sh              from a built checkout (npm ci && npm run build) or a release tarball
#
# What it does (paths without --destdir/--prefix):
#   /opt/sensorgate                     the app: dist/src, config, scripts, package*.json, README.md, node_modules
#   /usr/local/bin/sensorgate           symlink to /opt/sensorgate/dist/src/cli.js
#   /etc/sensorgate/sensorgate.yaml     from config/sensorgate.example.yaml, only if there is none (never overwritten)
#   /etc/sensorgate/sensorgate.example.yaml   the example of this version, refreshed on every run
#   /var/lib/sensorgate                 the queue (mode 0700, owner sensorgate); kept as it is
#   /etc/systemd/system/sensorgate.service
#   user and group sensorgate (system account, no login), in the dialout and gpio groups where they exist
# Running it again upgrades: the app is staged next to the old one and swapped in, the service
# is stopped only for the swap and started again if it was running. Config and queue stay.
#
# Options:
#   --destdir DIR   install under DIR (also: DESTDIR=DIR): for packaging and tests. Nothing outside
#                   DIR is touched: no useradd, chown or systemctl; what would be run is printed.
#   --prefix DIR    where the app goes (default /opt/sensorgate)
#   --skip-npm      do not run `npm ci --omit=dev`; keep the node_modules of the installed version
#   --no-systemd    install the unit file but do not call systemctl (also automatic when systemd
#                   is not running, or with --destdir)
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
SKIP_NPM=0
USE_SYSTEMD=1
MIN_NODE_MAJOR=20

say() { printf 'sensorgate install: %s\n' "$*"; }
warn() { printf 'sensorgate install: WARNING: %s\n' "$*" >&2; }
die() {
  printf 'sensorgate install: error: %s\n' "$*" >&2
  exit 1
}
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ "$#" -gt 0 ]; do
  case "$1" in
    --destdir) [ "$#" -ge 2 ] || die "--destdir needs a directory"; DESTDIR="$2"; shift 2 ;;
    --destdir=*) DESTDIR="${1#*=}"; shift ;;
    --prefix) [ "$#" -ge 2 ] || die "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --skip-npm) SKIP_NPM=1; shift ;;
    --no-systemd) USE_SYSTEMD=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path (got $PREFIX)" ;; esac
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR"
  DESTDIR="$(cd "$DESTDIR" && pwd)"
  USE_SYSTEMD=0
fi
# Without a running systemd (a container, a chroot) there is nothing to reload or start.
if [ "$USE_SYSTEMD" -eq 1 ] && { ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; }; then
  say "systemd is not running here: installing the unit file without calling systemctl"
  USE_SYSTEMD=0
fi

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -f "$SRC/dist/src/cli.js" ] || die "$SRC/dist/src/cli.js not found: build first (npm ci && npm run build), or use a release tarball"
[ -f "$SRC/config/sensorgate.example.yaml" ] || die "$SRC/config/sensorgate.example.yaml not found: is $SRC a sensorgate checkout?"

# Runs a command that changes the system, or in a --destdir install says it would.
system() {
  if [ -n "$DESTDIR" ]; then
    say "skipped (--destdir): $*"
  else
    "$@"
  fi
}

check_node() {
  local node version major
  node="$(command -v node || true)"
  [ -n "$node" ] || die "Node.js not found on PATH. sensorgate needs Node.js >= $MIN_NODE_MAJOR: install it from NodeSource (https://github.com/nodesource/distributions) or your distribution (Debian 13+), then run this again."
  version="$(node --version 2>/dev/null || true)"
  major="${version#v}"
  major="${major%%.*}"
  case "$major" in '' | *[!0-9]*) die "cannot tell the Node.js version of $node (node --version said: '$version')" ;; esac
  if [ "$major" -lt "$MIN_NODE_MAJOR" ]; then
    die "sensorgate needs Node.js >= $MIN_NODE_MAJOR, but $node is $version. Debian 12 and Raspberry Pi OS bookworm ship Node 18: install Node $MIN_NODE_MAJOR or newer from NodeSource (https://github.com/nodesource/distributions), then run this again."
  fi
  NODE_DIR="$(dirname "$(readlink -f "$node")")"
  case "$NODE_DIR" in
    /home/* | /root/* | /root)
      warn "node is under $NODE_DIR; the service runs with ProtectHome=true and cannot see it. Install Node system-wide (NodeSource or your distribution) for the service." ;;
  esac
  say "Node.js $version ($node)"
}

check_arch() {
  local machine
  machine="$(uname -m)"
  case "$machine" in
    aarch64 | arm64 | x86_64 | amd64 | armv7l | armv8l) ;;
    armv6l) warn "ARMv6 (Raspberry Pi Zero/1): LevelDB and serialport ship prebuilt binaries for ARMv7 and newer only; npm would have to compile them. Untested." ;;
    *) warn "untested architecture $machine (supported: arm64, armhf, x86_64)" ;;
  esac
}

# The service user, in the device groups this system has.
DEVICE_GROUPS=""
setup_user() {
  local group
  for group in dialout gpio; do
    if getent group "$group" >/dev/null 2>&1; then
      DEVICE_GROUPS="${DEVICE_GROUPS:+$DEVICE_GROUPS }$group"
    else
      say "no group $group on this system: skipping it"
    fi
  done
  if [ -n "$DESTDIR" ] || ! getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
    system useradd --system --user-group --home-dir "$STATEDIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  for group in $DEVICE_GROUPS; do
    system usermod --append --groups "$group" "$SERVICE_USER"
  done
}

# Copies the app into a staging directory next to the installed one.
stage_app() {
  local stage="$1" previous="$2" item
  rm -rf "$stage"
  mkdir -p "$stage/dist"
  mkdir -p "$stage/scripts"
  for item in package.json package-lock.json README.md LICENSE config scripts/install.sh scripts/uninstall.sh scripts/systemd; do
    if [ -e "$SRC/$item" ]; then cp -R "$SRC/$item" "$stage/$(dirname "$item")/"; fi
  done
  cp -R "$SRC/dist/src" "$stage/dist/src"
  # The checkout's build scripts are not part of the installed app: `prepare` would run tsc on
  # `npm ci`, and tsc is a dev dependency. (With a lock file devDependencies stay: npm ci wants
  # package.json to match it; --omit=dev leaves them out.)
  node -e '
    const fs = require("fs");
    const [file, lock] = process.argv.slice(1);
    const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
    delete pkg.scripts;
    // Without a lock file npm would resolve the dev tree too, just to write one.
    if (!fs.existsSync(lock)) delete pkg.devDependencies;
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
  ' "$stage/package.json" "$stage/package-lock.json"
  chmod 0755 "$stage/dist/src/cli.js"
  if [ "$SKIP_NPM" -eq 1 ]; then
    if [ -d "$previous/node_modules" ] || [ -L "$previous/node_modules" ]; then
      mv "$previous/node_modules" "$stage/node_modules"
      say "--skip-npm: kept node_modules of the installed version"
    else
      say "--skip-npm: no node_modules installed yet; run npm ci --omit=dev in $previous"
    fi
  else
    # A release tarball (npm pack) has no package-lock.json: then npm resolves within package.json's ranges.
    local npm_command=ci
    [ -f "$stage/package-lock.json" ] || npm_command=install
    say "installing runtime dependencies (npm $npm_command --omit=dev)"
    if ! (cd "$stage" && npm "$npm_command" --omit=dev --no-audit --no-fund); then
      rm -rf "$stage"
      die "npm $npm_command failed; the installed version (if any) is unchanged"
    fi
  fi
}

service_active() {
  [ "$USE_SYSTEMD" -eq 1 ] && systemctl is-active --quiet "$SERVICE"
}

render_unit() {
  local unit_src="$SRC/scripts/systemd/sensorgate.service" path_line
  path_line="/usr/local/bin:/usr/bin:/bin"
  case ":$path_line:" in *":$NODE_DIR:"*) ;; *) path_line="$NODE_DIR:$path_line" ;; esac
  sed -e "s#/opt/sensorgate#$PREFIX#g" \
    -e "s#^Environment=PATH=.*#Environment=PATH=$path_line#" \
    -e "s#^SupplementaryGroups=.*#${DEVICE_GROUPS:+SupplementaryGroups=$DEVICE_GROUPS}#" \
    "$unit_src"
}

main() {
  if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo $0), or use --destdir DIR to install under a directory"
  fi
  check_node
  check_arch
  setup_user

  local app="$DESTDIR$PREFIX" stage="$DESTDIR$PREFIX.new" old="$DESTDIR$PREFIX.old"
  mkdir -p "$(dirname "$app")"
  stage_app "$stage" "$app"
  if [ -z "$DESTDIR" ]; then chown -R root:root "$stage"; fi

  local was_active=0
  if service_active; then
    was_active=1
    say "stopping $SERVICE for the upgrade (queued readings stay in $STATEDIR)"
    systemctl stop "$SERVICE"
  fi
  rm -rf "$old"
  if [ -e "$app" ]; then mv "$app" "$old"; fi
  mv "$stage" "$app"
  rm -rf "$old"
  say "app installed in $app (version $(node -p 'require(process.argv[1]).version' "$app/package.json"))"

  mkdir -p "$DESTDIR$BINDIR"
  ln -sfn "$PREFIX/dist/src/cli.js" "$DESTDIR$BINDIR/sensorgate"

  local config="$DESTDIR$SYSCONFDIR/sensorgate.yaml"
  mkdir -p "$DESTDIR$SYSCONFDIR"
  chmod 0755 "$DESTDIR$SYSCONFDIR"
  install -m 0644 "$SRC/config/sensorgate.example.yaml" "$DESTDIR$SYSCONFDIR/sensorgate.example.yaml"
  if [ -e "$config" ]; then
    say "keeping the existing config $SYSCONFDIR/sensorgate.yaml"
  else
    # 0640 root:sensorgate: the service reads it, cannot change it, and other users cannot read a password in it.
    install -m 0640 "$SRC/config/sensorgate.example.yaml" "$config"
    system chgrp "$SERVICE_USER" "$config"
    say "wrote $SYSCONFDIR/sensorgate.yaml from the example: edit it (device.id, mqtt.url) before starting"
  fi

  mkdir -p "$DESTDIR$STATEDIR"
  chmod 0700 "$DESTDIR$STATEDIR"
  system chown "$SERVICE_USER:$SERVICE_USER" "$STATEDIR"

  mkdir -p "$DESTDIR$UNITDIR"
  render_unit >"$DESTDIR$UNITDIR/$SERVICE.service"
  chmod 0644 "$DESTDIR$UNITDIR/$SERVICE.service"
  say "unit installed: $UNITDIR/$SERVICE.service"

  if [ "$USE_SYSTEMD" -eq 1 ]; then
    systemctl daemon-reload
    if [ "$was_active" -eq 1 ]; then
      systemctl start "$SERVICE"
      say "upgraded and restarted $SERVICE"
      return
    fi
  fi
  say "next: edit $SYSCONFDIR/sensorgate.yaml, check it with: sudo -u $SERVICE_USER sensorgate check --config $SYSCONFDIR/sensorgate.yaml"
  say "then: systemctl enable --now $SERVICE   and watch: journalctl -u $SERVICE -f"
}

main
