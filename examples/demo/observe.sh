#!/bin/sh
# What an ordinary program can observe about its environment: the clock,
# random bytes, the host name and the number of CPUs. Run twice natively,
# these lines differ; under detrun, each becomes a pure function of detrun's
# flags (as each determinism module lands).
echo "time:     $(date -u +%Y-%m-%dT%H:%M:%S.%N)"
echo "random:   $(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
echo "hostname: $(uname -n)"
echo "cpus:     $(nproc)"
