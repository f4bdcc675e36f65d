#!/bin/sh
# Installs the unit files: scripts/install-systemd.sh [BINDIR [UNITDIR]]
#   BINDIR   where the cpe, dpe and cpe-agent commands are (default: npm's global bin,
#            e.g. /usr/local/bin after `npm install -g .`)
#   UNITDIR  default /etc/systemd/system
# Then: systemctl daemon-reload && systemctl enable --now cpe.service
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bindir=${1:-$(npm prefix -g)/bin}
unitdir=${2:-/etc/systemd/system}
for cmd in cpe dpe; do
  [ -x "$bindir/$cmd" ] || { echo "install-systemd: $bindir/$cmd is missing or not executable" >&2; exit 1; }
done
mkdir -p "$unitdir"
for unit in cpe.service dpe@.service cpe-agent.service; do
  sed "s#/usr/local/bin/#$bindir/#g" "$here/systemd/$unit" > "$unitdir/$unit.tmp"
  mv "$unitdir/$unit.tmp" "$unitdir/$unit"
done
echo "installed cpe.service, dpe@.service and cpe-agent.service into $unitdir (commands from $bindir)"
