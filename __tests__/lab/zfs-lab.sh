#!/usr/bin/env bash
# zfs-lab.sh - run independent zfs-fuse daemons ("hosts"), each in its own
# private mount namespace, for zback integration tests and benchmarks.
#
# Usage (as root):
#   zfs-lab.sh start NAME              start a daemon for host NAME, print its PID
#   zfs-lab.sh exec NAME CMD [ARGS..]  run CMD inside NAME's mount namespace
#   zfs-lab.sh pid NAME                print NAME's daemon PID
#   zfs-lab.sh pool NAME POOL [SIZE]   create a file-backed pool (default 256M)
#   zfs-lab.sh sshd NAME PORT [--reuse-keys]  start sshd in NAME on 127.0.0.1:PORT
#                                      (--reuse-keys: restart with its earlier keys)
#   zfs-lab.sh stop-sshd NAME          kill NAME's sshd and all its session processes
#   zfs-lab.sh stop NAME               stop sshd + daemon, remove NAME's state (idempotent)
#   zfs-lab.sh stop-all                stop every host under $ZFS_LAB_DIR
#
# Environment: ZFS_LAB_DIR (default /tmp/zback-lab); host NAME lives in $ZFS_LAB_DIR/NAME.
#   ZFS_LAB_WAIT (s, default 10) readiness timeout; ZFS_LAB_TERM_WAIT_MS (default 300)
#   grace after TERM before KILL; ZFS_LAB_TIMING=1 prints timings on stderr;
#   ZFS_LAB_SSHD_MAX_SESSIONS (default 10, sshd's own default) for a new sshd.
# Layout of $ZFS_LAB_DIR/NAME:
#   run/ lock/ lib/  bind-mounted over /var/run/zfs, /var/lock/zfs, /var/lib/zfs
#   home/            (empty) bind-mounted over /root
#   img/POOL.img     pool backing files;  mnt/POOL  pool mountpoints
#   daemon.pid daemon.log
#   ssh/             sshd_config, host key, id_ed25519(.pub), authorized_keys,
#                    known_hosts, config (client, "Host NAME"), sshd.pid, sshd.log
# Only processes recorded in daemon.pid / ssh/sshd.pid (checked against their
# recorded start time) and the sshd's descendants are ever signalled.
set -euo pipefail

PROG=${0##*/}
LAB=${ZFS_LAB_DIR:-/tmp/zback-lab}
WAIT_READY=${ZFS_LAB_WAIT:-10}   # seconds to wait for daemon / sshd readiness
TERM_WAIT_MS=${ZFS_LAB_TERM_WAIT_MS:-300}  # grace after TERM before KILL on stop

die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }

