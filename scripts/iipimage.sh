#!/usr/bin/env bash
# IIPImage (Debian's iipimage-server, FastCGI) behind lighttpd, for benchmarks on 127.0.0.1.
#
#   scripts/iipimage.sh install                      apt-get the packages (root only)
#   scripts/iipimage.sh start PORT IMAGE_DIR RUN_DIR [PROCS]
#                                                    serve IMAGE_DIR/*.tif as
#                                                    http://127.0.0.1:PORT/fcgi-bin/iipsrv.fcgi?IIIF=NAME.tif/...
#                                                    with PROCS iipsrv processes (default: cores)
#   scripts/iipimage.sh stop RUN_DIR                 stop lighttpd and its iipsrv processes
#
# Settings are the Debian apache example's (MAX_IMAGE_CACHE_SIZE 10 MB, MAX_CVT 5000) except
# JPEG_QUALITY 85 (Memoria's rendering quality, for like-for-like output) and no logging.
set -euo pipefail

IIPSRV=${IIPSRV:-/usr/lib/iipimage-server/iipsrv.fcgi}
PACKAGES="iipimage-server lighttpd libvips-tools wrk"

die() { echo "iipimage.sh: $*" >&2; exit 1; }

cmd=${1:-}
case "$cmd" in
install)
    missing=0
    [ -x "$IIPSRV" ] || missing=1
    for b in lighttpd vips wrk; do command -v "$b" >/dev/null || missing=1; done
    [ "$missing" = 0 ] && { echo "iipsrv, lighttpd, vips and wrk are installed"; exit 0; }
    [ "$(id -u)" = 0 ] || die "run as root, or: sudo apt-get update && sudo apt-get install -y $PACKAGES"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $PACKAGES
    ;;
start)
    [ $# -ge 4 ] || die "usage: $0 start PORT IMAGE_DIR RUN_DIR [PROCS]"
    port=$2; images=$(cd "$3" && pwd); run=$4; procs=${5:-$(nproc)}
    [ -x "$IIPSRV" ] || die "no $IIPSRV: apt-get install iipimage-server"
    command -v lighttpd >/dev/null || die "no lighttpd: apt-get install lighttpd"
    mkdir -p "$run/www"
    run=$(cd "$run" && pwd)
    cat > "$run/lighttpd.conf" <<CONF
server.modules = ( "mod_fastcgi" )
server.document-root = "$run/www"
server.bind = "127.0.0.1"
server.port = $port
server.pid-file = "$run/lighttpd.pid"
server.errorlog = "$run/lighttpd-error.log"
server.max-connections = 1024
server.max-keep-alive-requests = 10000
fastcgi.server = ( "/fcgi-bin/iipsrv.fcgi" => ((
    "socket" => "$run/iipsrv.sock",
    "bin-path" => "$IIPSRV",
    "max-procs" => $procs,
    "check-local" => "disable",
    "bin-environment" => (
        "LOGFILE" => "$run/iipsrv.log",
        "VERBOSITY" => "0",
        "FILESYSTEM_PREFIX" => "$images/",
        "MAX_IMAGE_CACHE_SIZE" => "10",
        "JPEG_QUALITY" => "85",
        "MAX_CVT" => "5000",
        "CORS" => "*"
    )
)))
CONF
    lighttpd -tt -f "$run/lighttpd.conf" >/dev/null || die "bad lighttpd config $run/lighttpd.conf"
    # -D: stay in the foreground, so that this script knows the pid; lighttpd spawns iipsrv.
    nohup lighttpd -D -f "$run/lighttpd.conf" >"$run/lighttpd.out" 2>&1 &
    echo $! > "$run/lighttpd.pid.main"
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "IIPImage: lighttpd pid $(cat "$run/lighttpd.pid.main") on 127.0.0.1:$port, $procs iipsrv processes"
            exit 0
        fi
        sleep 0.1
    done
    die "lighttpd did not start; see $run/lighttpd-error.log"
    ;;
stop)
    [ $# -ge 2 ] || die "usage: $0 stop RUN_DIR"
    run=$2
    [ -f "$run/lighttpd.pid.main" ] || { echo "IIPImage: nothing to stop in $run"; exit 0; }
    pid=$(cat "$run/lighttpd.pid.main")
    children=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    # lighttpd ends the iipsrv processes it spawned; make sure, by their pids only
    for c in $children; do
        for _ in $(seq 1 20); do kill -0 "$c" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$c" 2>/dev/null || true
    done
    rm -f "$run/lighttpd.pid.main" "$run/iipsrv.sock"*
    echo "IIPImage: stopped"
    ;;
*)
    die "usage: $0 install | start PORT IMAGE_DIR RUN_DIR [PROCS] | stop RUN_DIR"
    ;;
esac
