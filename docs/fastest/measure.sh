#!/usr/bin/env bash
# Issue 41 item 5: the fastest SD1.5-class configuration at 512², end to end, against plain SD1.5 at 25 steps.
# Random weights (timing only). Run from a folder holding bin/edgediffuse, under the CPU lock, with nothing else running.
set -uo pipefail
ED=bin/edgediffuse
[ -d sd15 ] || $ED make-random --config sd15 --dtype f16 --out sd15                 # SD1.5's architecture
[ -d sd15-tiny ] || $ED prune --model sd15 --preset tiny --out sd15-tiny             # BK-SDM-tiny's layout
[ -d sd15-tiny-q4 ] || $ED convert --model sd15-tiny --weights q4_32 --out sd15-tiny-q4
[ -d sd15-tiny-q8 ] || $ED convert --model sd15-tiny --weights q8 --out sd15-tiny-q8
# TAESD's layout (AutoencoderTiny): the built-in tiny configs with this folder's taesd-config.json as the VAE's
REPO=${REPO:-$(git -C "$(dirname "$0")" rev-parse --show-toplevel)}
if [ ! -d taesd-host ]; then
  mkdir -p cfg && cp -r "$REPO"/src/main/resources/dev/edgediffuse/configs/tiny/. cfg/
  cp "$REPO"/docs/fastest/taesd-config.json cfg/vae/config.json
  $ED make-random --config cfg --dtype f16 --out taesd-host                        # only taesd-host/vae is used
fi
P=(--prompt "a lighthouse on a cliff at sunset" --seed 1 --width 512 --height 512)
run() { name=$1; shift; /usr/bin/time -f "$name %e s wall %M KB peak RSS" -a -o times.txt "$@" > $name.log 2>&1; }
for round in 1 2; do
  for fmt in q8 q4; do
    run tiny-$fmt-lcm4-taesd-$round $ED generate --model sd15-tiny-$fmt --vae taesd-host/vae --scheduler lcm --steps 4 --cfg 1 "${P[@]}" --out tiny-$fmt-$round.png
    run tiny-$fmt-lcm4-taesd-tome-$round $ED generate --model sd15-tiny-$fmt --vae taesd-host/vae --scheduler lcm --steps 4 --cfg 1 --tome 0.5 "${P[@]}" --out tiny-$fmt-tome-$round.png
  done
done
run sd15-f16-25 $ED generate --model sd15 --steps 25 "${P[@]}" --out sd15-25.png
