#!/usr/bin/env bash
# A single-node Slurm for the cluster tests (test/launch/slurm.test.ts), as root, without systemd:
#   .ci/slurm.sh start   install slurm-wlm + munge (Debian) if missing, write /etc/slurm/slurm.conf,
#                        start munged, slurmctld and slurmd, wait until the node is idle
#   .ci/slurm.sh stop    stop the three daemons this script started
# slurmctld and slurmd run on this host with state, spool, pid and log files under
# ${LORALAB_SLURM_DIR:-/tmp/loralab-slurm}; no cgroups (ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/none) and no accounting (read job state from squeue, not sacct). A
# slurm.conf that this script did not write is never overwritten: then `start` leaves it alone.
set -euo pipefail
dir="${LORALAB_SLURM_DIR:-/tmp/loralab-slurm}"
conf=/etc/slurm/slurm.conf
marker='# written by loralab .ci/slurm.sh'

die() { echo "slurm.sh: $*" >&2; exit 1; }

start() {
  [ "$(id -u)" = 0 ] || die "needs root (it installs packages and runs slurmctld/slurmd as root)"
  if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  fi
  if [ -e "$conf" ] && ! grep -qF "$marker" "$conf"; then
    echo "slurm.sh: $conf exists and was not written by this script; using the Slurm it configures" >&2
    return 0
  fi
  mkdir -p "$dir/state" "$dir/spool" /etc/slurm /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true

  # munge: a 1 KiB random key owned by munge (unless the package made one), then the daemon (--force: run despite root-owned paths).
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  if ! munge -n >/dev/null 2>&1; then
    if id munge >/dev/null 2>&1; then
      su -s /bin/sh munge -c 'munged --force' || munged --force
    else
      munged --force
    fi
  fi
  munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"

  local host cpus mem
  host="$(hostname)"
  cpus="$(nproc)"
  mem="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
  cat >"$conf" <<EOF
$marker ($(date -u +%FT%TZ)); .ci/slurm.sh stop stops its daemons
ClusterName=loralab-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
KillWait=20
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=${mem:-1024} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  pgrep -F "$dir/slurmctld.pid" >/dev/null 2>&1 || slurmctld -f "$conf"
  pgrep -F "$dir/slurmd.pid" >/dev/null 2>&1 || slurmd -f "$conf"
  for _ in $(seq 60); do
    state="$(sinfo -h -N -o %t 2>/dev/null | head -n1)"
    case "$state" in idle*|mix*|alloc*) echo "slurm.sh: node $host is $state ($cpus CPUs); logs in $dir"; return 0 ;; esac
    sleep 1
  done
  die "the node did not become idle in 60 s (state: ${state:-unknown}); see $dir/slurmctld.log and $dir/slurmd.log"
}

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$dir/$d.pid" ]; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
  done
  if [ -f /run/munge/munged.pid ] && [ -e "$conf" ] && grep -qF "$marker" "$conf"; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
  fi
  return 0
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: .ci/slurm.sh start|stop" ;;
esac
