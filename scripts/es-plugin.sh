#!/usr/bin/env bash
# Build the memoria-analysis stable plugin zip against an unpacked Elasticsearch distribution.
#
#   scripts/es-plugin.sh ES_HOME JAVA_HOME OUT_ZIP
#
# The integ-test zip from Maven Central has no analysis-common module (no cjk, spanish,
# english analyzers, no asciifolding), and analysis-icu/smartcn are not published there for
# 8.x. The Lucene filters are in the distribution's lib/ all the same, so this small plugin
# (scripts/es-analysis-plugin) exposes the few the mapping needs, compiled with javac from the
# jars the server itself ships: nothing else is downloaded.
set -euo pipefail

ES_HOME="$1"
JDK="$2"
OUT="$3"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/es-analysis-plugin" && pwd)"

[[ -x "$JDK/bin/javac" && -x "$JDK/bin/jar" ]] \
    || { echo "es-plugin.sh: $JDK is not a full JDK (no javac/jar); install openjdk-17-jdk-headless" >&2; exit 1; }

version="$(basename "$(ls "$ES_HOME"/lib/elasticsearch-plugin-api-*.jar)" .jar)"
version="${version#elasticsearch-plugin-api-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

classpath="$(printf '%s:' "$ES_HOME"/lib/elasticsearch-plugin-api-*.jar \
    "$ES_HOME"/lib/elasticsearch-plugin-analysis-api-*.jar \
    "$ES_HOME"/lib/lucene-core-*.jar "$ES_HOME"/lib/lucene-analysis-common-*.jar)"
mkdir -p "$work/classes" "$work/zip"
"$JDK/bin/javac" -nowarn --release 17 -cp "$classpath" -d "$work/classes" \
    $(find "$SRC/src" -name '*.java')
"$JDK/bin/jar" --create --file "$work/zip/memoria-analysis.jar" -C "$work/classes" .

# named_components.json is what the Gradle plugin would generate from the annotations.
{
    printf '{"org.elasticsearch.plugin.analysis.TokenFilterFactory": {'
    sep=""
    for f in $(find "$SRC/src" -name '*.java' | sort); do
        name="$(sed -n 's/^@NamedComponent("\([^"]*\)").*/\1/p' "$f")"
        class="org.memoria.es.analysis.$(basename "$f" .java)"
        printf '%s"%s": "%s"' "$sep" "$name" "$class"
        sep=", "
    done
    printf '}}\n'
} >"$work/zip/named_components.json"

cat >"$work/zip/stable-plugin-descriptor.properties" <<EOF
description=Memoria's analysis filters: ASCII folding, CJK width, Snowball Spanish and English
version=$version
name=memoria-analysis
java.version=17
elasticsearch.version=$version
EOF

rm -f "$OUT"
(cd "$work/zip" && "$JDK/bin/jar" --create --no-manifest --file "$OUT" .)
