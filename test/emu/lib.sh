# shellcheck shell=bash
# Emulator boot-test helpers, sourced by test/emu/run-one (bash).
#
# A test boots QEMU or Bochs under `timeout`, with COM1 captured to a file,
# and polls that file for markers. The verdict comes only from the serial
# text: an emulator's exit status means nothing (Bochs exits 1 on a clean
# shutdown, QEMU's isa-debug-exit status is (value << 1) | 1).
#
# Each test function runs with these set by run-one:
#   EMU_NAME     test name (emu/<name> in results)
#   EMU_DIR      its log directory (serial.log, emulator.log, ...)
#   EMU_SERIAL   $EMU_DIR/serial.log
# and ends by calling emu_pass or emu_fail, which write $EMU_DIR/result.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-$ROOT/build}
KERNEL_ELF=$BUILD/vmkernel.elf
KERNEL_EFI=$BUILD/kapsel.efi
ISO_DIR=$BUILD/test-iso
VERSION_EXPECTED=$(cat "$ROOT/VERSION" 2>/dev/null || true)
# Every limit below is multiplied by this (a loaded machine is slower).
TEST_TIMEOUT_SCALE=${TEST_TIMEOUT_SCALE:-1}

OVMF_BIOS=/usr/share/ovmf/OVMF.fd
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd

READY_RE='vmkernel: ready'
HALTED_RE='vmkernel: all CPUs halted'
PANIC_RE='vmkernel: PANIC'
UNKNOWN_OPTION_RE="vmkernel: warning: unknown option '"

emu_pass() {
	echo "PASS emu/$EMU_NAME" >"$EMU_DIR/result"
}

# emu_fail <reason> [detail lines on stdin are not read]: the reason is one
# line; the last serial lines follow it, indented, to show where it stopped.
emu_fail() {
	{
		echo "FAIL emu/$EMU_NAME: $1"
		local tail
		tail=$(emu_serial_text | grep -v '^[[:space:]]*$' | tail -n "${EMU_TAIL_LINES:-8}")
		if [ -n "$tail" ]; then
			printf '%s\n' "$tail" | sed 's/^/    | /'
		else
			echo "    | (nothing on serial)"
		fi
		echo "    (logs: ${EMU_DIR#"$ROOT"/})"
	} >"$EMU_DIR/result"
	return 1
}

# The serial log as plain text: firmware and GRUB write escape sequences and
# carriage returns that would garble messages.
emu_serial_text() {
	[ -f "$EMU_SERIAL" ] || return 0
	tr -d '\r' <"$EMU_SERIAL" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[()][A-Z0-9]//g' |
		tr -cd '\11\12\40-\176'
}

emu_seconds() {
	# At least 1: timeout(1) takes 0 as "no limit".
	awk -v s="$1" -v k="$TEST_TIMEOUT_SCALE" 'BEGIN { t = int(s * k + 0.5); printf "%d", t < 1 ? 1 : t }'
}

# emu_iso <cmdline>: prints the path of an ISO whose GRUB/EFI entry passes
# <cmdline>, building it with scripts/mkiso when missing or older than its
# inputs. ISOs are shared by tests with the same command line; a lock keeps
# two parallel tests from building the same one.
emu_iso() {
	local cmdline=$1 key slug dir iso
	key=$(printf '%s' "$cmdline" | sha1sum | cut -c1-8)
	slug=$(printf '%s' "$cmdline" | tr -c 'A-Za-z0-9=_-' '_' | cut -c1-40)
	dir=$ISO_DIR/${slug}-$key
	iso=$dir/kapsel.iso
	mkdir -p "$dir"
	(
		flock 9
		if [ ! -s "$iso" ] || [ "$iso" -ot "$KERNEL_ELF" ] || [ "$iso" -ot "$KERNEL_EFI" ] ||
			[ "$iso" -ot "$ROOT/scripts/mkiso" ]; then
			rm -f "$iso"
			"$ROOT/scripts/mkiso" -o "$iso.tmp" --kernel "$KERNEL_ELF" --efi "$KERNEL_EFI" \
				--cmdline "$cmdline" --timeout 0 >"$dir/mkiso.log" 2>&1 &&
				mv "$iso.tmp" "$iso"
		fi
	) 9>"$dir/lock"
	if [ ! -s "$iso" ]; then
		cp "$dir/mkiso.log" "$EMU_DIR/mkiso.log" 2>/dev/null
		return 1
	fi
	printf '%s\n' "$iso"
}

