#!/bin/bash
# ../shared/recipes/systemd-sandbox-boot.sh (its README says why each of its
# lines is there) with three additions for our tests, marked "added".
# Runs as PID 1 of fresh pid/mount/uts/ipc/net namespaces: private /run, /tmp, /var/tmp,
# host-touching early-boot units masked, then systemd with a minimal target.
set -e
# added: the project, wherever it is (a CI clone in /tmp gets hidden by the tmpfs
# below, and by the units' PrivateTmp and ProtectHome), is shown to the units
# at /run/cpe-test/project: bound aside first, moved there after.
keep=${SANDBOX_KEEP:-}
if [ -n "$keep" ]; then mount --bind "$keep" /mnt; fi
for d in /run /tmp /var/tmp; do mount -t tmpfs tmpfs "$d"; done
if [ -n "$keep" ]; then mkdir -p /run/cpe-test/project && mount --move /mnt /run/cpe-test/project; fi
# added: a private /var/lib, so that the CPE's StateDirectory=cpe, DynamicUser's
# /var/lib/private and any state systemd keeps never land on the host (and the
# host's databases and brokers keep their data directories to themselves).
mount -t tmpfs -o mode=0755 tmpfs /var/lib
# added: shared mount propagation, as a booted host has it (systemd sets it at boot,
# but not in a namespace it did not make): without it a unit's LoadCredential=
# directory is not handed to the unit's user, and a DPE cannot read its bus password.
# These are the namespace's own copies of the mounts: the host's are not touched.
mount --make-rshared /
mkdir -p /run/lock /run/systemd/system
for u in systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service systemd-tmpfiles-clean.timer \
         systemd-sysctl.service systemd-remount-fs.service systemd-sysusers.service systemd-modules-load.service \
         systemd-binfmt.service proc-sys-fs-binfmt_misc.automount systemd-journal-flush.service \
         systemd-update-utmp.service systemd-random-seed.service systemd-hwdb-update.service \
         systemd-journal-catalog-update.service ldconfig.service; do
  ln -sf /dev/null /run/systemd/system/$u
done
cat > /run/systemd/system/cpe-test.target <<'T'
[Unit]
Description=Minimal target for tests
Wants=dbus.socket dbus.service
After=dbus.socket
AllowIsolate=yes
T
ip link set lo up 2>/dev/null || true
exec /lib/systemd/systemd --system --unit=cpe-test.target --log-target=console
