#!/usr/bin/env bash
# Start, stop or check a local single-node Elasticsearch for tests and development.
#
#   scripts/es.sh start|stop|status|purge
#
# Each port keeps its data in <cache>/instance-<port>, on purpose: a stop and a start keep the
# indices (the outage test and `bench_search --keep-es` rely on it). `purge` stops the server
# of that port and removes its instance dir (for a one-off port, or to start from nothing).
#
# The server is the official integ-test-zip distribution fetched from Maven Central with
# `mvn dependency:copy`, unpacked under a cache dir and run by an unprivileged system user
# (Elasticsearch refuses to run as root), bound to 127.0.0.1 only.
#
# Environment (all optional):
#   MEMORIA_ES_VERSION   Elasticsearch version             (default 8.19.21)
#   MEMORIA_ES_CACHE     cache dir for dist, data, logs    (default <repo>/.cache/elasticsearch)
#   MEMORIA_ES_PORT      HTTP port                         (default 9200)
#   MEMORIA_ES_HEAP_MIN  -Xms                              (default 512m)
#   MEMORIA_ES_HEAP_MAX  -Xmx                              (default 2g: 1,000,000 records
#                        index at full speed (a 200 MB indexing buffer) and count 13 facets;
#                        -Xms stays small so a test server on a shared machine grows only
#                        when it needs to)
#   MEMORIA_ES_TIMEOUT   seconds to wait for health        (default 180)
#   MEMORIA_ES_USER      system user that runs the server  (default memoria-es, when root)
#   ES_JAVA_HOME         JDK to run it with                (default: an LTS 8.19 is tested on, 21
#                        then 17, else the newest found; see find_java)
#   ES_JAVA_OPTS         extra JVM options, after jvm.options.d (for an A/B of JVM settings, e.g.
#                        "-XX:-UseG1GC -XX:+UseParallelGC"; none are needed)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${MEMORIA_ES_VERSION:-8.19.21}"
CACHE="${MEMORIA_ES_CACHE:-$REPO/.cache/elasticsearch}"
PORT="${MEMORIA_ES_PORT:-9200}"
HEAP_MIN="${MEMORIA_ES_HEAP_MIN:-512m}"
HEAP_MAX="${MEMORIA_ES_HEAP_MAX:-2g}"
TIMEOUT="${MEMORIA_ES_TIMEOUT:-180}"
ES_USER="${MEMORIA_ES_USER:-memoria-es}"

# Everything that belongs to one port lives in its own instance dir, so two ports can run side
# by side; the unpacked distribution is shared read-only between them.
DIST="$CACHE/dist"
HOME_DIR="$CACHE/elasticsearch-$VERSION"
INSTANCE="$CACHE/instance-$PORT"
PIDFILE="$INSTANCE/elasticsearch.pid"
URL="http://127.0.0.1:$PORT"