# emu_boot <limit-seconds> <end-marker-regex> <command...>
# Starts the emulator with stdin closed, polls the serial log until the end
# marker appears, a panic dump is complete, the emulator exits or the time
# limit passes, then stops the emulator. Sets EMU_END_SEEN=1 if the end
# marker appeared, EMU_TIMED_OUT=1 if the limit passed, EMU_ELAPSED and
# EMU_LIMIT_S (the scaled limit).
emu_boot() {
	local limit end pid start now halted_at=0
	limit=$(emu_seconds "$1")
	EMU_LIMIT_S=$limit
	end=$2
	shift 2
	EMU_END_SEEN=0
	EMU_TIMED_OUT=0
	: >"$EMU_SERIAL"
	printf '%q ' "$@" >"$EMU_DIR/command"
	echo >>"$EMU_DIR/command"
	start=$(date +%s)
	# The emulator's own output (warnings, Bochs panics) goes to a log file.
	# -k: if it ignores SIGTERM, SIGKILL follows.
	timeout -k 5 "$limit" "$@" >"$EMU_DIR/emulator.log" 2>&1 </dev/null &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if grep -aEq -- "$end" "$EMU_SERIAL"; then
			EMU_END_SEEN=1
			break
		fi
		# A guest's kernel panic leaves its VM spinning: nothing more will come.
		if [ -n "${GUEST_PANIC_RE:-}" ] && grep -aEq -- "$GUEST_PANIC_RE" "$EMU_SERIAL"; then
			sleep 2 # the rest of the guest's panic message
			break
		fi
		# A panic dump ends with the halted line; stop there, not at the limit.
		if [ "$halted_at" = 0 ] && grep -aEq -- "$HALTED_RE" "$EMU_SERIAL"; then
			halted_at=$(date +%s)
		fi
		now=$(date +%s)
		[ "$halted_at" != 0 ] && [ $((now - halted_at)) -ge 1 ] && break
		sleep 0.3
	done
	# The emulator may write the marker and power off between two polls.
	if [ "$EMU_END_SEEN" = 0 ] && grep -aEq -- "$end" "$EMU_SERIAL"; then
		EMU_END_SEEN=1
	fi
	if [ "$EMU_END_SEEN" = 1 ]; then
		# Let it finish writing and power off on its own (the `poweroff`
		# option); whether it did is logged, not judged.
		local _
		for _ in $(seq 1 "${EMU_POWEROFF_GRACE:-20}"); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.25
		done
	fi
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		echo "emu: stopped by the test after the serial verdict point" >>"$EMU_DIR/emulator.log"
	fi
	wait "$pid" 2>/dev/null
	local status=$?
	# timeout(1) exits 124 when the limit hit (137 if it had to SIGKILL).
	if [ "$EMU_END_SEEN" = 0 ] && [ "$halted_at" = 0 ] && { [ "$status" = 124 ] || [ "$status" = 137 ]; }; then
		EMU_TIMED_OUT=1
	fi
	now=$(date +%s)
	EMU_ELAPSED=$((now - start))
	echo "emu: status=$status elapsed=${EMU_ELAPSED}s timed_out=$EMU_TIMED_OUT" >>"$EMU_DIR/emulator.log"
}

# Why the end marker is missing, as one line.
emu_missing_reason() {
	local marker=$1 text
	text=$(emu_serial_text)
	if grep -q -- "$PANIC_RE" <<<"$text"; then
		echo "kernel panic before '$marker': $(grep -m1 -- "$PANIC_RE" <<<"$text")"
	elif [ -n "${GUEST_PANIC_RE:-}" ] && grep -Eq -- "$GUEST_PANIC_RE" <<<"$text"; then
		echo "guest kernel panic before '$marker': $(grep -m1 -E -- "$GUEST_PANIC_RE" <<<"$text" | head -c 300)"
	elif [ "$EMU_TIMED_OUT" = 1 ]; then
		echo "no '$marker' on serial within ${EMU_LIMIT_S}s"
	elif [ -z "$text" ]; then
		echo "emulator exited after ${EMU_ELAPSED}s with no serial output (see emulator.log: $(tail -n 1 "$EMU_DIR/emulator.log" 2>/dev/null | head -c 200))"
	else
		echo "emulator exited after ${EMU_ELAPSED}s without '$marker' on serial"
	fi
}

emu_mkiso_failed() {
	emu_fail "scripts/mkiso failed: $(grep -v '^[[:space:]]*$' "$EMU_DIR/mkiso.log" 2>/dev/null | tail -n 1 | head -c 300)"
}

