#!/usr/bin/env bash
# Draws docs/quantization-*.png from docs/quantization-figures.tsv with JFreeChart (a test-scope dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -o test-compile
jar=$(find "$HOME/.m2/repository/org/jfree/jfreechart/1.5.6" -name 'jfreechart-1.5.6.jar' | head -1)
java -Djava.awt.headless=true -cp "target/test-classes:target/classes:$jar" dev.edgediffuse.tools.QuantizationChart \
  docs/quantization-figures.tsv docs
