#!/usr/bin/env bash
# The scale-out table in docs/scale-out.md: loadtest through nginx in front of 1, 2 and 3 replicas, then a run with 3
# replicas where replica 2 is killed (kill -9) a few seconds in. Run it under the CPU lock:
#   flock -x /tmp/edgediffuse-cpu.lock deploy/measure.sh OUT_DIR
# Needs target/edgediffuse.jar and nginx. Each replica serves the built-in mini; requests are 32x32, 4 steps.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: deploy/measure.sh OUT_DIR}"
mkdir -p "$out"
export EDGEDIFFUSE_API_KEY="${EDGEDIFFUSE_API_KEY:-measure-key-0123456789}"
jar="$here/../target/edgediffuse.jar"
port="${PORT:-18960}" clients="${CLIENTS:-6}" requests="${REQUESTS:-48}"
load() {
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar "$jar" loadtest --url "http://127.0.0.1:$port" \
    --clients "$clients" --requests "$1" --steps 4 --width 32 --height 32 --retries 3 --api-key-env EDGEDIFFUSE_API_KEY 2>/dev/null | tail -1
}
for n in 1 2 3; do
  "$here/scale-out.sh" start "$out/r$n" --replicas "$n" --port "$port" -- --model mini >/dev/null
  load 8 >/dev/null # warm-up: JIT and first-use costs out of the figures
  echo "replicas $n: $(load "$requests")" | tee -a "$out/table.txt"
  "$here/scale-out.sh" stop "$out/r$n"
done
"$here/scale-out.sh" start "$out/kill" --replicas 3 --port "$port" -- --model mini >/dev/null
load 8 >/dev/null
: >"$out/kill/nginx-access.log"
(sleep "${KILL_AFTER:-10}"; "$here/scale-out.sh" kill "$out/kill" 2 >>"$out/kill.txt") &
echo "kill run: $(load "$requests")" | tee -a "$out/kill.txt"
wait
"$here/scale-out.sh" stop "$out/kill"
{
  echo "nginx: $(wc -l <"$out/kill/nginx-access.log") requests logged; final status counts:"
  grep -oE '" [0-9]{3} ' "$out/kill/nginx-access.log" | sort | uniq -c
  echo "requests nginx moved to another replica (upstream statuses with a comma):"
  grep -oE 'us=[^ ]*,[^ ]*' "$out/kill/nginx-access.log" | sort | uniq -c
} | tee -a "$out/kill.txt"
