#!/usr/bin/env bash
# Installs the project into a temp prefix, builds examples/embed against the
# installed package (find_package(offgridflow_batch), offgridflow::batch)
# and runs it against a fresh migrated database of the test cluster.
#   consumer_test.sh BUILD_DIR SOURCE_DIR CLUSTER_DIR
set -euo pipefail
build=$1 src=$2 cluster=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/embed" -B "$work/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
db="embed_$$"
psql -h "$cluster" -U postgres -d postgres -qc "CREATE DATABASE $db TEMPLATE ogf_template"
trap 'psql -h "$cluster" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -rf "$work"' EXIT
"$work/build/embed_example" "host=$cluster user=postgres dbname=$db"
