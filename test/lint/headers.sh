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
	printf "#include \"%s\"\n#include \"%s\"\n" "$ROOT/$h" "$ROOT/$h" >"$base.c"
	flags=$KAPSEL_KERNEL_CFLAGS
	case $h in boot/efi/*) [ -n "$KAPSEL_EFI_CFLAGS" ] && flags=$KAPSEL_EFI_CFLAGS ;; esac
	eval "set -- $flags"
	gcc "$@" -fsyntax-only "$base.c" >"$base.log" 2>&1 || echo "$h" >"$base.failed"
' bash {}

mapfile -t failed < <(cat "$work"/*.failed 2>/dev/null)
if [ "${#failed[@]}" = 0 ]; then
	echo "summary: clean (${#headers[@]} headers)"
	exit 0
fi
for h in "${failed[@]}"; do
	echo "$h: does not compile on its own:"
	sed 's/^/    /' "$work/$(printf %s "$h" | tr / _).log" | head -n 20
done
echo "summary: ${#failed[@]} of ${#headers[@]} header(s) not self-contained; first: ${failed[0]}"
exit 1
