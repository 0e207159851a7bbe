#!/usr/bin/env bash
# bench-engine.sh — `run --rm --network none busybox true`, the whole way
# through an engine, timed with hyperfine side by side: `minidocker` and the
# real docker CLI against minidockerd (minishim + minirunc), and the docker
# CLI against Debian's dockerd 20.10 (containerd-shim-runc-v2 + runc, then
# + minirunc); then where minidockerd's milliseconds go (its -D log times
# each request), what --explain costs and each layer's steps in its
# traces, `ps` and `images` round trips, `docker build` cold and cached,
# and the memory of the daemons and shims. Both daemons run
# isolated in a temp dir (no bridge, no iptables: --network none), and are
# stopped by PID at the end. A benchmark, not a test: it asserts nothing.
# Needs root, hyperfine and docker.io (scripts/provision.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "containers need root: sudo $0" >&2
    exit 1
fi
for tool in hyperfine dockerd docker runc python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is not installed: sudo scripts/provision.sh --test" >&2
        exit 1
    fi
done

cargo build --release --locked --workspace
scripts/build.sh --static-only
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")
export MINIDOCKER_STATIC_DIR=$TARGET/static

tmp=$(mktemp -d /tmp/mdbench-engine.XXXXXX)
ours=unix://$tmp/minidockerd.sock
theirs=unix://$tmp/dockerd.sock
pids=()
cleanup() {
    # Our daemons only, by PID: SIGTERM stops their containers.
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done
    grep -o " $tmp/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# wait_for HOST LOG: until the daemon answers (a bench script may poll).
wait_for() {
    for _ in $(seq 300); do
        docker -H "$1" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the daemon on $1 did not come up; its log:" >&2
    tail -20 "$2" >&2
    exit 1
}

# -D: every request's line, status and time in the log.
"$TARGET/release/minidockerd" -D --data-root "$tmp/md-data" --exec-root "$tmp/md-run" \
    -H "$ours" 2>"$tmp/minidockerd.log" &
pids+=($!)
wait_for "$ours" "$tmp/minidockerd.log"

echo '{}' >"$tmp/daemon.json"
dockerd --config-file "$tmp/daemon.json" -H "$theirs" \
    --data-root "$tmp/dd-data" --exec-root "$tmp/dd-run" --pidfile "$tmp/dockerd.pid" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
    --storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs \
    --add-runtime "minirunc=$TARGET/release/minirunc" \
    >"$tmp/dockerd.log" 2>&1 </dev/null &
pids+=($!)
wait_for "$theirs" "$tmp/dockerd.log"
# The same busybox image in both: saved from ours, loaded into dockerd.
docker -H "$ours" save busybox | docker -H "$theirs" load

run="run --rm --network none busybox true"
minidocker=$TARGET/release/minidocker
hyperfine -N --warmup 3 --runs 30 --export-json "$tmp/bench.json" \
    -n "minidocker CLI -> minidockerd (minishim + minirunc)" "$minidocker -H $ours $run" \
    -n "docker CLI -> minidockerd (minishim + minirunc)" "docker -H $ours $run" \
    -n "dockerd 20.10 (containerd + runc)" "docker -H $theirs $run" \
    -n "dockerd 20.10 (containerd + minirunc)" "docker -H $theirs run --runtime minirunc --rm --network none busybox true"

# Medians: one slow run (a busy machine) moves the mean, not these.
python3 - "$tmp/bench.json" <<'PY'
import json, sys
for result in json.load(open(sys.argv[1]))["results"]:
    print("median %7.1f ms  %s" % (result["median"] * 1000, result["command"]))
PY

# Where minidockerd's time goes: the median of each request of a run, from
# its -D log ("c12 POST /v1.50/containers/create 201 3ms"), over the runs
# above. A request's time is the daemon's part; the rest is the CLI's and
# the socket's.
echo
echo "minidockerd, per request of a run (median over the runs above):"
python3 - "$tmp/minidockerd.log" <<'PY'
import re, statistics, sys
times = {}
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"c\d+ (\w+) (\S+) (\d+) (\d+)ms$", line.strip())
    if not m:
        continue
    method, target, status, ms = m.groups()
    step = method + " " + re.sub(r"/v[\d.]+", "", re.sub(r"[0-9a-f]{64}", "ID", target)).split("?")[0]
    times.setdefault(step, []).append(int(ms))
