#!/bin/sh
# What an ordinary program can observe about its environment: the clock,
# random bytes, the host name and the number of CPUs, through syscalls and
# through the files that describe the machine. Run twice natively,
# these lines differ; under detrun, each becomes a pure function of detrun's
# flags (as each determinism module lands).
echo "time:     $(date -u +%Y-%m-%dT%H:%M:%S.%N)"
# shuf seeds itself with getrandom(2).
echo "random:   $(shuf -i 1-1000000000 -n 2 | tr '\n' ' ')"
echo "hostname: $(uname -n)"
echo "cpus:     $(nproc)"
echo "files:    $(cat /etc/hostname 2>/dev/null), $(getconf _NPROCESSORS_ONLN) cpus, up $(cut -d' ' -f1 /proc/uptime)s, machine-id $(cut -c1-12 /etc/machine-id 2>/dev/null)"
