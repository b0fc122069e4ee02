# shellcheck shell=bash disable=SC2034 # sets variables for the gates
# Shared by the lint gates (bash). Each gate prints its findings, then one
# line "summary: ..." that test/run-all shows as the failure reason, and
# exits 0 (clean), 1 (findings) or 2 (could not run).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD=${BUILD:-build}
LINT_TREES=(vmkernel boot drivers)
# Two cores are shared with others: never more than two jobs.
LINT_JOBS=${LINT_JOBS:-2}

lint_cannot_run() {
	echo "summary: cannot run: $*"
	exit 2
}

lint_need() {
	command -v "$1" >/dev/null 2>&1 || lint_cannot_run "$1 is not installed (scripts/setup-deps)"
}

# The build's own flags and file lists, from `make test-vars` unless
# test/run-all already exported them. KERNEL_CFLAGS is shell text (it holds
# -DKAPSEL_VERSION='"..."'), so it is split the way make's shell would.
lint_load_vars() {
	if [ -z "${KAPSEL_KERNEL_CFLAGS:-}" ]; then
		local line vars
		vars=$(make -s --no-print-directory test-vars 2>&1) || lint_cannot_run "make test-vars failed: $vars"
		while IFS= read -r line; do
			case $line in
			KERNEL_CFLAGS=*) KAPSEL_KERNEL_CFLAGS=${line#*=} ;;
			KERNEL_C=*) KAPSEL_KERNEL_C=${line#*=} ;;
			EFI_CFLAGS=*) KAPSEL_EFI_CFLAGS=${line#*=} ;;
			esac
		done <<<"$vars"
	fi
	eval "KERNEL_CFLAGS=(${KAPSEL_KERNEL_CFLAGS:-})"
	eval "EFI_CFLAGS=(${KAPSEL_EFI_CFLAGS:-})"
	read -r -a KERNEL_C <<<"${KAPSEL_KERNEL_C:-}"
	[ "${#KERNEL_CFLAGS[@]}" -gt 0 ] || lint_cannot_run "KERNEL_CFLAGS is empty"
}