log() { printf 'es.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Elasticsearch 8.x runs on Java 17 or newer; the integ-test zip bundles no JDK.
java_major() {
    local version
    version="$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
    printf '%s' "${version:-0}"
}

find_java() {
    if [[ -n "${ES_JAVA_HOME:-}" ]]; then
        [[ -x "$ES_JAVA_HOME/bin/java" ]] || die "ES_JAVA_HOME=$ES_JAVA_HOME has no bin/java"
        printf '%s' "$ES_JAVA_HOME"
        return
    fi
    # 8.19 is tested on JDK 17 and 21 (and runs on newer ones with the Security Manager gone);
    # prefer an LTS it is tested on, then anything newer. Measured at 1M documents (2026-11-22,
    # docs/benchmarks.md, session 9): Temurin 25 starts cleanly (entitlements, no errors) and
    # passes the search tests, but a warm server's CPU per search was no lower than on OpenJDK
    # 17 for keyword + 5 facets (-1 %) and 6 % lower for a facet browse; nor did ParallelGC
    # (-6 % / -4 %, then -4 % / +3 %) or search.low_level_cancellation: false help. So the
    # JVM's and the server's defaults stay; ES_JAVA_HOME and ES_JAVA_OPTS pick others.
    local best="" best_rank=0 dir major rank
    for dir in /usr/lib/jvm/* /opt/*; do
        [[ -x "$dir/bin/java" && ! -L "$dir" ]] || continue
        major="$(java_major "$dir")"
        case "$major" in
            21) rank=4 ;;
            17) rank=3 ;;
            *) if (( major > 21 )); then rank=2; else rank=0; fi ;;
        esac
        if (( rank > best_rank )); then best="$dir"; best_rank=$rank; fi
    done
    [[ -n "$best" ]] || die "no JDK 17+ found under /usr/lib/jvm or /opt; set ES_JAVA_HOME"
    printf '%s' "$best"
}

fetch() {
    [[ -x "$HOME_DIR/bin/elasticsearch" ]] && return
    command -v mvn >/dev/null || die "mvn is needed to fetch Elasticsearch (apt-get install maven)"
    command -v unzip >/dev/null || die "unzip is needed (apt-get install unzip)"
    mkdir -p "$DIST"
    local zip="$DIST/elasticsearch-$VERSION.zip"
    if [[ ! -s "$zip" ]]; then
        log "fetching org.elasticsearch.distribution.integ-test-zip:elasticsearch:$VERSION"
        (cd "$DIST" && mvn -B -q -Dstyle.color=never \
            -Dmaven.repo.local="$CACHE/m2" \
            org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
            -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$VERSION:zip" \
            -DoutputDirectory="$DIST" -Dmdep.overWriteReleases=true) \
            || die "mvn could not fetch Elasticsearch $VERSION from Maven Central"
    fi
    local tmp="$CACHE/.unpack-$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    unzip -q "$zip" -d "$tmp" || { rm -rf "$tmp"; die "cannot unpack $zip"; }
    [[ -x "$tmp/elasticsearch-$VERSION/bin/elasticsearch" ]] \
        || { rm -rf "$tmp"; die "$zip does not hold elasticsearch-$VERSION/bin/elasticsearch"; }
    rm -rf "$HOME_DIR"
    # The rename makes a half-unpacked tree impossible to mistake for a finished one.
    mv "$tmp/elasticsearch-$VERSION" "$HOME_DIR"
    rm -rf "$tmp"
}

install_plugin() {
    # Rebuilt whenever its sources change; the digest is kept beside the installed plugin.
    local digest marker="$HOME_DIR/plugins/memoria-analysis/.source-digest"
    digest="$(cat "$REPO/scripts/es-plugin.sh" "$REPO"/scripts/es-analysis-plugin/src/org/memoria/es/analysis/*.java \
        | sha256sum | cut -d' ' -f1)"
    if [[ -f "$marker" && "$(cat "$marker")" == "$digest" ]]; then
        return
    fi
    log "building and installing the memoria-analysis plugin"
    local zip="$CACHE/memoria-analysis-$VERSION.zip"
    bash "$REPO/scripts/es-plugin.sh" "$HOME_DIR" "$1" "$zip" \
        || die "cannot build the memoria-analysis plugin"
    if [[ -d "$HOME_DIR/plugins/memoria-analysis" ]]; then
        ES_JAVA_HOME="$1" "$HOME_DIR/bin/elasticsearch-plugin" remove --purge memoria-analysis \
            >/dev/null || die "cannot remove the old memoria-analysis plugin"
    fi
    ES_JAVA_HOME="$1" "$HOME_DIR/bin/elasticsearch-plugin" install --batch "file://$zip" \
        >"$CACHE/plugin-install.log" 2>&1 \
        || { cat "$CACHE/plugin-install.log" >&2; die "cannot install the memoria-analysis plugin"; }
    printf '%s' "$digest" >"$marker"
}

run_as() {
    if (( EUID == 0 )); then
        runuser -u "$ES_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_user() {
    (( EUID == 0 )) || return 0
    if ! id -u "$ES_USER" >/dev/null 2>&1; then
        log "creating system user $ES_USER"
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$ES_USER" || die "cannot create user $ES_USER"
    fi
    # The server user must reach its files through every parent directory.
    runuser -u "$ES_USER" -- test -x "$INSTANCE" \
        || die "user $ES_USER cannot reach $INSTANCE; set MEMORIA_ES_CACHE to a traversable dir"
}

configure() {
    mkdir -p "$INSTANCE/config/jvm.options.d" "$INSTANCE/data" "$INSTANCE/logs" "$INSTANCE/tmp"
    # A private copy of config/ per instance: the server writes its keystore there.
    local f
    for f in "$HOME_DIR"/config/*; do
        if [[ -f "$f" && ! -e "$INSTANCE/config/${f##*/}" ]]; then
            cp "$f" "$INSTANCE/config/"
        fi
    done
    cat >"$INSTANCE/config/elasticsearch.yml" <<EOF
cluster.name: memoria-test
node.name: memoria-$PORT
network.host: 127.0.0.1
http.port: $PORT
transport.port: $((PORT + 100))
discovery.type: single-node
path.data: $INSTANCE/data
path.logs: $INSTANCE/logs
# A nearly full developer disk must not turn the test indices read-only.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
    # The 8.x integ-test zip ships x-pack-security, which otherwise auto-enables TLS and
    # passwords on first start; tests talk plain HTTP on loopback.
    if [[ -d "$HOME_DIR/modules/x-pack-security" ]]; then
        printf 'xpack.security.enabled: false\n' >>"$INSTANCE/config/elasticsearch.yml"
    fi
    cat >"$INSTANCE/config/jvm.options.d/memoria.options" <<EOF
-Xms$HEAP_MIN
-Xmx$HEAP_MAX
EOF
    if (( EUID == 0 )); then
        chown -R "$ES_USER" "$INSTANCE"
    fi
}