usage() {
  sed -n '5,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ "$(id -u)" = 0 ] || die "must run as root"
LAB=$(realpath -m -- "$LAB")
case "$LAB/" in
  /root/*) die "ZFS_LAB_DIR ($LAB) must not be under /root (it is hidden inside hosts)";;
esac

check_name() {
  [[ ${1:-} =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "invalid host name '${1:-}'"
}

# now_ms: milliseconds since epoch (bash 5 EPOCHREALTIME)
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# proc_field PID N: field N (1-based, >=3) of /proc/PID/stat
proc_field() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s "$2"
  local n=$(( ${!#} - 2 ))
  echo "${!n}"
}

# alive PID: process exists and is not a zombie
alive() {
  local st
  st=$(proc_field "$1" 3) || return 1
  [ "$st" != Z ] && [ "$st" != X ]
}

# ours PIDFILE: print the recorded pid if that process is still alive and has the
# start time recorded next to it (PIDFILE.stime), so a reused PID is never touched.
ours() {
  local pidf=$1 pid stime
  [ -s "$pidf" ] && [ -s "$pidf.stime" ] || return 1
  read -r pid <"$pidf" || return 1
  read -r stime <"$pidf.stime" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  [ "$(proc_field "$pid" 22)" = "$stime" ] || return 1
  echo "$pid"
}

# wait_gone MS PID...: poll until all PIDs are gone (or zombies); 1 on timeout
wait_gone() {
  local deadline=$(( $(now_ms) + $1 )) p left
  shift
  while :; do
    left=0
    for p in "$@"; do alive "$p" && { left=1; break; }; done
    [ $left = 0 ] && return 0
    [ "$(now_ms)" -ge "$deadline" ] && return 1
    sleep 0.02
  done
}

# lock NAME: serialize start/stop/sshd/pool for one host (fd 9, closed in children)
lock() {
  mkdir -p "$LAB/.locks"
  exec 9>"$LAB/.locks/$1"
  flock 9
}

daemon_pid() { ours "$LAB/$1/daemon.pid"; }

require_pid() {
  daemon_pid "$1" || die "host '$1' is not running (no live daemon in $LAB/$1)"
}

in_ns() { # in_ns PID CMD... (no cwd handling; used internally)
  local pid=$1; shift
  nsenter -t "$pid" -m -u -- "$@" 9>&-
}

# ---------------------------------------------------------------- start
cmd_start() {
  local name=$1 dir="$LAB/$1" pid t0 deadline
  check_name "$name"
  lock "$name"
  if pid=$(daemon_pid "$name"); then
    die "host '$name' is already running (pid $pid, $dir); stop it first"
  fi
  if [ -e "$dir" ]; then
    warn "removing stale state of host '$name' ($dir)"
    stop_locked "$name"
  fi
  t0=$(now_ms)
  mkdir -p "$dir"/{run,lock,lib,mnt,img,home}
  : >"$dir/daemon.log"
  # The shell becomes zfs-fuse via exec, so the pid it records is the daemon,
  # which is the namespace's first and long-lived process.
  # Its own UTS namespace too: the host's hostname is NAME (what zback records as a copy's source).
  setsid unshare -m -u --propagation private -- /bin/sh -c '
    set -e
    d=$1
    printf "%s" "$2" >/proc/sys/kernel/hostname
    mkdir -p /var/run/zfs /var/lock/zfs /var/lib/zfs
    mount --bind "$d/run" /var/run/zfs
    mount --bind "$d/lock" /var/lock/zfs
    mount --bind "$d/lib" /var/lib/zfs
    mount --bind "$d/home" /root
    cut -d" " -f22 /proc/$$/stat >"$d/daemon.pid.stime"
    echo $$ >"$d/daemon.pid"
    exec zfs-fuse --no-daemon --no-kstat-mount -m 64
  ' zfs-lab-start "$dir" "$name" </dev/null >>"$dir/daemon.log" 2>&1 9>&- &
  local launcher=$!
  deadline=$(( t0 + WAIT_READY * 1000 ))
  pid=
  while :; do
    if [ -z "$pid" ] && [ -s "$dir/daemon.pid" ] && [ -s "$dir/daemon.pid.stime" ]; then
      read -r pid <"$dir/daemon.pid" || pid=
    fi
    if [ -n "$pid" ]; then
      alive "$pid" || { cat "$dir/daemon.log" >&2; die "zfs-fuse for '$name' died during startup (log above: $dir/daemon.log)"; }
      if in_ns "$pid" zfs list -H -o name >/dev/null 2>&1; then break; fi
    elif ! alive "$launcher"; then
      cat "$dir/daemon.log" >&2
      die "could not set up namespace for '$name' (log above: $dir/daemon.log)"
    fi
    if [ "$(now_ms)" -ge "$deadline" ]; then
      [ -n "$pid" ] && alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; }
      cat "$dir/daemon.log" >&2
      die "zfs-fuse for '$name' not ready after ${WAIT_READY}s (log above: $dir/daemon.log)"
    fi
    sleep 0.02
  done
  [ -n "${ZFS_LAB_TIMING:-}" ] && warn "start $name: $(( $(now_ms) - t0 )) ms"
  echo "$pid"
}

# ---------------------------------------------------------------- exec
cmd_exec() {
  local name=$1 pid
  shift
  check_name "$name"
  [ $# -ge 1 ] || die "usage: $PROG exec NAME CMD [ARGS...]"
  pid=$(require_pid "$name")
  # Entering a mount namespace resets the cwd to /; go back to the caller's cwd
  # when it exists inside (it does not if it lies under /root).
  ZFS_LAB_CWD=$PWD exec nsenter -t "$pid" -m -u -- /bin/sh -c \
    'cd "$ZFS_LAB_CWD" 2>/dev/null || cd /; unset ZFS_LAB_CWD; exec "$@"' zfs-lab-exec "$@"
}

cmd_pid() {
  check_name "$1"
  require_pid "$1"
}

# ---------------------------------------------------------------- pool
cmd_pool() {
  local name=$1 pool=$2 size=${3:-256M} dir="$LAB/$1" pid t0
  check_name "$name"
  [ -n "$pool" ] || die "usage: $PROG pool NAME POOL [SIZE]"
  [[ $pool != */* ]] || die "invalid pool name '$pool'"
  pid=$(require_pid "$name")
  t0=$(now_ms)
  local img="$dir/img/$pool.img"
  [ -e "$img" ] && die "$img already exists"
  truncate -s "$size" "$img"
  mkdir -p "$dir/mnt"
  local err
  # (zfs-fuse always prints "Defaulting to 4K blocksize ..." on stderr; only show it on failure)
  if ! err=$(in_ns "$pid" zpool create -m "$dir/mnt/$pool" "$pool" "$img" 2>&1 >/dev/null); then
    printf '%s\n' "$err" >&2
    rm -f "$img"
    die "zpool create $pool failed in host '$name'"
  fi
  [ -n "${ZFS_LAB_TIMING:-}" ] && warn "pool $name/$pool: $(( $(now_ms) - t0 )) ms"
  return 0
}