# --- QEMU ------------------------------------------------------------------

# emu_qemu <limit> <end-marker> <qemu args...>: TCG with every CPU feature
# (SVM + NPT), no default devices (no NIC option ROM to wait for), no reboot
# (a triple fault ends the run instead of looping).
emu_qemu() {
	local limit=$1 end=$2
	shift 2
	emu_boot "$limit" "$end" qemu-system-x86_64 -accel tcg -cpu "${EMU_QEMU_CPU:-max}" \
		-nodefaults -display none -no-reboot -monitor none \
		-serial "file:$EMU_SERIAL" "$@"
}

# Firmware arguments for a boot mode: bios, uefi (OVMF.fd as -bios on the pc
# machine) or uefi-q35 (q35 with OVMF in pflash and a private vars copy).
emu_qemu_firmware() {
	case $1 in
	bios) echo "-machine pc" ;;
	uefi) echo "-machine pc -bios $OVMF_BIOS" ;;
	uefi-q35)
		cp "$OVMF_VARS" "$EMU_DIR/OVMF_VARS.fd"
		echo "-machine q35 -drive if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
			"-drive if=pflash,format=raw,unit=1,file=$EMU_DIR/OVMF_VARS.fd"
		;;
	*) return 1 ;;
	esac
}

# --- Bochs -----------------------------------------------------------------

# emu_bochs <limit> <end-marker> <iso> <cpu-model> <cpu-count> [megs]
# Debian's Bochs has no 'nogui' and includes the debugger: rfb display that
# does not wait for a viewer, and an rc file whose `c` starts the machine.
# COM1 goes to a plain file (a FIFO nobody reads would block Bochs forever).
# Sound drivers are the dummy ones: with no sound card the ALSA one aborts
# Bochs 2.7 at start ("buffer overflow detected").
emu_bochs() {
	local limit=$1 end=$2 iso=$3 model=$4 count=$5 megs=${6:-512}
	cat >"$EMU_DIR/bochsrc" <<-EOF
		display_library: rfb, options="timeout=0"
		megs: $megs
		romimage: file=/usr/share/bochs/BIOS-bochs-latest
		vgaromimage: file=/usr/share/seabios/vgabios-isavga.bin
		cpu: model=$model, count=$count, ips=50000000, reset_on_triple_fault=0
		ata0-master: type=cdrom, path=$iso, status=inserted
		boot: cdrom
		com1: enabled=1, mode=file, dev=$EMU_SERIAL
		log: $EMU_DIR/bochs.log
		sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
		panic: action=fatal
		error: action=report
		info: action=report
		debug: action=ignore
	EOF
	echo c >"$EMU_DIR/cont.rc"
	# Bochs drops stray files in its working directory: keep them in the log dir
	# (run-one runs each test in its own process, so the cd stays local).
	cd "$EMU_DIR" || return 1
	emu_boot "$limit" "$end" bochs -q -f "$EMU_DIR/bochsrc" -rc "$EMU_DIR/cont.rc"
}

# --- Verdicts ----------------------------------------------------------------

