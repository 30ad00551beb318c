#!/usr/bin/env bash
# Several `edgediffuse serve` replicas on loopback behind nginx (deploy/nginx/edgediffuse.conf).
#
#   deploy/scale-out.sh start DIR [--replicas N] [--port P] [-- serve options...]
#       replicas on ports P+1..P+N, nginx on P (default 7860); waits until each replica's /health answers, then
#       starts nginx. Needs target/edgediffuse.jar (mvn -DskipTests package), nginx (apt-get install nginx), and the
#       API key in $EDGEDIFFUSE_API_KEY unless the serve options say --no-auth.
#   deploy/scale-out.sh kill DIR I      kill -9 replica I (1-based), as a crash would
#   deploy/scale-out.sh stop DIR        stops nginx and every replica (by the pids in DIR)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,12p' "$0"; exit 2; }
shift 2

stop() {
  [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  for f in "$dir"/replica-*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  rm -f "$dir"/replica-*.pid
}

case "$cmd" in
  stop) stop; exit 0 ;;
  kill)
    pid="$(cat "$dir/replica-$1.pid")"
    kill -9 "$pid"
    echo "killed replica $1 (pid $pid)"
    exit 0 ;;
  start) ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac

replicas=2; port=7860
while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) replicas="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
jar="$repo/target/edgediffuse.jar"
[ -f "$jar" ] || { echo "no $jar: run mvn -B -DskipTests package first" >&2; exit 1; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 1; }
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
stop

upstreams=""
for i in $(seq 1 "$replicas"); do
  p=$((port + i))
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED ${EDGEDIFFUSE_JAVA_OPTS:-} -jar "$jar" \
    serve --host 127.0.0.1 --port "$p" "$@" >"$dir/replica-$i.log" 2>&1 &
  echo $! >"$dir/replica-$i.pid"
  upstreams+="        server 127.0.0.1:$p max_fails=1 fail_timeout=10s;"$'\n'
done
for i in $(seq 1 "$replicas"); do
  p=$((port + i))
  for _ in $(seq 1 600); do
    if curl -fsS "http://127.0.0.1:$p/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$(cat "$dir/replica-$i.pid")" 2>/dev/null; then
      echo "replica $i did not start:" >&2; tail -3 "$dir/replica-$i.log" >&2; stop; exit 1
    fi
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$p/health" >/dev/null || { echo "replica $i did not answer /health" >&2; stop; exit 1; }
done
sed -e "s|@PREFIX@|$dir|g" -e "s|@PORT@|$port|g" "$here/nginx/edgediffuse.conf" | awk -v u="$upstreams" '{ if ($0 == "@UPSTREAMS@") printf "%s", u; else print }' >"$dir/nginx.conf"
"$nginx_bin" -p "$dir" -c "$dir/nginx.conf"
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "nginx on http://127.0.0.1:$port in front of $replicas replicas (ports $((port + 1))-$((port + replicas))); logs in $dir"
