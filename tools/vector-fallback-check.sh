#!/usr/bin/env bash
# Checks that no kernel runs the Vector API's slow Java fallback (see VectorFallbackCheck): exits 1 if one does.
# Extra JVM options go first, e.g. tools/vector-fallback-check.sh -XX:MaxVectorSize=16 (ARM NEON's width).
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
mvn -B -q -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector "$@" \
  -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" dev.edgediffuse.bench.VectorFallbackCheck
