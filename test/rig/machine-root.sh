#!/bin/sh
# Makes the Debian root the machine rig boots (test/rig/machines.ts), as a tar:
#   machine-root.sh SUITE MIRROR OUT.tar
# A minimal node: systemd as PID 1, sshd, python3 for Ansible, nftables, iproute2. Nothing the
# roles install themselves (nodejs, rsync, haproxy, socat) is in it, so a role that forgets a
# package fails here as it would on a fresh netinst node. Per-node state (machine-id, hostname,
# host keys) is removed: each node gets its own at boot or from the rig.
# Run under flock by the rig; takes ~1-2 min (debootstrap), the tar ~280 MB.
set -eu
suite=$1
mirror=$2
out=$3

work=$(mktemp -d "${out}.build.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
root=$work/root

debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,nftables,iproute2,netbase,procps,sudo,iputils-ping,ca-certificates \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

# Per node: machine-id made at first boot (an empty file tells systemd so), hostname and host
# keys from the rig.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root/etc/hostname" "$root"/etc/ssh/ssh_host_*
# The rig writes one ed25519 host key per node; the other types would be absent anyway.
cat >"$root/etc/ssh/sshd_config.d/rig.conf" <<'EOF'
# test rig (test/rig/machines.ts): one ed25519 host key per node, keys only, no DNS lookups.
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
# Nothing on the console (nspawn gives a read-only one) and no resolver: nodes reach no name
# service, apt goes through the rig's proxy by address.
ln -sf /dev/null "$root/etc/systemd/system/getty@.service"
ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$root/etc/systemd/system/systemd-networkd-wait-online.service"
printf '' >"$root/etc/resolv.conf"
# The apt lists debootstrap fetched are dropped: a fresh node has none (the roles must update).
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
printf 'deb %s %s main\n' "$mirror" "$suite" >"$root/etc/apt/sources.list"
rm -f "$root/etc/apt/sources.list.d/"*

tar --numeric-owner --xattrs -C "$root" -cf "$work/root.tar" .
mv -f "$work/root.tar" "$out"
