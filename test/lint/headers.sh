#!/usr/bin/env bash
# Gate: every header under vmkernel/ boot/ drivers/ compiles on its own, as
# the first include of an otherwise empty file, with the flags of the program
# it belongs to (the EFI loader's for boot/efi/, the kernel's elsewhere).
# It is included twice, so a missing include guard fails too.
set -uo pipefail
# shellcheck source=test/lint/common.sh
. "$(dirname "$0")/common.sh"
lint_load_vars

mapfile -t headers < <(find "${LINT_TREES[@]}" -name '*.h' 2>/dev/null | sort)
[ "${#headers[@]}" -gt 0 ] || { echo "summary: no headers"; exit 0; }

work=$BUILD/test-logs/lint/headers.d
rm -rf "$work"
mkdir -p "$work"
export work ROOT
export KAPSEL_KERNEL_CFLAGS KAPSEL_EFI_CFLAGS="${KAPSEL_EFI_CFLAGS:-}"
# shellcheck disable=SC2016 # expanded by the inner shell
printf '%s\n' "${headers[@]}" | xargs -P "$LINT_JOBS" -I{} bash -c '
	h=$1
	base=$work/$(printf %s "$h" | tr / _)
	flags=$KAPSEL_KERNEL_CFLAGS
	# The EFI loader builds against GNU-EFI; without its build flags, the
	# kernel flags plus GNU-EFI include paths are close enough to parse.
	case $h in
	boot/efi/*) flags=${KAPSEL_EFI_CFLAGS:-$flags -I/usr/include/efi -I/usr/include/efi/x86_64} ;;
	esac
	eval "set -- $flags"
	printf "#include \"%s\"\n" "$ROOT/$h" >"$base.c"
	if ! gcc "$@" -fsyntax-only "$base.c" >"$base.log" 2>&1; then
		grep -m1 "error:" "$base.log" | sed "s|^$ROOT/||" >"$base.failed"
		[ -s "$base.failed" ] || echo "$h:1: error: does not compile (see log)" >"$base.failed"
		exit 0
	fi
	printf "#include \"%s\"\n" "$ROOT/$h" "$ROOT/$h" >"$base.c"
	if ! gcc "$@" -fsyntax-only "$base.c" >"$base.log" 2>&1; then
		echo "$h:1: error: fails when included twice (no include guard?): $(grep -m1 "error:" "$base.log" | sed "s|^.*error: ||")" >"$base.failed"
	fi
' bash {}

mapfile -t failed < <(cat "$work"/*.failed 2>/dev/null)
if [ "${#failed[@]}" = 0 ]; then
	echo "summary: clean (${#headers[@]} headers)"
	exit 0
fi
printf '%s\n' "${failed[@]}"
for f in "$work"/*.failed; do
	echo "--- ${f%.failed}.log"
	sed -e "s|$ROOT/||g" -e "s/^/    /" "${f%.failed}.log" | head -n 30
done
echo "summary: ${#failed[@]} of ${#headers[@]} header(s) not self-contained; first: ${failed[0]}"
exit 1