# ---------------------------------------------------------------- sshd
cmd_sshd() {
  local name=$1 port=$2 reuse=${3:-} dir="$LAB/$1" pid t0 deadline
  check_name "$name"
  [[ $port =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] || die "invalid port '$port'"
  lock "$name"
  pid=$(require_pid "$name")
  local s="$dir/ssh"
  if ours "$s/sshd.pid" >/dev/null; then die "sshd already running for host '$name'"; fi
  t0=$(now_ms)
  if [ "$reuse" = --reuse-keys ] && [ -f "$s/sshd_config" ]; then
  # A restart (after stop-sshd): same host key, client key and configuration.
  grep -qx "Port $port" "$s/sshd_config" || die "sshd for '$name' was configured for another port"
  else
  rm -rf "$s"
  mkdir -p "$s" /run/sshd
  chmod 700 "$s"
  ssh-keygen -q -t ed25519 -N '' -C "zfs-lab-host-$name" -f "$s/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C "zfs-lab-client-$name" -f "$s/id_ed25519"
  cp "$s/id_ed25519.pub" "$s/authorized_keys"
  local kt kb
  read -r kt kb _ <"$s/ssh_host_ed25519_key.pub"
  printf '[127.0.0.1]:%s %s %s\n' "$port" "$kt" "$kb" >"$s/known_hosts"
  cat >"$s/sshd_config" <<EOF
# zfs-lab sshd for host $name
Port $port
ListenAddress 127.0.0.1
HostKey "$s/ssh_host_ed25519_key"
PidFile "$s/sshd.pid"
AuthorizedKeysFile "$s/authorized_keys"
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
# tests open many connections at once; the default 10:30:100 drops some
MaxStartups 100
MaxSessions ${ZFS_LAB_SSHD_MAX_SESSIONS:-10}
EOF
  cat >"$s/config" <<EOF
Host $name
  HostName 127.0.0.1
  Port $port
  User root
  IdentityFile "$s/id_ed25519"
  UserKnownHostsFile "$s/known_hosts"
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  IdentitiesOnly yes
  BatchMode yes
  LogLevel ERROR
EOF
  fi
  : >"$s/sshd.log"
  # sshd daemonizes; its listener is reparented away from us and writes PidFile.
  if ! in_ns "$pid" /usr/sbin/sshd -f "$s/sshd_config" -E "$s/sshd.log" </dev/null >>"$s/sshd.log" 2>&1; then
    cat "$s/sshd.log" >&2
    die "sshd for '$name' failed to start (log above: $s/sshd.log)"
  fi
  deadline=$(( t0 + WAIT_READY * 1000 ))
  local spid=
  while :; do
    if [ -z "$spid" ] && [ -s "$s/sshd.pid" ]; then
      read -r spid <"$s/sshd.pid" || spid=
      if [ -n "$spid" ]; then
        proc_field "$spid" 22 >"$s/sshd.pid.stime" || true
      fi
    fi
    if [ -n "$spid" ] && ! alive "$spid"; then
      cat "$s/sshd.log" >&2
      die "sshd for '$name' exited (log above: $s/sshd.log)"
    fi
    if [ -n "$spid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    if [ "$(now_ms)" -ge "$deadline" ]; then
      cat "$s/sshd.log" >&2
      die "sshd for '$name' not listening on 127.0.0.1:$port after ${WAIT_READY}s"
    fi
    sleep 0.02
  done
  # Verify with one connection: the session must be in NAME's mount namespace
  # and `zfs list` there must show exactly NAME's pools.
  local out want got
  if ! out=$(ssh -F "$s/config" "$name" 'readlink /proc/self/ns/mnt && zfs list -H -o name -d 0' </dev/null 9>&-); then
    cat "$s/sshd.log" >&2
    die "ssh -F $s/config $name zfs list failed"
  fi
  want="$(readlink "/proc/$pid/ns/mnt")"$'\n'"$(in_ns "$pid" zfs list -H -o name -d 0)"
  got=$out
  [ "${got%$'\n'}" = "${want%$'\n'}" ] || die "ssh into '$name' is not inside the host (got [$got], want [$want])"
  [ -n "${ZFS_LAB_TIMING:-}" ] && warn "sshd $name: $(( $(now_ms) - t0 )) ms"
  echo "$spid"
}

# descendants PID...: all descendants of the given pids (one per line)
descendants() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
    { par[$1] = $2 }
    END {
      do { changed = 0
        for (c in par) if (!(c in want) && (par[c] in want)) { want[c] = 1; changed = 1; print c }
      } while (changed)
    }'
}

stop_sshd_locked() {
  local name=$1 s="$LAB/$1/ssh" spid
  spid=$(ours "$s/sshd.pid") || return 0
  # Freeze the listener and, repeatedly, everything below it (no new forks can
  # escape), then kill the whole frozen tree.
  local all=("$spid") new p
  kill -STOP "$spid" 2>/dev/null || true
  while :; do
    mapfile -t new < <(descendants "${all[@]}")
    local fresh=()
    for p in "${new[@]}"; do
      [[ " ${all[*]} " == *" $p "* ]] || fresh+=("$p")
    done
    [ ${#fresh[@]} -eq 0 ] && break
    kill -STOP "${fresh[@]}" 2>/dev/null || true
    all+=("${fresh[@]}")
  done
  kill -KILL "${all[@]}" 2>/dev/null || true
  wait_gone 5000 "${all[@]}" || warn "some sshd processes of '$name' did not exit: ${all[*]}"
  rm -f "$s/sshd.pid" "$s/sshd.pid.stime"
}

cmd_stop_sshd() {
  check_name "$1"
  lock "$1"
  stop_sshd_locked "$1"
}

# ---------------------------------------------------------------- stop
stop_locked() {
  local name=$1 dir="$LAB/$1" pid ns p
  [ -e "$dir" ] || return 0
  stop_sshd_locked "$name"
  if pid=$(daemon_pid "$name"); then
    ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)
    # zfs-fuse needs 3-4 s to shut down on TERM (idle or not); its state is
    # deleted right below, so it only gets a short grace period.
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$TERM_WAIT_MS" "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone 5000 "$pid" || die "zfs-fuse $pid ($name) did not exit"
    fi
    # Processes left in the namespace keep it (and dead FUSE mounts) alive; we
    # did not start them, so only report them.
    if [ -n "$ns" ]; then
      local left=()
      for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && left+=("${p#/proc/}")
      done
      [ ${#left[@]} -eq 0 ] || warn "processes still in host '$name' namespace: ${left[*]}"
    fi
  fi
  rm -rf -- "$dir"
}

cmd_stop() {
  check_name "$1"
  local t0; t0=$(now_ms)
  lock "$1"
  stop_locked "$1"
  [ -n "${ZFS_LAB_TIMING:-}" ] && warn "stop $1: $(( $(now_ms) - t0 )) ms"
  return 0
}

cmd_stop_all() {
  local d rc=0 pids=() p
  [ -d "$LAB" ] || return 0
  for d in "$LAB"/*/; do
    [ -d "$d" ] || continue
    d=${d%/}; d=${d##*/}
    [[ $d =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || continue
    ( cmd_stop "$d" ) &   # hosts are independent: stop them in parallel
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

# ---------------------------------------------------------------- main
[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
  start)     [ $# -eq 1 ] || usage; cmd_start "$1";;
  exec)      [ $# -ge 2 ] || usage; cmd_exec "$@";;
  pid)       [ $# -eq 1 ] || usage; cmd_pid "$1";;
  pool)      [ $# -ge 2 ] && [ $# -le 3 ] || usage; cmd_pool "$@";;
  sshd)      [ $# -ge 2 ] && [ $# -le 3 ] || usage; cmd_sshd "$@";;
  stop-sshd) [ $# -eq 1 ] || usage; cmd_stop_sshd "$1";;
  stop)      [ $# -eq 1 ] || usage; cmd_stop "$1";;
  stop-all)  [ $# -eq 0 ] || usage; cmd_stop_all;;
  -h|--help|help) usage;;
  *) usage;;
esac
