#!/bin/sh
# Cluster benchmark: one node versus two nodes of each kind (MX, IMAP
# backend) in network namespaces, with the PostgreSQL primary and its
# streaming replica, and the IMAP proxy's added latency.  See
# bench/README.md ("Cluster") and docs/scaling.md.
#   bench/cluster.sh                     2000 messages, 10 s of IMAP load
#   bench/cluster.sh --messages 500 --seconds 5   quick
#   bench/cluster.sh --only two          one layout
#   bench/cluster.sh --tls               TLS on every hop between nodes
#   bench/cluster.sh --help              every option
# Programs come from $POSTERN_BUILD_DIR (default ./build).  Needs root
# (ip netns), PostgreSQL 15 and smtp-source (package postfix).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export POSTERN_BUILD_DIR=${POSTERN_BUILD_DIR:-$here/../build}
exec python3 "$here/cluster_bench.py" "$@"
