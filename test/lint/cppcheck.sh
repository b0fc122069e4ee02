#!/usr/bin/env bash
# Gate: cppcheck over vmkernel/ boot/ drivers/, kernel configuration only.
#   --enable=warning,portability,performance: real defects and 32/64-bit
#     traps. 'style' is left out: in 2.10 it is mostly taste (variableScope,
#     constParameter...) and clang-tidy covers the useful part.
#   -D/-I from the kernel build: check the configuration we ship instead of
#     every #ifdef combination.
#   --inline-suppr: a finding judged wrong is suppressed beside the code,
#     with the reason, where reviewers see it.
#   --library=gnu: GNU attributes and builtins the kernel uses.
# Suppressed everywhere:
#   duplicateAssignExpression: style-level; fires on `a = alloc(); b = alloc();`
#     (it takes two calls with side effects for one value), the kernel's most
#     common allocation pattern, and finds nothing the review would not.
set -uo pipefail
# shellcheck source=test/lint/common.sh
. "$(dirname "$0")/common.sh"
lint_need cppcheck
lint_load_vars

args=()
for flag in "${KERNEL_CFLAGS[@]}"; do
	case $flag in -I* | -D*) args+=("$flag") ;; esac
done
trees=()
for t in "${LINT_TREES[@]}"; do [ -d "$t" ] && trees+=("$t"); done
[ "${#trees[@]}" -gt 0 ] || lint_cannot_run "no source trees"

mkdir -p "$BUILD/cppcheck"
out=$(cppcheck --quiet --error-exitcode=1 --inline-suppr \
	--enable=warning,portability,performance --std=c11 --platform=unix64 \
	--library=gnu -D__x86_64__ -D__GNUC__ "${args[@]}" \
	--suppress=duplicateAssignExpression \
	--cppcheck-build-dir="$BUILD/cppcheck" -j "$LINT_JOBS" \
	--template='{file}:{line}: {severity} [{id}]: {message}' \
	"${trees[@]}" 2>&1)
status=$?
[ -n "$out" ] && printf '%s\n' "$out"
findings=$(grep -cE '^[^ ]+:[0-9]+: [a-z]+ \[' <<<"$out")
if [ "$status" = 0 ]; then
	echo "summary: clean"
	exit 0
fi
echo "summary: $findings finding(s); first: $(grep -m1 ': [a-z]* \[' <<<"$out")"
exit 1
