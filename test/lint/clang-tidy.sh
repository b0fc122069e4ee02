#!/usr/bin/env bash
# Gate: clang-tidy with the checks in .clang-tidy over every vmkernel C file
# (vmkernel/, drivers/, boot/multiboot/: all of KERNEL_C), compiled with the
# kernel's own flags, two files at a time. Any finding fails the gate.
set -uo pipefail
# shellcheck source=test/lint/common.sh
. "$(dirname "$0")/common.sh"
lint_need clang-tidy
lint_load_vars
[ "${#KERNEL_C[@]}" -gt 0 ] || lint_cannot_run "no kernel C files"

# GCC-only flags clang would reject; none of them changes what code means.
flags=()
for flag in "${KERNEL_CFLAGS[@]}"; do
	case $flag in
	-fno-allow-store-data-races | -fconserve-stack | -mindirect-branch=* | -fno-tree-*) ;;
	*) flags+=("$flag") ;;
	esac
done
# Warnings GCC knows and clang does not must not become errors by -Werror.
flags+=(-Wno-unknown-warning-option)

out_dir=$BUILD/test-logs/lint/clang-tidy.d
rm -rf "$out_dir"
mkdir -p "$out_dir"
# clang-tidy names headers by absolute path: match those of our trees only.
header_filter="^($ROOT/)?(vmkernel|boot|drivers)/"
export out_dir header_filter
# One output file per source so parallel runs never interleave.
# shellcheck disable=SC2016 # expanded by the inner shell
printf '%s\n' "${KERNEL_C[@]}" | xargs -P "$LINT_JOBS" -I{} bash -c '
	f=$1
	shift
	log="$out_dir/$(printf %s "$f" | tr / _).log"
	out=$(clang-tidy --quiet --warnings-as-errors="*" \
		--header-filter="$header_filter" "$f" -- "$@" 2>&1) || echo "$f" >"$log.failed"
	printf "%s\n" "$out" | sed "s|^$PWD/||" >"$log"
' bash {} "${flags[@]}"

# A header's finding repeats for every file including it: print it once.
findings=$(cat "$out_dir"/*.log 2>/dev/null | grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' | sort -u)
failed=$(cat "$out_dir"/*.failed 2>/dev/null | wc -l)
if [ -z "$findings" ] && [ "$failed" = 0 ]; then
	echo "summary: clean (${#KERNEL_C[@]} files)"
	exit 0
fi
if [ -n "$findings" ]; then
	# Show each finding with the source line and caret clang prints after it.
	cat "$out_dir"/*.log | grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed|^Use -header-filter|^Error while processing'
	echo "summary: $(wc -l <<<"$findings") finding(s) in $failed file(s); first: $(head -n 1 <<<"$findings")"
else
	cat "$out_dir"/*.log
	echo "summary: clang-tidy failed on $failed file(s) without a finding (see above)"
fi
exit 1
