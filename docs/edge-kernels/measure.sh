#!/usr/bin/env bash
# Issue 39 (and 33's "no slower") measurements: vector widths, old 256-bit build vs this one, and the edge memory plan.
# Run under the CPU lock; everything on sd15-f16 (SD1.5's architecture, random weights).
set -uo pipefail
# Usage: NEW_JAR=target/edgediffuse.jar OLD_JAR=<a build of e87d0b2> SD=<make-random sd15 folder> ED=bin/edgediffuse measure.sh
cd "${OUT:-.}"
JAVA=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java
BASE="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
NEW="$JAVA $BASE -Xmx3g -jar $NEW_JAR"
OLD="$JAVA $BASE -Xmx3g -jar $OLD_JAR"
SD=${SD:?a make-random --config sd15 --dtype f16 folder}
log() { echo "$(date -u +%T) $*" | tee -a run.log; }
# 1. widths, interleaved twice: GEMM ceiling and UNet s/step at 512² (bench prints both)
for round in 1 2; do
  for v in new-16 new-32 new-64 old-64; do
    build=${v%-*}; w=${v#*-}; J=$NEW; [ $build = old ] && J=$OLD
    flag=""; [ $w != 64 ] && flag="-XX:MaxVectorSize=$w"
    log "bench $v round $round"
    $JAVA $BASE $flag -Xmx3g -jar $([ $build = old ] && echo $OLD_JAR || echo $NEW_JAR) bench --model $SD --sizes 256,512 --steps 3 > bench-$v-$round.txt 2> bench-$v-$round.err
  done
done
# 2. memory plan: peak RSS of generate at 512², 4 steps (the launcher's heap settings), per format, with/without --low-memory
[ -d sd15-q8 ] || $NEW convert --model $SD --weights q8 --out sd15-q8 > convert.log 2>&1
[ -d sd15-q4 ] || $NEW convert --model $SD --weights q4_32 --out sd15-q4 >> convert.log 2>&1
[ -d sd15-tiny ] || $NEW prune --model $SD --preset tiny --out sd15-tiny >> convert.log 2>&1
[ -d sd15-tiny-q4 ] || $NEW convert --model sd15-tiny --weights q4_32 --out sd15-tiny-q4 >> convert.log 2>&1
ED=${ED:-bin/edgediffuse}
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
for m in $SD sd15-q8 sd15-q4 sd15-tiny sd15-tiny-q4 mini; do
  for lm in "" "--low-memory"; do
    name=$(basename $m)${lm:+-lowmem}
    log "generate $name"
    /usr/bin/time -f "$name %e s wall %M KB peak RSS" -a -o rss.txt $ED generate --model $m --prompt "a lighthouse on a cliff" --steps 2 --seed 1 $lm --out gen-$name.png > gen-$name.log 2>&1
  done
done
# 3. GC on a small board: q4 at 512² low-memory under G1 (the launcher's) vs Serial, heap 700m
for gc in G1 Serial; do
  log "gc $gc"
  EDGEDIFFUSE_JAVA_OPTS="-XX:+Use${gc}GC" /usr/bin/time -f "gc-$gc %e s wall %M KB peak RSS" -a -o rss.txt $ED generate --model sd15-q4 --prompt "a lighthouse on a cliff" --steps 2 --seed 1 --out gc-$gc.png > gc-$gc.log 2>&1
done
log done
