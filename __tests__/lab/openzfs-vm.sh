#!/usr/bin/env bash
# openzfs-vm.sh - a Debian 12 guest with real OpenZFS (2.3, bookworm-backports) under QEMU,
# for the tests of zback's OpenZFS-only paths (zfs-fuse is an old ZFS without them).
#
# Usage (as root):
#   openzfs-vm.sh build         build the guest image once (cached, see below), print its folder
#   openzfs-vm.sh boot          boot a throw-away copy of it (-snapshot), wait for ssh, print the port
#   openzfs-vm.sh ssh [CMD..]   run CMD in the guest as root (stdin/stdout pass through)
#   openzfs-vm.sh stop          power the guest off (kill it after a grace period)
#
# Environment: OPENZFS_VM_DIR (default /tmp/zback-openzfs-vm) holds the running guest's pid,
#   serial log and port; OPENZFS_VM_CACHE (default /var/cache/zback-openzfs-vm) holds built
#   images, one folder per key (the recipe's hash + the node binary it bakes in), so a second
#   build is a no-op; OPENZFS_VM_PORT (default 2222) the loopback port forwarded to the guest's
#   ssh; OPENZFS_VM_BOOT_WAIT (s, default 300).
#
# Why QEMU TCG: this machine's /dev/kvm is PVM-only (no VT-x), so the guest runs under software
# emulation; a fresh build takes about 5 minutes, most of it compiling the zfs module (dkms),
# and a boot about 30 s (figures in ../shared/reference/zfs-lab.md).
set -euo pipefail

PROG=${0##*/}
RUN=${OPENZFS_VM_DIR:-/tmp/zback-openzfs-vm}
CACHE=${OPENZFS_VM_CACHE:-/var/cache/zback-openzfs-vm}
PORT=${OPENZFS_VM_PORT:-2222}
BOOT_WAIT=${OPENZFS_VM_BOOT_WAIT:-300}
MIRROR=http://deb.debian.org/debian

die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root"
NODE=$(command -v node) || die "node is not on PATH (it is copied into the guest)"
NODE=$(readlink -f "$NODE")

# The image depends on the recipe (build_rootfs, defined below) and the node binary baked in.
key() {
  { declare -f build_rootfs; echo "$MIRROR"; sha256sum "$NODE"; } | sha256sum | cut -c1-16
}

need_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v mke2fs >/dev/null || missing+=(e2fsprogs)
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: apt-get install --no-install-recommends ${missing[*]} qemu-utils"
}

# The guest's root file system: minimal Debian with the cloud kernel, OpenZFS from backports
# (only the zfs packages, through an apt pin), sshd, and the host's node binary.
build_rootfs() {
  local rootfs=$1 sshkey=$2
  local pin='Package: zfs* libzfs* libzpool* libnvpair* libuutil* libzfsbootenv*\nPin: release n=bookworm-backports\nPin-Priority: 990\n'
  mmdebstrap --mode=root --variant=minbase --components=main,contrib \
    --include=systemd-sysv,udev,kmod,iproute2,netbase,procps,openssh-server,openssh-client,linux-image-cloud-amd64,linux-headers-cloud-amd64,build-essential,dkms,zfs-dkms,zfsutils-linux,libstdc++6,coreutils,psmisc \
    --setup-hook="mkdir -p \"\$1/etc/apt/preferences.d\" && printf '$pin' > \"\$1/etc/apt/preferences.d/zfs-backports\"" \
    --customize-hook='for m in "$1"/lib/modules/*; do kv=${m##*/}; find "$m" -name "zfs.ko*" | grep -q . || chroot "$1" dkms autoinstall -k "$kv"; find "$m" -name "zfs.ko*" | grep -q . || { echo "no zfs module for $kv" >&2; exit 1; }; done' \
    --customize-hook='echo zlab > "$1/etc/hostname"; printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" > "$1/etc/fstab"' \
    --customize-hook='printf "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n" > "$1/etc/systemd/network/10-en.network"; chroot "$1" systemctl enable systemd-networkd ssh' \
    --customize-hook='mkdir -p "$1/etc/systemd/system/systemd-udev-settle.service.d"; printf "[Service]\nExecStart=\nExecStart=/bin/true\n" > "$1/etc/systemd/system/systemd-udev-settle.service.d/fast.conf"' \
    --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer 2>/dev/null || true; chroot "$1" passwd -d root' \
    --customize-hook="install -d -m 700 \"\$1/root/.ssh\" && install -m 600 '$sshkey.pub' \"\$1/root/.ssh/authorized_keys\" && install -m 755 '$NODE' \"\$1/usr/local/bin/node\"" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin 2>/dev/null; true' \
    bookworm "$rootfs" \
    "deb $MIRROR bookworm main contrib" \
    "deb $MIRROR bookworm-updates main contrib" \
    "deb http://deb.debian.org/debian-security bookworm-security main contrib" \
    "deb $MIRROR bookworm-backports main contrib"
}