pid_alive() {
    [[ -s "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    # A stale pid file may name a recycled pid: only an Elasticsearch process counts.
    grep -q 'org.elasticsearch' "/proc/$pid/cmdline" 2>/dev/null
}

healthy() {
    curl -fsS --max-time 5 "$URL/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null \
        | grep -qE '"status":"(green|yellow)"'
}

log_tail() {
    local f
    for f in "$INSTANCE/logs/startup.out" "$INSTANCE/logs/memoria-test.log"; do
        if [[ -s "$f" ]]; then
            log "---- errors and last lines of $f ----"
            grep -E '^(ERROR|\[[^]]*\]\[(ERROR|WARN))|Exception:' "$f" | tail -n 8 >&2 || true
            log "..."
            tail -n 15 "$f" >&2
        fi
    done
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    if pid_alive && healthy; then
        log "already running at $URL (pid $(cat "$PIDFILE"))"
        return 0
    fi
    if ! pid_alive; then
        local p
        for p in "$PORT" "$((PORT + 100))"; do
            if port_busy "$p"; then
                die "port $p (HTTP $PORT, transport $((PORT + 100))) is taken by another process; set MEMORIA_ES_PORT"
            fi
        done
    fi
    fetch
    local java_home
    java_home="$(find_java)"
    install_plugin "$java_home"
    mkdir -p "$INSTANCE"
    ensure_user
    configure
    if ! pid_alive; then
        log "starting Elasticsearch $VERSION on $URL with $java_home (java $(java_major "$java_home"))"
        rm -f "$PIDFILE"
        # ES_TMPDIR keeps the JNA/JVM temp files inside the instance, owned by the server user.
        run_as env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$INSTANCE/config" \
            ES_TMPDIR="$INSTANCE/tmp" \
            "$HOME_DIR/bin/elasticsearch" -d -p "$PIDFILE" \
            >"$INSTANCE/logs/startup.out" 2>&1 \
            || { log_tail; die "Elasticsearch did not start"; }
    fi
    local waited=0
    until healthy; do
        if ! pid_alive && (( waited > 5 )); then
            log_tail
            die "Elasticsearch exited during start-up"
        fi
        if (( waited >= TIMEOUT )); then
            log_tail
            stop >/dev/null 2>&1 || true
            die "Elasticsearch not healthy after ${TIMEOUT}s"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "up at $URL (pid $(cat "$PIDFILE"), ${waited}s)"
}

stop() {
    if ! pid_alive; then
        rm -f "$PIDFILE"
        log "not running on port $PORT"
        return 0
    fi
    local pid waited=0
    pid="$(cat "$PIDFILE")"
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        if (( waited >= 60 )); then
            log "still running after 60s; killing pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    rm -f "$PIDFILE"
    log "stopped (pid $pid)"
}

purge() {
    stop
    # Only an instance dir of this cache, named for its port, is ever removed.
    [[ "$INSTANCE" == "$CACHE/instance-$PORT" && "$PORT" =~ ^[0-9]+$ ]] \
        || die "refusing to remove $INSTANCE"
    if [[ -d "$INSTANCE" ]]; then
        rm -rf -- "$INSTANCE"
        log "removed $INSTANCE"
    fi
}

status() {
    if pid_alive && healthy; then
        log "running at $URL (pid $(cat "$PIDFILE"))"
        curl -fsS --max-time 5 "$URL/_cluster/health?pretty"
        return 0
    fi
    if pid_alive; then
        log "process $(cat "$PIDFILE") is up but $URL is not healthy"
        return 1
    fi
    log "not running on port $PORT"
    return 3
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    purge) purge ;;
    *) echo "usage: $0 start|stop|status|purge" >&2; exit 2 ;;
esac
