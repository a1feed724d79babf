#!/bin/sh
# The lab's fencing agent (STONITH for a lab node): powers the node off the way the lab can,
# by killing every postgres process whose working directory is the node's postmaster directory,
# and confirms it. Exit 0 only when nothing of the node runs any more.
# usage: fence-agent.sh <node> <postmaster dir>
set -u
node=${1:?usage: fence-agent.sh <node> <postmaster dir>}
dir=${2:?usage: fence-agent.sh <node> <postmaster dir>}
pids() {
  for c in /proc/[0-9]*/cwd; do
    [ "$(readlink "$c" 2>/dev/null)" = "$dir" ] || continue
    p=${c%/cwd}
    [ "$(cat "$p/comm" 2>/dev/null)" = postgres ] && echo "${p#/proc/}"
  done
}
found=$(pids)
[ -z "$found" ] && { echo "fenced $node: nothing of it runs"; exit 0; }
kill -KILL $found 2>/dev/null
i=0
while [ -n "$(pids)" ]; do
  i=$((i + 1))
  [ "$i" -gt 100 ] && { echo "could not fence $node: processes $(pids | tr '\n' ' ')still run in $dir" >&2; exit 1; }
  sleep 0.1
done
echo "fenced $node: killed $(echo "$found" | wc -w) processes in $dir"
