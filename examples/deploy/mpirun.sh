#!/usr/bin/env bash
# Ember word count under Open MPI's mpirun.
#
#   examples/deploy/mpirun.sh INPUT [OUTPUT_DIR]          # 3 processes on this machine
#   HOSTFILE=hosts examples/deploy/mpirun.sh INPUT [OUT]  # on the hosts of an Open MPI host file
#
# mpirun sets OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE in every process; Ember reads its
# rank and the world size from them. mpirun says nothing about where rank 0 runs, so the
# driver address comes from EMBER_MASTER (or EMBER_DRIVER), passed on with -x.
set -euo pipefail

input="${1:?usage: mpirun.sh INPUT [OUTPUT_DIR]}"
output="${2:-}"
np="${NP:-3}"
binary="${BINARY:-target/release/examples/word_count}"
hostfile="${HOSTFILE:-}"

args=(-np "$np")
if [[ -n "$hostfile" ]]; then
  # By-slot mapping (the default) puts rank 0 on the first host of the file.
  driver_host="$(awk '!/^[[:space:]]*(#|$)/ { print $1; exit }' "$hostfile")"
  args+=(--hostfile "$hostfile")
  # TLS is required off loopback: certificate, key and CA at the same paths on every host.
  : "${EMBER_TLS_CERT:?set EMBER_TLS_CERT for a multi-host run}" "${EMBER_TLS_KEY:?set EMBER_TLS_KEY}" \
    "${EMBER_TLS_CA:?set EMBER_TLS_CA}"
  export EMBER_TLS_CERT EMBER_TLS_KEY EMBER_TLS_CA
  args+=(-x EMBER_TLS_CERT -x EMBER_TLS_KEY -x EMBER_TLS_CA)
else
  driver_host=127.0.0.1
  # More processes than cores (CI's 2-core machines) need --oversubscribe.
  args+=(--oversubscribe)
fi
# Open MPI refuses to run as root (CI containers) unless told to.
if [[ "$(id -u)" -eq 0 ]]; then
  args+=(--allow-run-as-root)
fi

export EMBER_MASTER="ember://${driver_host}:${EMBER_PORT:-7078}"
# The line this script builds, in short (CI: add --oversubscribe --allow-run-as-root):
#   mpirun -np 3 -x EMBER_MASTER -x EMBER_SECRET target/release/examples/word_count INPUT
# One random secret per application. `-x NAME` without `=value` forwards the value from this
# environment, so the secret never appears on a command line (`ps`).
EMBER_SECRET="$(head -c 32 /dev/urandom | base64)"
export EMBER_SECRET

exec mpirun "${args[@]}" -x EMBER_MASTER -x EMBER_SECRET \
  "$binary" "$input" ${output:+"$output"}
