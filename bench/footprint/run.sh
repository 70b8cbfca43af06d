#!/bin/sh
# Idle footprint benchmark: hac agent vs keepalived 2.2.7, both master of
# the same seed instances (VRRPv2, advert 1 s) in the same window, at 1 and
# 100 instances; CPU, RSS and PSS with hac/keepalived ratios, medians of
# RUNS windows (default 3) of WINDOW each (default 60s). Needs root and
# keepalived; about RUNS x 2 x (WINDOW + 15 s). Further arguments go to the
# benchmark: -alone measures each program in a window of its own, in turn
# (about three times as long).
# Usage: sudo bench/footprint/run.sh [RUNS] [WINDOW] [INSTANCES] [-alone]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-3}
window=${2:-60s}
instances=${3:-1,100}
shift $(($# < 3 ? $# : 3))
exec go test -run '^$' -bench Footprint -benchtime "${runs}x" -timeout 60m ./bench/footprint \
	-args -window "$window" -instances "$instances" "$@"
