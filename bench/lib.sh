# Shared helpers for the benchmark scripts (sourced, not run).
set -euo pipefail
export no_proxy='*' NO_PROXY='*'
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }

# Installs Debian packages that are missing.
need_packages() {
    local missing=()
    for package in "$@"; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A free loopback port.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Builds the release binary once and prints its path.
# MULTISTATUS_BENCH_BINARY names another build to measure instead (an earlier commit's, say).
release_binary() {
    if [ -n "${MULTISTATUS_BENCH_BINARY:-}" ]; then
        echo "$MULTISTATUS_BENCH_BINARY"
        return
    fi
    (cd "$root" && swift build -c release --product multistatus >&2)
    echo "$root/.build/release/multistatus"
}

# Waits until a URL answers (any status), up to 30 s.
wait_for() {
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "timed out waiting for $1" >&2
    return 1
}

# Peak resident memory of a process, in KiB (VmHWM).
peak_rss_kib() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }

# Requests per second from wrk's output.
wrk_rps() { awk '/Requests\/sec/ { print $2 }'; }

# The median of numbers on stdin.
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# a / b with 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b == 0 ? 0 : a / b) }'; }
