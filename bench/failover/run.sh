#!/bin/sh
# Failover benchmark: hac agent vs keepalived 2.2.7 on the same namespace
# topology, 10 ms probes, RUNS failovers per scenario (default 5). Needs
# root and keepalived; prints a markdown table of medians at the end.
# Usage: sudo bench/failover/run.sh [RUNS] [BENCH-REGEXP]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-5}
pattern=${2:-.}
exec go test -run '^$' -bench "Failover/$pattern" -benchtime "${runs}x" -timeout 90m ./bench/failover
