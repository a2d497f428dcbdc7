#!/usr/bin/env bash
# A one-machine SLURM cluster for the tests: `source .ci/slurm.sh start` writes slurm.conf into a
# temp dir, starts munged, slurmctld and slurmd, waits for the node and exports SLURM_CONF;
# `.ci/slurm.sh stop` stops what it started. Needs Debian's slurm-wlm and munge, and root.
set -euo pipefail

state_file=/tmp/maxent-ci-slurm.dir

start() {
  local dir host cpus mem
  dir=$(mktemp -d /tmp/maxent-slurm.XXXXXX)
  echo "$dir" > "$state_file"
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  mkdir -p "$dir/state" "$dir/spool"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=maxent-ci
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  # munged runs as its own user on its own socket dir.
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  [ -s /etc/munge/munge.key ] || runuser -u munge -- /usr/sbin/mungekey --create
  # A munged already answering is used as it is (a credential round trip tells).
  if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --force
    echo started > "$dir/munged.started"
  fi
  export SLURM_CONF="$dir/slurm.conf"
  /usr/sbin/slurmctld -f "$SLURM_CONF"
  /usr/sbin/slurmd -f "$SLURM_CONF"
  for _ in $(seq 1 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^idle'; then
      echo "SLURM up: $SLURM_CONF" >&2
      return 0
    fi
    sleep 1
  done
  echo "SLURM did not come up; its logs:" >&2
  tail -n 20 "$dir"/*.log >&2 || true
  return 1
}

stop() {
  [ -f "$state_file" ] || return 0
  local dir
  dir=$(cat "$state_file")
  for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  if [ -f "$dir/munged.started" ]; then
    pkill -u munge -x munged 2>/dev/null || true
  fi
  rm -f "$state_file"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: source .ci/slurm.sh start | .ci/slurm.sh stop" >&2; exit 2 ;;
esac
