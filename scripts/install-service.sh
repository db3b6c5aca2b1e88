#!/usr/bin/env bash
# npm run install-service: install vimaged as a systemd service.
# Puts the units, the sysusers and tmpfiles snippets in place, with
# ExecStart pointing at this checkout's build and this machine's node,
# creates the vimage group, and reloads systemd. Run as root.
# PREFIX=/some/root installs under another root (packaging, tests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${PREFIX:-}"
if [ -z "$prefix" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install-service: run as root (sudo npm run install-service)" >&2
  exit 1
fi
node_bin="$(command -v node)"
daemon="$root/dist/daemon/main.js"
if [ ! -f "$daemon" ]; then
  echo "install-service: $daemon is missing; run npm install first" >&2
  exit 1
fi
unitdir="$prefix/etc/systemd/system"
install -d "$unitdir" "$prefix/usr/lib/sysusers.d" "$prefix/usr/lib/tmpfiles.d" "$prefix/etc/vimage"
sed "s|^ExecStart=/usr/local/bin/vimaged |ExecStart=$node_bin $daemon |" \
  "$root/systemd/vimaged.service" > "$unitdir/vimaged.service"
install -m 0644 "$root/systemd/vimaged.socket" "$unitdir/vimaged.socket"
install -m 0644 "$root/systemd/vimage.sysusers.conf" "$prefix/usr/lib/sysusers.d/vimage.conf"
install -m 0644 "$root/systemd/vimage.tmpfiles.conf" "$prefix/usr/lib/tmpfiles.d/vimage.conf"
echo "install-service: units in $unitdir"
if [ -z "$prefix" ]; then
  getent group vimage >/dev/null || systemd-sysusers /usr/lib/sysusers.d/vimage.conf 2>/dev/null || groupadd --system vimage
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    echo "install-service: now 'systemctl enable --now vimaged.socket vimaged.service'"
  else
    echo "install-service: systemd is not running here; units installed but not loaded"
  fi
fi