# emu_check_ready <expectations...>: the ready line is present and each
# expectation holds. Expectations: key=value (exact token), mem>N, mem<=N.
# Also: no panic, no unknown-option warning unless EMU_ALLOW_UNKNOWN_OPTION=1,
# and version= equals the VERSION file.
emu_check_ready() {
	local text line expect key value actual
	text=$(emu_serial_text)
	if [ "$EMU_END_SEEN" != 1 ] && ! grep -q -- "$READY_RE" <<<"$text"; then
		emu_fail "$(emu_missing_reason "$READY_RE")"
		return 1
	fi
	line=$(grep -m1 -- "$READY_RE" <<<"$text")
	if grep -q -- "$PANIC_RE" <<<"$text"; then
		emu_fail "panic on serial: $(grep -m1 -- "$PANIC_RE" <<<"$text")"
		return 1
	fi
	if [ "${EMU_ALLOW_UNKNOWN_OPTION:-0}" != 1 ] && grep -q -- "$UNKNOWN_OPTION_RE" <<<"$text"; then
		emu_fail "the kernel rejected an option the test relies on: $(grep -m1 -- "$UNKNOWN_OPTION_RE" <<<"$text")"
		return 1
	fi
	if [ -n "$VERSION_EXPECTED" ]; then
		set -- "$@" "version=$VERSION_EXPECTED"
	fi
	for expect in "$@"; do
		case $expect in
		*'>'* | *'<='*)
			key=${expect%%[<>]*}
			actual=$(emu_token "$line" "$key")
			if ! [[ $actual =~ ^[0-9]+$ ]]; then
				emu_fail "ready line has no numeric $key=: $line"
				return 1
			fi
			if [[ $expect == *'<='* ]]; then
				value=${expect#*<=}
				((actual <= value)) || { emu_fail "expected $key <= $value, got $key=$actual: $line"; return 1; }
			else
				value=${expect#*>}
				((actual > value)) || { emu_fail "expected $key > $value, got $key=$actual: $line"; return 1; }
			fi
			;;
		*=*)
			key=${expect%%=*}
			value=${expect#*=}
			actual=$(emu_token "$line" "$key")
			if [ "$actual" != "$value" ]; then
				emu_fail "expected $key=$value, got ${actual:+$key=}${actual:-no $key= token}: $line"
				return 1
			fi
			;;
		esac
	done
	return 0
}

# emu_token <line> <key>: the value of the first key=value token.
emu_token() {
	local word
	for word in $1; do
		if [ "${word%%=*}" = "$2" ] && [[ $word == *=* ]]; then
			printf '%s\n' "${word#*=}"
			return 0
		fi
	done
	return 1
}

# emu_check_fault <vector> <mnemonic>: the deliberate-fault dump is complete
# and names the right exception.
#   vmkernel: PANIC: exception <vector> (#<mnemonic>) error=0x<hex> cpu=<n>
#   rax=... (register lines, one with rip=) [cr2=0x... for #PF]
#   stack trace:
#     <hex address> <symbol>+0x<off>
#   vmkernel: all CPUs halted
emu_check_fault() {
	local vector=$1 mnemonic=$2 text head dump got_vector got_mnemonic cr2
	text=$(emu_serial_text)
	head=$(grep -m1 -- "$PANIC_RE" <<<"$text")
	if [ -z "$head" ]; then
		emu_fail "$(emu_missing_reason "$PANIC_RE: exception")"
		return 1
	fi
	if ! [[ $head =~ PANIC:\ exception\ ([0-9]+)\ \(#([A-Z]+)\)\ error=0x[0-9a-fA-F]+\ cpu=[0-9]+ ]]; then
		emu_fail "expected 'PANIC: exception $vector (#$mnemonic) error=0x<hex> cpu=<n>', got: $head"
		return 1
	fi
	got_vector=${BASH_REMATCH[1]}
	got_mnemonic=${BASH_REMATCH[2]}
	if [ "$got_vector" != "$vector" ] || [ "$got_mnemonic" != "$mnemonic" ]; then
		emu_fail "expected exception $vector (#$mnemonic), got $got_vector (#$got_mnemonic)"
		return 1
	fi
	# Everything from the panic line on is the dump.
	dump=$(sed -n "/$PANIC_RE/,\$p" <<<"$text")
	if ! grep -Eq '(^|[[:space:]])rip=(0x)?[0-9a-fA-F]+' <<<"$dump"; then
		emu_fail "panic dump has no rip= register"
		return 1
	fi
	if ! grep -Eq '(^|[[:space:]])rax=(0x)?[0-9a-fA-F]+' <<<"$dump"; then
		emu_fail "panic dump has no rax= register"
		return 1
	fi
	if [ "$mnemonic" = PF ]; then
		cr2=$(grep -Eo '(^|[[:space:]])cr2=(0x)?[0-9a-fA-F]+' <<<"$dump" | head -n 1)
		if [ -z "$cr2" ]; then
			emu_fail "#PF dump has no cr2= (faulting address)"
			return 1
		fi
	fi
	if ! grep -q 'stack trace:' <<<"$dump"; then
		emu_fail "panic dump has no 'stack trace:' line"
		return 1
	fi
	if ! sed -n '/stack trace:/,$p' <<<"$dump" |
		grep -Eq '^[[:space:]]+(0x)?[0-9a-fA-F]+ [A-Za-z_.][A-Za-z0-9_.]*\+0x[0-9a-fA-F]+'; then
		emu_fail "stack trace has no frame with a symbol name ('<address> <symbol>+0x<offset>')"
		return 1
	fi
	if ! grep -q -- "$HALTED_RE" <<<"$dump"; then
		emu_fail "panic dump does not end with '$HALTED_RE'"
		return 1
	fi
	return 0
}
