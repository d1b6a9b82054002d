#!/bin/sh
# verify.sh SOCKET MAXCONN BACKEND LISTENER... -- SERVER...
# Exits 0 when the HAProxy answering on SOCKET runs with MAXCONN, has every SERVER in BACKEND
# and a listener of its own on every LISTENER, ADDRESS:PORT (IPv6 in brackets; another program's
# socket there, which made HAProxy's bind fail, does not count); else prints what differs, exits 1.
sock=$1 maxconn=$2 backend=$3
shift 3
info=$(echo 'show info' | socat -t 5 stdio "unix-connect:$sock" 2>&1) || { echo "its runtime API $sock does not answer ($info)"; exit 1; }
running=$(printf '%s\n' "$info" | sed -n 's/^Maxconn: //p')
problems=
[ "$running" = "$maxconn" ] || problems="$problems; it runs with maxconn ${running:-unknown}, the configuration says $maxconn (the old worker after a failed reload?)"
listening=$(ss -H -l -t -n -p | grep -F '"haproxy"')
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  printf '%s\n' "$listening" | awk '{print $4}' | grep -qxF "$1" || problems="$problems; nothing listens on $1"
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