cmd_build() {
  if [ -s "$IMAGE_DIR/root.img" ] && [ -s "$IMAGE_DIR/vmlinuz" ] && [ -s "$IMAGE_DIR/initrd" ]; then
    echo "$IMAGE_DIR"; return
  fi
  need_tools
  local work="$IMAGE_DIR.building.$$"
  rm -rf "$work"; mkdir -p "$work"
  trap 'rm -rf "$work"' EXIT
  ssh-keygen -q -t ed25519 -N '' -C zback-openzfs-vm -f "$work/id_ed25519"
  local t0=$SECONDS
  log "building the guest's root file system (mmdebstrap + zfs-dkms; about 5 minutes) in $work"
  build_rootfs "$work/rootfs" "$work/id_ed25519" >"$work/build.log" 2>&1 || {
    tail -40 "$work/build.log" >&2; die "mmdebstrap failed (log above)"; }
  cp "$(ls "$work"/rootfs/boot/vmlinuz-* | sort -V | tail -1)" "$work/vmlinuz"
  cp "$(ls "$work"/rootfs/boot/initrd.img-* | sort -V | tail -1)" "$work/initrd"
  mke2fs -q -t ext4 -L root -d "$work/rootfs" "$work/root.img" 4G >/dev/null
  rm -rf "$work/rootfs"
  rm -rf "$IMAGE_DIR"; mv "$work" "$IMAGE_DIR"
  trap - EXIT
  # Images of an older recipe or node binary are of no further use (about 1 GB each).
  find "$CACHE" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{16}' \
    ! -path "$IMAGE_DIR" -exec rm -rf {} +
  log "built in $((SECONDS - t0)) s: $IMAGE_DIR"
  echo "$IMAGE_DIR"
}

ssh_opts() {
  printf '%s\n' -i "$IMAGE_DIR/id_ed25519" -p "$(cat "$RUN/port")" -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ConnectTimeout=10 -o ServerAliveInterval=15
}

cmd_ssh() {
  [ -s "$RUN/port" ] || die "no guest running (boot it first)"
  local opts; mapfile -t opts < <(ssh_opts)
  # The command is one string for the remote shell: callers quote what they pass.
  exec ssh "${opts[@]}" root@127.0.0.1 "$@"
}

running() { [ -s "$RUN/qemu.pid" ] && kill -0 "$(cat "$RUN/qemu.pid")" 2>/dev/null; }

cmd_boot() {
  cmd_build >/dev/null
  running && die "a guest is already running (pid $(cat "$RUN/qemu.pid")); stop it first"
  mkdir -p "$RUN"; rm -f "$RUN"/{qemu.pid,port,serial.log}
  echo "$PORT" > "$RUN/port"
  local t0=$SECONDS
  # -snapshot: the cached image is never written; every boot starts from the same pristine guest.
  qemu-system-x86_64 -accel tcg,thread=multi,tb-size=256 -cpu max -machine q35 -m 2048 -smp 2 \
    -kernel "$IMAGE_DIR/vmlinuz" -initrd "$IMAGE_DIR/initrd" \
    -append "root=/dev/vda rw console=ttyS0 mitigations=off quiet" \
    -drive "file=$IMAGE_DIR/root.img,if=virtio,format=raw,cache=unsafe" -snapshot \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=n0 \
    -display none -serial "file:$RUN/serial.log" -daemonize -pidfile "$RUN/qemu.pid"
  local opts; mapfile -t opts < <(ssh_opts)
  until ssh "${opts[@]}" root@127.0.0.1 'zfs version' >/dev/null 2>&1; do
    running || { tail -30 "$RUN/serial.log" >&2; die "the guest died while booting (serial log above)"; }
    [ $((SECONDS - t0)) -lt "$BOOT_WAIT" ] || { tail -30 "$RUN/serial.log" >&2; cmd_stop; die "no ssh after ${BOOT_WAIT}s"; }
    sleep 2
  done
  log "booted in $((SECONDS - t0)) s, ssh on 127.0.0.1:$PORT"
  echo "$PORT"
}

cmd_stop() {
  running || { rm -f "$RUN/qemu.pid"; return 0; }
  local pid; pid=$(cat "$RUN/qemu.pid")
  # The guest's disk is a throw-away snapshot: a hard stop loses nothing worth keeping.
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$RUN/qemu.pid" "$RUN/port"
}

IMAGE_DIR="$CACHE/$(key)"

case "${1:-}" in
  build) cmd_build ;;
  boot) cmd_boot ;;
  ssh) shift; cmd_ssh "$@" ;;
  stop) cmd_stop ;;
  *) sed -n '5,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
