#!/bin/sh
# Installs genrenet from a build folder into a temporary prefix, builds examples/ on its own against it with
# find_package(genrenet), and runs the result on a model trained here: proof that the installed package
# (library, headers, CMake files, run-time paths) is complete.
#   install_consumer.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/include/genrenet/classifier.h"
test -f "$work/prefix/lib/cmake/genrenet/genrenetConfig.cmake" || test -f "$work/prefix/lib/x86_64-linux-gnu/cmake/genrenet/genrenetConfig.cmake"
cmake -S "$src/examples" -B "$work/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/consumer" > "$work/build.log"
exe="$work/prefix/bin/genrenet"
"$exe" synth --out "$work/data" --per-class 10 --seconds 1 --seed 5 > /dev/null
"$exe" train --data "$work/data" --out "$work/run" --cache "$work/cache" --epochs 1 --frames 32 --n-mels 32 \
  --precision fp32 > /dev/null
out=$("$work/consumer/classify_audio" "$work/run/best.safetensors" "$work/data/jazz/jazz.00000.wav" "$work/data/rock/rock.00001.wav")
echo "$out"
echo "$out" | grep -q "jazz.00000.wav (1.0 s, 1 windows):"
echo "$out" | grep -q "rock.00001.wav"
# A bad file is an error with its name, and the status says so.
if "$work/consumer/classify_audio" "$work/run/best.safetensors" "$work/nothing.wav" 2> "$work/err.txt"; then
  echo "a missing file was accepted"; exit 1
fi
grep -q "nothing.wav: no such file" "$work/err.txt"
echo "install + find_package(genrenet) consumer: ok"