for step, values in sorted(times.items(), key=lambda kv: -statistics.median(kv[1])):
    if len(values) >= 10:
        print("  %5.1f ms  %s (%d calls)" % (statistics.median(values), step, len(values)))
PY

# --explain: what tracing costs (the same run traced, side by side with
# the untraced one), and where the time goes inside a run, step by step,
# as each layer measured its own (the median over the traced runs).
echo
traces=$tmp/traces
mkdir -p "$traces"
hyperfine -N --warmup 3 --runs 30 \
    -n "minidocker run (not traced)" "$minidocker -H $ours $run" \
    -n "minidocker run --explain" "$minidocker -H $ours run --rm --explain --network none busybox true"
for i in $(seq 20); do
    "$minidocker" -H "$ours" run --rm --explain --network none busybox true 2>"$traces/$i.txt"
done
echo
echo "inside a run, step by step (median over 20 traced runs; the longest first):"
python3 - "$traces"/*.txt <<'PY'
import re, statistics, sys
line_re = re.compile(r"^ *[\d.]+ms +([\d.]+)ms +(\S+) +(.*?)  \[")
steps = {}
for path in sys.argv[1:]:
    for line in open(path, errors="replace"):
        m = line_re.match(line)
        if m:
            took, who, what = m.groups()
            what = re.sub(r"\b\d+\b", "N", re.sub(r"/\S+", "PATH", what))
            steps.setdefault((who, what[:70]), []).append(float(took))
ranked = sorted(steps.items(), key=lambda kv: -statistics.median(kv[1]))
for (who, what), values in ranked[:18]:
    print("  %6.2f ms  %-11s %s" % (statistics.median(values), who, what))
PY

echo
hyperfine -N --warmup 3 --runs 30 \
    -n "minidocker ps -> minidockerd" "$minidocker -H $ours ps -a" \
    -n "docker ps -> minidockerd" "docker -H $ours ps -a" \
    -n "docker ps -> dockerd" "docker -H $theirs ps -a" \
    -n "minidocker images -> minidockerd" "$minidocker -H $ours images" \
    -n "docker images -> dockerd" "docker -H $theirs images"

# docker build (the classic builder) of the same 5-instruction, 2-RUN
# Dockerfile on both: cold (--no-cache: every RUN runs) and all cached.
context=$tmp/build-context
mkdir -p "$context"
echo "hello" >"$context/greeting.txt"
cat >"$context/Dockerfile" <<'DOCKERFILE'
FROM busybox
WORKDIR /app
COPY greeting.txt .
RUN echo "built in $(pwd)" > built.txt && cat greeting.txt >> built.txt
RUN wc -c built.txt > size.txt
DOCKERFILE
export DOCKER_BUILDKIT=0
build="build -q --network none $context"
docker -H "$ours" $build >/dev/null
docker -H "$theirs" $build >/dev/null
echo
hyperfine -N --warmup 2 --runs 15 \
    -n "minidocker build, cold -> minidockerd" "$minidocker -H $ours build -q --no-cache --network none $context" \
    -n "docker build, cold -> minidockerd" "docker -H $ours $build --no-cache" \
    -n "docker build, cold -> dockerd" "docker -H $theirs $build --no-cache" \
    -n "minidocker build, cached -> minidockerd" "$minidocker -H $ours $build" \
    -n "docker build, cached -> minidockerd" "docker -H $ours $build" \
    -n "docker build, cached -> dockerd" "docker -H $theirs $build"
unset DOCKER_BUILDKIT

# Memory: the daemons idle (dockerd with its containerd), then one shim
# each beside a running container.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
echo
for pid in "${pids[@]}"; do
    echo "$(cat /proc/"$pid"/comm) (pid $pid): RSS $(rss "$pid") kB"
    for child in $(pgrep -P "$pid" containerd || true); do
        echo "  + containerd (pid $child): RSS $(rss "$child") kB"
    done
done
"$minidocker" -H "$ours" run -d --name idle --network none busybox sleep 1000 >/dev/null
docker -H "$theirs" run -d --name idle --network none busybox sleep 1000 >/dev/null
for host in "$ours" "$theirs"; do
    pid=$(docker -H "$host" inspect -f '{{.State.Pid}}' idle)
    shim=$(ps -o ppid= -p "$pid" | tr -d ' ')
    echo "$(cat /proc/"$shim"/comm) (pid $shim) beside one container: RSS $(rss "$shim") kB"
    docker -H "$host" rm -f idle >/dev/null
done
