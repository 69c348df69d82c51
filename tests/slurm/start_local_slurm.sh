#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, for the cluster test (tests/test_slurm.py).
#
# Needs root. Installs Debian's slurm-wlm and munge when absent, writes a minimal slurm.conf
# (one node: this host, all its CPUs and memory; accounting off, so job status comes from
# squeue), and starts munged, slurmctld and slurmd. Running it again restarts nothing that
# already answers. Prints the partition name on the last line.
set -euo pipefail

PARTITION=${PARTITION:-debug}
CONF_DIR=/etc/slurm

if [[ $(id -u) -ne 0 ]]; then
    echo "start_local_slurm.sh: needs root (it installs packages and starts daemons)" >&2
    exit 2
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

if sinfo -h -p "$PARTITION" -o %a 2>/dev/null | grep -q up; then
    echo "$PARTITION"
    exit 0
fi

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=advinfo-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# munged runs as the munge user, with its key and /run/munge owned by it.
if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    su -s /bin/sh munge -c /usr/sbin/munged
fi

pkill -x slurmctld 2>/dev/null || true
pkill -x slurmd 2>/dev/null || true
sleep 1
slurmctld
slurmd
for _ in $(seq 1 30); do
    if sinfo -h -p "$PARTITION" -o %a 2>/dev/null | grep -q up && \
       sinfo -h -p "$PARTITION" -o %t 2>/dev/null | grep -qE "idle|mix|alloc"; then
        echo "$PARTITION"
        exit 0
    fi
    sleep 1
done
echo "start_local_slurm.sh: the cluster did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
