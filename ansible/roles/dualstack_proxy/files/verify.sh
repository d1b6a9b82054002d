#!/bin/sh
# verify.sh SOCKET MAXCONN BACKEND PORT BIND... -- SERVER...
# Exits 0 when the HAProxy answering on SOCKET runs with MAXCONN, has every SERVER in BACKEND
# and a listener on every BIND:PORT (IPv6 in brackets); else prints what differs and exits 1.
sock=$1 maxconn=$2 backend=$3 port=$4
shift 4
info=$(echo 'show info' | socat -t 5 stdio "unix-connect:$sock" 2>&1) || { echo "its runtime API $sock does not answer ($info)"; exit 1; }
running=$(printf '%s\n' "$info" | sed -n 's/^Maxconn: //p')
problems=
[ "$running" = "$maxconn" ] || problems="$problems; it runs with maxconn ${running:-unknown}, the configuration says $maxconn (the old worker after a failed reload?)"
listening=$(ss -H -l -t -n)
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  printf '%s\n' "$listening" | awk '{print $4}' | grep -qxF "$1:$port" || problems="$problems; nothing listens on $1:$port"
  shift
done
[ "$1" = -- ] && shift
servers=$(echo "show servers state $backend" | socat -t 5 stdio "unix-connect:$sock" 2>&1 | awk 'NR > 2 {print $4}')
for s in "$@"; do
  printf '%s\n' "$servers" | grep -qxF "$s" || problems="$problems; backend $backend has no server $s"
done
[ -z "$problems" ] && exit 0
echo "${problems#; }"
exit 1
