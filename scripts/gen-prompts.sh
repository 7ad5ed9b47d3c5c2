#!/usr/bin/env bash
# gen-prompts.sh generates the Mandarin IVR prompts (one WAV per prompt) from
# their texts in configs/prompts/zh-CN/prompts.tsv, the single source of the
# wording: the ivr package tests that the TSV matches its prompt catalogue and
# that every WAV listed exists in the format the SIP layer loads.
#
# Usage: scripts/gen-prompts.sh [DIR]      (DIR defaults to configs/prompts/zh-CN)
#
# Needs the Debian packages espeak-ng and sox. Output: 8000 Hz, 16-bit signed
# PCM, mono; leading and trailing silence trimmed, then 50 ms of silence on
# each side; level about -16 dBFS RMS with peaks limited below 0 dBFS.
#
# Voice: espeak-ng 1.51 (Debian 12) reads Han characters with the "cmn" voice
# as pinyin whose tone digits come out in English ("ni three hao three"); the
# "cmn-latn-pinyin" voice reads the same characters correctly, so it is the
# default. Override with ESPEAK_VOICE, and the speed (words per minute) with
# ESPEAK_SPEED.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/configs/prompts/zh-CN}
voice=${ESPEAK_VOICE:-cmn-latn-pinyin}
speed=${ESPEAK_SPEED:-175}
target_rms=-16 # dBFS

for tool in espeak-ng sox awk; do
	command -v "$tool" >/dev/null || { echo "gen-prompts: $tool not found (apt-get install espeak-ng sox)" >&2; exit 1; }
done
tsv=$dir/prompts.tsv
[ -r "$tsv" ] || { echo "gen-prompts: $tsv not readable" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
# The first line of the TSV is the header (id, file, text).
while IFS=$'\t' read -r id file text; do
	[ -n "$id" ] || continue
	case $file in
	*/* | '') echo "gen-prompts: $id: bad file name '$file'" >&2; exit 1 ;;
	esac
	[ -n "$text" ] || { echo "gen-prompts: $id: empty text" >&2; exit 1; }

	espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" -- "$text"
	# Trim silence at both ends, leave headroom for the filters, cut the rumble
	# a telephone line does not carry, resample and peak-normalise.
	sox "$tmp/raw.wav" "$tmp/mid.wav" \
		silence 1 0.02 0.1% reverse silence 1 0.02 0.1% reverse \
		gain -6 highpass 120 rate -v 8000 norm -1
	rms=$(sox "$tmp/mid.wav" -n stats 2>&1 | awk '/^RMS lev dB/ {print $4}')
	gain=$(awk -v r="$rms" -v t="$target_rms" 'BEGIN { printf "%.2f", t - r }')
	# gain -l raises the level towards the target with a limiter, so peaks
	# never clip; the result is about the target.
	sox "$tmp/mid.wav" -r 8000 -b 16 -c 1 -e signed-integer "$tmp/out.wav" \
		gain -l "$gain" pad 0.05 0.05
	mv "$tmp/out.wav" "$dir/$file"
	printf '%-34s %6.2fs  %s\n' "$file" "$(sox --i -D "$dir/$file")" "$text"
	n=$((n + 1))
done < <(tail -n +2 "$tsv")

echo "gen-prompts: wrote $n prompts to $dir (voice $voice, speed $speed)"
