#!/usr/bin/env bash
# Starts an Ember application over ssh from a host file: one process per line, the line
# number is the rank, line 0 is the driver.
#
#   examples/deploy/ssh-hosts.sh HOSTFILE BINARY [ARGS...]
#   examples/deploy/ssh-hosts.sh hosts target/release/examples/word_count s3://bucket/in s3://bucket/out
#
# HOSTFILE: one host per line (`host` or `user@host`; blank lines and `#` comments skipped);
# a host may appear more than once. BINARY and ARGS must be valid on every host (a shared
# file system, or the same path everywhere). Needs non-interactive ssh (keys, an agent).
# EMBER_TLS_CERT, EMBER_TLS_KEY, EMBER_TLS_CA, EMBER_LOG_DIR and EMBER_PORT, when set here,
# are passed on unchanged (so those paths must exist on every host).
#
# Executors start first, in the background, then the driver in the foreground; the script
# waits for all of them and exits non-zero if any process failed.
set -euo pipefail

usage() {
  echo "usage: $0 HOSTFILE BINARY [ARGS...]" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
hostfile="$1"
binary="$2"
shift 2

hosts=()
while IFS= read -r line || [[ -n "$line" ]]; do
  line="${line%%#*}"
  read -r host _ <<<"$line" || true
  if [[ -n "${host:-}" ]]; then
    hosts+=("$host")
  fi
done <"$hostfile"
world_size="${#hosts[@]}"
if [[ "$world_size" -eq 0 ]]; then
  echo "$0: no hosts in $hostfile" >&2
  exit 2
fi

# Rank 0's host (without any user@) is the driver address every process connects to.
driver_host="${hosts[0]#*@}"
port="${EMBER_PORT:-7078}"
master="ember://${driver_host}:${port}"

# One random secret per application. It travels on ssh's stdin, never on a command line,
# where `ps` on either end would show it.
secret="$(head -c 32 /dev/urandom | base64)"

# The remote command for one rank, quoted for the remote shell: it reads the secret from
# stdin, then replaces itself with the binary.
remote_command() {
  local rank="$1" vars=() name
  shift
  vars+=("EMBER_RANK=$rank" "EMBER_WORLD_SIZE=$world_size" "EMBER_MASTER=$master")
  for name in EMBER_TLS_CERT EMBER_TLS_KEY EMBER_TLS_CA EMBER_LOG_DIR EMBER_PORT; do
    if [[ -n "${!name:-}" ]]; then
      vars+=("$name=${!name}")
    fi
  done
  printf 'IFS= read -r EMBER_SECRET && export EMBER_SECRET && exec env'
  printf ' %q' "${vars[@]}" "$binary" "$@"
  printf ' </dev/null\n'
}

start() {
  local rank="$1"
  shift
  # BatchMode: fail instead of prompting for a password in the middle of a launch.
  ssh -o BatchMode=yes -- "${hosts[$rank]}" "$(remote_command "$rank" "$@")" <<<"$secret"
}

executors=()
cleanup() {
  # Ends the local ssh clients this script started (and with them their remote processes'
  # connections); the driver's exit already ends executors that are still connected.
  local pid
  for pid in "${executors[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
}
trap cleanup INT TERM

for ((rank = 1; rank < world_size; rank++)); do
  start "$rank" "$@" &
  executors+=("$!")
done

status=0
start 0 "$@" || status=$?
if [[ "$status" -ne 0 ]]; then
  echo "$0: the driver (rank 0 on ${hosts[0]}) failed with status $status" >&2
  cleanup
fi
for rank in "${!executors[@]}"; do
  executor_status=0
  wait "${executors[$rank]}" || executor_status=$?
  if [[ "$executor_status" -ne 0 ]]; then
    echo "$0: rank $((rank + 1)) on ${hosts[$((rank + 1))]} failed with status $executor_status" >&2
    [[ "$status" -ne 0 ]] || status="$executor_status"
  fi
done
exit "$status"
