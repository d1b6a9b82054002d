#!/bin/sh
# fd-limit.sh UNIT: prints "NOW NEXT", the file descriptors the unit's main process can have
# now and after its next start ("-" for NOW when it does not run). A reload re-executes HAProxy's
# master in the same process, so a reload gets NOW, not what `systemctl show` says: a LimitNOFILE
# changed since the last start, or one systemd could not give (systemd clamps it to its own hard
# limit when it may not raise that, as in a container), is not what the process has. A process
# with CAP_SYS_RESOURCE raises its hard limit itself (HAProxy does), up to fs.nr_open.
unit=$1
nr_open=$(cat /proc/sys/fs/nr_open)
can_raise() { # PID: holds CAP_SYS_RESOURCE (bit 24)
  cap=$(sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$1/status")
  [ $(( (0x${cap:-0} >> 24) & 1 )) -eq 1 ]
}
hard() { # PID: its hard RLIMIT_NOFILE
  v=$(awk '/^Max open files/ {print $5}' "/proc/$1/limits")
  case $v in unlimited | '') echo "$nr_open" ;; *) echo "$v" ;; esac
}
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }

pid=$(systemctl show "$unit" -p MainPID --value)
if [ "${pid:-0}" -gt 0 ] && [ -r "/proc/$pid/limits" ]; then
  if can_raise "$pid"; then now=$nr_open; else now=$(hard "$pid"); fi
else
  now=-
fi
if can_raise 1 && systemctl show "$unit" -p CapabilityBoundingSet --value | grep -qw cap_sys_resource; then
  next=$nr_open
else
  limit=$(systemctl show "$unit" -p LimitNOFILE --value)
  case $limit in infinity | '') limit=$nr_open ;; esac
  can_raise 1 && next=$limit || next=$(min "$limit" "$(hard 1)")
fi
echo "$now $next"
