#!/usr/bin/env bash
# Fuzzes every target (or those named) for a bounded time each: JAZZER_FUZZ=1, one target per JVM, as Jazzer requires.
#   tools/fuzz/fuzz.sh [SECONDS] [Class#method ...]      default 25 s each, all targets
# Coverage is measured in the parsers (and Jackson), not in the math kernels a handoff or request runs through.
# A finding fails the run; its input lands in the repository root (crash-*), to be turned into a regression seed.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-25}"; shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(SafeTensorsFuzzTest#file SafeTensorsFuzzTest#quantizedMetadata JsonFuzzTest#parse JsonFuzzTest#config
           JsonFuzzTest#recipe ImageInputsFuzzTest#png ImageInputsFuzzTest#npy HandoffFuzzTest#decode HandoffFuzzTest#mutateReal
           TokenizerFuzzTest#prompt TokenizerFuzzTest#files RequestFuzzTest#post LoraFuzzTest#file LoraFuzzTest#prompt)
fi
mvn_opts=(-B -ntp)
[ -n "${MAVEN_OFFLINE:-}" ] && mvn_opts+=(-o)
passed=0; failed=0
for t in "${targets[@]}"; do
  log="target/fuzz-${t//#/-}.log"
  mkdir -p target
  echo "fuzz: $t for ${seconds} s"
  # only the fuzz execution (its own JVM), not the default one: test-compile, then surefire:test@fuzz
  if JAZZER_FUZZ=1 mvn "${mvn_opts[@]}" test-compile surefire:test@fuzz -Dfuzz.test="$t" -Dsurefire.failIfNoSpecifiedTests=false \
      -Djazzer.max_duration="${seconds}s" -Djazzer.instrumentation_includes='dev.edgediffuse.**:com.fasterxml.jackson.core.**' \
      -Djazzer.instrumentation_excludes='dev.edgediffuse.kernels.**:dev.edgediffuse.nn.**:dev.edgediffuse.autograd.**' \
      >"$log" 2>&1; then
    grep -E '^Done [0-9]+ runs' "$log" | tail -1 | sed "s/^/fuzz: $t: /"
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "fuzz: $t FAILED (log: $log)"
    grep -E 'FuzzTestFinding|==[0-9]+== ERROR|Exception' "$log" | head -5
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
