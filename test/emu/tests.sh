# shellcheck shell=bash disable=SC2034 # variables are read by lib.sh and run-one
# The emulator boot tests: one line each in the table at the end.
# Sourced after lib.sh. Group "main" runs in `make test`, "long" only in
# `make test-long`.

# QEMU -cpu max under TCG has SVM with NPT and no VMX (TESTRIG.md).
QEMU_VIRT=svm
# Usable RAM the kernel reports for -m 2G: less than 2048 (firmware holes),
# much more than half.
MEM_2G=("mem>1024" "mem<=2048")
# -m 6G puts 2-4 GiB above the 4 GiB boundary whatever the chipset's hole.
MEM_6G=("mem>4096" "mem<=6144")

# boot_iso <firmware> <cpus> <memory> <expectations...>: the hybrid ISO
# (command line `poweroff`) through GRUB (bios) or kapsel.efi (uefi*).
boot_iso() {
	local firmware=$1 cpus=$2 memory=$3 iso limit=120
	shift 3
	iso=$(emu_iso "poweroff") || { emu_mkiso_failed; return; }
	# OVMF alone takes a while under TCG.
	[ "$firmware" != bios ] && limit=240
	# shellcheck disable=SC2046 # firmware arguments are words on purpose
	emu_qemu "$limit" "$READY_RE" $(emu_qemu_firmware "$firmware") \
		-smp "$cpus" -m "$memory" -cdrom "$iso" -boot d
	emu_check_ready "$@" && emu_pass
}

# boot_kernel <cpus> <memory> <cmdline> <expectations...>: `qemu -kernel`
# (multiboot1), the fast development path.
boot_kernel() {
	local cpus=$1 memory=$2 cmdline=$3
	shift 3
	emu_qemu 60 "$READY_RE" -machine pc -smp "$cpus" -m "$memory" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$KERNEL_ELF" -append "$cmdline"
	emu_check_ready "$@" && emu_pass
}

# fault <kind> <vector> <mnemonic> [cpus]: test_fault=<kind> must end in a
# full panic dump naming that exception, with all CPUs halted.
fault() {
	local kind=$1 vector=$2 mnemonic=$3 cpus=${4:-1}
	emu_qemu 60 "$HALTED_RE" -machine pc -smp "$cpus" -m 256M \
		-kernel "$KERNEL_ELF" -append "test_fault=$kind"
	emu_check_fault "$vector" "$mnemonic" && emu_pass
}

# unknown_option <boot-path> <name>: an unknown option gets a clear warning
# naming it, and the boot carries on to ready.
unknown_option() {
	local path=$1 name=$2 iso text
	EMU_ALLOW_UNKNOWN_OPTION=1
	case $path in
	kernel)
		emu_qemu 60 "$READY_RE" -machine pc -smp 1 -m 256M \
			-kernel "$KERNEL_ELF" -append "poweroff $name=1"
		;;
	iso)
		iso=$(emu_iso "$name=1 poweroff") || { emu_mkiso_failed; return; }
		emu_qemu 120 "$READY_RE" -machine pc -smp 1 -m 256M -cdrom "$iso" -boot d
		;;
	esac
	emu_check_ready "boot=bios" || return
	text=$(emu_serial_text)
	if ! grep -Eq "vmkernel: warning: unknown option '$name(=1)?' ignored" <<<"$text"; then
		emu_fail "no \"vmkernel: warning: unknown option '$name' ignored\" line"
		return
	fi
	emu_pass
}

# odd_cmdline <cmdline>: malformed or oversized command lines must not stop
# the boot (warnings allowed); `poweroff` comes first so truncation keeps it.
odd_cmdline() {
	EMU_ALLOW_UNKNOWN_OPTION=1
	emu_qemu 60 "$READY_RE" -machine pc -smp 1 -m 256M \
		-kernel "$KERNEL_ELF" -append "$1"
	emu_check_ready "boot=bios" && emu_pass
}

# bochs_iso <model> <cpus> <expectations...>: Bochs booting the ISO with GRUB
# (BIOS): the Intel VMX + EPT rig, or a second SVM implementation.
bochs_iso() {
	local model=$1 cpus=$2 iso
	shift 2
	iso=$(emu_iso "poweroff") || { emu_mkiso_failed; return; }
	emu_bochs $((240 + 120 * cpus)) "$READY_RE" "$iso" "$model" "$cpus"
	emu_check_ready "$@" && emu_pass
}

# repeat <times> <test...>: the same boot several times (SMP bring-up races
# show up as an occasional hang); the first failing run decides.
repeat() {
	local times=$1 i base=$EMU_DIR/serial
	shift
	for i in $(seq 1 "$times"); do
		EMU_SERIAL=$base.$i.log
		rm -f "$EMU_DIR/result"
		"$@"
		if ! grep -q '^PASS' "$EMU_DIR/result" 2>/dev/null; then
			[ -f "$EMU_DIR/result" ] && sed -i "1s/: /: run $i of $times: /" "$EMU_DIR/result"
			return
		fi
	done
}

# with_cpu <model> <test...>: another QEMU CPU model for one test.
with_cpu() {
	EMU_QEMU_CPU=$1
	shift
	"$@"
}

# emu_test <name> <group> <test function> <arguments...>
declare -A EMU_CMD EMU_GROUP
EMU_ORDER=()
emu_test() {
	local name=$1 group=$2
	shift 2
	EMU_ORDER+=("$name")
	EMU_GROUP[$name]=$group
	EMU_CMD[$name]=$(printf '%q ' "$@")
}

# The kernel never sees these option names; the long line is ~1.2 KiB, past
# the 512-byte boot_info buffer.
LONG_CMDLINE="poweroff $(printf 'padding%04d=x ' $(seq 1 80))"
MALFORMED_CMDLINE="poweroff = == =x x= test_fault= test_fault=nonsense '\" \\ debug_exit=yes"

emu_test qemu-bios-smp1 main boot_iso bios 1 2G cpus=1 boot=bios virt=$QEMU_VIRT "${MEM_2G[@]}"
emu_test qemu-bios-smp4 main boot_iso bios 4 2G cpus=4 boot=bios virt=$QEMU_VIRT "${MEM_2G[@]}"
emu_test qemu-uefi-smp1 main boot_iso uefi 1 2G cpus=1 boot=uefi virt=$QEMU_VIRT "${MEM_2G[@]}"
emu_test qemu-uefi-q35-smp4 main boot_iso uefi-q35 4 2G cpus=4 boot=uefi virt=$QEMU_VIRT "${MEM_2G[@]}"
emu_test qemu-bios-6g main boot_iso bios 2 6G cpus=2 boot=bios "${MEM_6G[@]}"
emu_test qemu-kernel-smp2 main boot_kernel 2 2G "poweroff debug_exit" cpus=2 boot=bios virt=$QEMU_VIRT "${MEM_2G[@]}"
emu_test qemu-kernel-novirt main with_cpu max,-svm boot_kernel 1 512M poweroff cpus=1 boot=bios virt=none
emu_test bochs-skylake-smp2 main bochs_iso corei7_skylake_x 2 cpus=2 boot=bios virt=vmx
emu_test fault-ud main fault ud 6 UD
emu_test fault-pf main fault pf 14 PF
emu_test fault-gp main fault gp 13 GP 2
emu_test fault-de main fault de 0 DE
emu_test fault-bp main fault bp 3 BP
emu_test badopt-unknown main unknown_option kernel kapsel_no_such_option
emu_test badopt-unknown-iso main unknown_option iso kapsel_no_such_option
emu_test badopt-long-cmdline main odd_cmdline "$LONG_CMDLINE"
emu_test badopt-malformed main odd_cmdline "$MALFORMED_CMDLINE"

# test-long: more CPUs, other CPU models (capability MSRs differ: the kernel
# must probe, never assume), and repeated boots for bring-up races.
emu_test bochs-skylake-smp4 long bochs_iso corei7_skylake_x 4 cpus=4 boot=bios virt=vmx
emu_test bochs-tigerlake-smp2 long bochs_iso tigerlake 2 cpus=2 boot=bios virt=vmx
emu_test bochs-sandybridge-smp1 long bochs_iso corei7_sandy_bridge_2600k 1 cpus=1 boot=bios virt=vmx
emu_test bochs-ryzen-smp2 long bochs_iso ryzen 2 cpus=2 boot=bios virt=svm
# EPT without unrestricted guest, and no EPT at all (MSR 0x48C faults):
# whichever backend the kernel then picks, it must boot.
emu_test bochs-lynnfield-smp1 long bochs_iso corei5_lynnfield_750 1 cpus=1 boot=bios
emu_test bochs-penryn-smp1 long bochs_iso core2_penryn_t9600 1 cpus=1 boot=bios
emu_test qemu-svm-without-npt long with_cpu max,-npt boot_kernel 2 1G poweroff cpus=2 boot=bios
emu_test qemu-cpu-qemu64 long with_cpu qemu64 boot_kernel 2 1G poweroff cpus=2 boot=bios
emu_test qemu-uefi-q35-6g long boot_iso uefi-q35 2 6G cpus=2 boot=uefi "${MEM_6G[@]}"
emu_test qemu-kernel-smp16 long boot_kernel 16 2G poweroff cpus=16 boot=bios
emu_test qemu-kernel-smp8-x10 long repeat 10 boot_kernel 8 2G poweroff cpus=8 boot=bios
emu_test qemu-bios-smp4-x5 long repeat 5 boot_iso bios 4 2G cpus=4 boot=bios
emu_test qemu-uefi-q35-smp4-x5 long repeat 5 boot_iso uefi-q35 4 2G cpus=4 boot=uefi
emu_test fault-gp-smp4-x5 long repeat 5 fault gp 13 GP 4

# --- The test-guest suite: build/kapsel-test.iso (make test-iso) runs every
# guest in test/guests/ as a boot-time VM and powers off after the summary.

GUEST_SUMMARY_RE='guests: [0-9]+ passed, [0-9]+ failed'
TEST_ISO=$BUILD/kapsel-test.iso

# guest_suite_verdict <refused-guest...>: every guest printed its PASS line
# and exited 0 — but triple_fault, which must be stopped for its triple
# fault, and the guests named, which must be refused with a reason naming
# the missing CPU feature ("unrestricted guest"); the summary line agrees.
guest_suite_verdict() {
	local text name failures=() passed=0 failed=0 line
	if [ "$EMU_END_SEEN" != 1 ]; then
		emu_fail "$(emu_missing_reason "guests: N passed, M failed")"
		return
	fi
	text=$(emu_serial_text)
	for name in $GUEST_NAMES_EXPECTED; do
		if [ "$name" = triple_fault_reset ]; then
			# on_triple_fault = reset: three resets with fresh RAM, then stopped.
			[ "$(grep -c "^vm $name: PASS triple_fault: about to triple fault" <<<"$text")" = 4 ] &&
				grep -q "^vm $name: vCPU 0: triple fault: resetting the VM (reset 3 of at most 3)" <<<"$text" &&
				grep -q "^vm $name: stopped: .*3 resets already" <<<"$text" || failures+=("$name (not reset 3 times, then stopped)")
			failed=$((failed + 1))
		elif [ "$name" = triple_fault ]; then
			grep -q "^vm $name: PASS $name: about to triple fault" <<<"$text" &&
				grep -q "^vm $name: stopped: .*triple fault" <<<"$text" || failures+=("$name (no triple-fault stop)")
			failed=$((failed + 1))
		elif [[ " $* " == *" $name "* ]]; then
			grep -q "^vm $name: stopped: .*unrestricted guest" <<<"$text" || failures+=("$name (not refused for lack of unrestricted guest)")
			failed=$((failed + 1))
		elif grep -q "^vm $name: PASS $name" <<<"$text" && grep -q "^vm $name: exited status=0" <<<"$text" &&
			! grep -q "^vm $name: FAIL" <<<"$text"; then
			passed=$((passed + 1))
		else
			line=$(grep -m1 -E "^vm $name: (FAIL|stopped)" <<<"$text" | cut -c1-160)
			failures+=("$name${line:+ ($line)}")
			failed=$((failed + 1))
		fi
	done
	if [ "${#failures[@]}" -gt 0 ]; then
		emu_fail "guests not as expected: ${failures[*]}"
		return
	fi
	if ! grep -q "^guests: $passed passed, $failed failed" <<<"$text"; then
		emu_fail "summary is '$(grep -m1 -E "$GUEST_SUMMARY_RE" <<<"$text")', expected 'guests: $passed passed, $failed failed'"
		return
	fi
	emu_pass
}

# guests_qemu <firmware> [refused guests...]: the suite under QEMU TCG (SVM + NPT).
guests_qemu() {
	local firmware=$1
	shift
	[ -s "$TEST_ISO" ] || { emu_fail "$TEST_ISO missing (make test-iso)"; return; }
	# shellcheck disable=SC2046 # firmware arguments are words on purpose
	emu_qemu 300 "$GUEST_SUMMARY_RE" $(emu_qemu_firmware "$firmware") -smp 2 -m 1G -cdrom "$TEST_ISO" -boot d
	guest_suite_verdict "$@"
}

# guests_bochs <model> <cpus> [refused guests...]: the suite in Bochs (VMX + EPT, or SVM on ryzen).
guests_bochs() {
	local model=$1 cpus=$2
	shift 2
	[ -s "$TEST_ISO" ] || { emu_fail "$TEST_ISO missing (make test-iso)"; return; }
	emu_bochs $((600 + 120 * cpus)) "$GUEST_SUMMARY_RE" "$TEST_ISO" "$model" "$cpus" 1024
	guest_suite_verdict "$@"
}

# guests_bochs_svm <model> <cpus>: Bochs 2.7 panics when an SVM guest triple
# faults (instead of the SHUTDOWN intercept), so its suite lacks triple_fault.
guests_bochs_svm() {
	TEST_ISO=$BUILD/kapsel-test-no-triple-fault.iso
	GUEST_NAMES_EXPECTED=$(tr ' ' '\n' <<<"$GUEST_NAMES_EXPECTED" | grep -vx 'triple_fault\|triple_fault_reset' | tr '\n' ' ')
	guests_bochs "$@"
}

# guests_refused <cpu>: a CPU the vmkernel cannot use: the ready line says
# virt=none with the reason, and every VM definition is refused, not run.
guests_refused() {
	EMU_QEMU_CPU=$1
	[ -s "$TEST_ISO" ] || { emu_fail "$TEST_ISO missing (make test-iso)"; return; }
	emu_qemu 240 "$GUEST_SUMMARY_RE" -machine pc -smp 1 -m 1G -cdrom "$TEST_ISO" -boot d
	local text
	text=$(emu_serial_text)
	[ "$EMU_END_SEEN" = 1 ] || { emu_fail "$(emu_missing_reason "guests: 0 passed")"; return; }
	grep -q "virt: warning: no hardware virtualization: $2" <<<"$text" ||
		{ emu_fail "no refusal naming '$2'"; return; }
	grep -q "virt=none" <<<"$text" || { emu_fail "ready line does not say virt=none"; return; }
	grep -qE "^guests: 0 passed, [1-9][0-9]* failed" <<<"$text" || { emu_fail "VMs ran or the summary is missing"; return; }
	grep -q "^vm: the definition in module '.*' was refused: this machine cannot run VMs" <<<"$text" ||
		{ emu_fail "no per-VM refusal message"; return; }
	emu_pass
}

GUEST_NAMES_EXPECTED=$(make -s --no-print-directory -C "$ROOT" print-test-iso-guests 2>/dev/null)

emu_test guests-svm-qemu-bios main guests_qemu bios
emu_test guests-svm-qemu-uefi main guests_qemu uefi
emu_test guests-svm-qemu-epyc main with_cpu EPYC guests_qemu bios
emu_test guests-svm-nonpt main guests_refused max,-npt "SVM without nested paging (NPT) is not supported"
emu_test guests-vmx-bochs-skylake main guests_bochs corei7_skylake_x 2
emu_test guests-vmx-bochs-sandybridge main guests_bochs corei7_sandy_bridge_2600k 2
emu_test guests-vmx-bochs-lynnfield main guests_bochs corei5_lynnfield_750 1 realmode smp2 platform
emu_test guests-svm-bochs-ryzen main guests_bochs_svm ryzen 2

# --- Linux guests: Debian's stock kernel (linux-image-amd64) with the
# busybox-static initramfs of test/linux/ (built by test/linux/build-assets
# into build/linux/). Its /init prints "linux-test: PASS|FAIL ..." lines for
# CPUs online, virtio-blk (a checksum of data written then read back),
# virtio-console, and two "@time" lines around `sleep 2` that the vmkernel
# stamps with its own clock; then busybox powers off through ACPI.

LINUX_ASSETS=$BUILD/linux
LINUX_CMDLINE="console=ttyS0 loglevel=4"
# A Linux guest that panics never ends its VM: its tests stop at once.
GUEST_PANIC_RE='Kernel panic - not syncing'

# linux_iso <iso> <vm-spec...>: an ISO (command line `poweroff`) with the
# given --vm specs; assets built first.
linux_iso() {
	local iso=$1 spec args=()
	shift
	test/linux/build-assets "$BUILD" >"$EMU_DIR/assets.log" 2>&1 ||
		{ emu_fail "test/linux/build-assets failed: $(tail -n 1 "$EMU_DIR/assets.log")"; return 1; }
	for spec in "$@"; do
		args+=(--vm "$spec")
	done
	scripts/mkiso -o "$iso" --kernel "$KERNEL_ELF" --efi "$KERNEL_EFI" --timeout 0 \
		--poweroff-when-done "${args[@]}" >"$EMU_DIR/mkiso.log" 2>&1 || { emu_mkiso_failed; return 1; }
}

# linux_vm_spec <name> <kernel-file> <cpus> [mem]: a Linux VM (default
# 256 MiB) with the test initramfs and a disk of its own (one file named by
# two VMs is one shared disk: mkiso puts a file on the ISO once).
linux_vm_spec() {
	: >"$EMU_DIR/disk-$1.img"
	truncate -s 8M "$EMU_DIR/disk-$1.img"
	printf 'name=%s kernel=%s initrd=%s disk=%s mem=%s cpus=%s cmdline="%s kapsel_test.cpus=%s"' \
		"$1" "$LINUX_ASSETS/$2" "$LINUX_ASSETS/initramfs.cpio.gz" "$EMU_DIR/disk-$1.img" "${4:-256M}" \
		"$3" "$LINUX_CMDLINE" "$3"
}

# linux_check_vm <text> <vm>: every check of the guest's /init passed, the
# 2-second sleep took 2 s +-10% by the vmkernel's clock, and the VM ended
# through ACPI power-off with status 0. Prints the failure, returns 1.
linux_check_vm() {
	local text=$1 vm=$2 check start end
	grep -q "^vm $vm: linux-test: init started" <<<"$text" ||
		{ echo "$vm: /init never ran ($(grep -m1 -E "^vm $vm: (stopped|.*Kernel panic)" <<<"$text" | cut -c1-160))"; return 1; }
	if grep -q "^vm $vm: linux-test: FAIL" <<<"$text"; then
		echo "$vm: $(grep -m1 "^vm $vm: linux-test: FAIL" <<<"$text" | cut -c1-200)"
		return 1
	fi
	for check in "cpus online" virtio-blk virtio-console; do
		grep -q "^vm $vm: linux-test: PASS $check" <<<"$text" || { echo "$vm: no PASS line for $check"; return 1; }
	done
	start=$(sed -n "s/^vm $vm: @time linux-test: sleep start \[vmkernel-time \([0-9.]*\)\]$/\1/p" <<<"$text")
	end=$(sed -n "s/^vm $vm: @time linux-test: sleep end \[vmkernel-time \([0-9.]*\)\]$/\1/p" <<<"$text")
	[ -n "$start" ] && [ -n "$end" ] || { echo "$vm: no vmkernel-stamped @time lines around the sleep"; return 1; }
	awk -v s="$start" -v e="$end" 'BEGIN { d = e - s; exit !(d >= 1.8 && d <= 2.2) }' ||
		{ echo "$vm: 'sleep 2' took $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') s of vmkernel time (2 s +-10% expected)"; return 1; }
	if [[ $LINUX_CMDLINE == *kapsel_test.reboot_once* ]]; then
		grep -q "^vm $vm: linux-test: first boot (CMOS 0x41=0): rebooting" <<<"$text" &&
			grep -q "^vm $vm: linux-test: PASS second boot after a reset" <<<"$text" ||
			{ echo "$vm: did not reboot once (kapsel_test.reboot_once)"; return 1; }
	fi
	grep -q "^vm $vm: linux-test: done, powering off" <<<"$text" || { echo "$vm: /init did not finish"; return 1; }
	grep -qE "^vm $vm: .*(ACPI|S5|power(ed)?[ -]off)" <<<"$text" || { echo "$vm: no ACPI power-off logged"; return 1; }
	grep -q "^vm $vm: passed (exit status)" <<<"$text" || { echo "$vm: did not end with status 0: $(grep -m1 "^vm $vm: \(passed\|failed\)" <<<"$text")"; return 1; }
	return 0
}

# linux_guests <host-cpus> <limit> <vm:kernel:cpus[:mem]>... [-- extra --vm
# specs]: boots the Linux VMs (and any extra VMs, which must pass too) in
# QEMU TCG (SVM + NPT, LINUX_HOST_MEM of RAM, default 2G) and checks each.
linux_guests() {
	local host_cpus=$1 limit=$2 iso=$EMU_DIR/linux.iso specs=() names=() item text why
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		IFS=: read -r name kernel cpus mem <<<"$1"
		specs+=("$(linux_vm_spec "$name" "$kernel" "$cpus" "$mem")")
		names+=("$name")
		shift
	done
	[ "${1:-}" = -- ] && shift
	specs+=("$@")
	linux_iso "$iso" "${specs[@]}" || return
	emu_qemu "$limit" "$GUEST_SUMMARY_RE" -machine pc -smp "$host_cpus" -m "${LINUX_HOST_MEM:-2G}" \
		-cdrom "$iso" -boot d
	[ "$EMU_END_SEEN" = 1 ] || { emu_fail "$(emu_missing_reason "guests: N passed, M failed")"; return; }
	text=$(emu_serial_text)
	for item in "${names[@]}"; do
		why=$(linux_check_vm "$text" "$item") || { emu_fail "$why"; return; }
	done
	grep -q "^guests: ${#specs[@]} passed, 0 failed" <<<"$text" ||
		{ emu_fail "summary is '$(grep -m1 -E "$GUEST_SUMMARY_RE" <<<"$text")', expected 'guests: ${#specs[@]} passed, 0 failed'"; return; }
	emu_pass
}

# linux_guests_6g ...: linux_guests on a host with 6 GiB (guests past 4 GiB).
linux_guests_6g() {
	LINUX_HOST_MEM=6G linux_guests "$@"
}

# linux_bochs <model> [cpus]: one Linux VM (1 vCPU, or as many as the
# emulated host has CPUs) on VT-x in Bochs. Slow: GRUB reads the kernel off
# the ISO at Bochs speed, then Linux boots at ~50 MIPS.
linux_bochs() {
	local iso=$EMU_DIR/linux.iso text why cpus=${2:-1}
	linux_iso "$iso" "$(linux_vm_spec lx vmlinuz "$cpus")" || return
	emu_bochs 1800 "$GUEST_SUMMARY_RE" "$iso" "$1" "$cpus" 1024
	[ "$EMU_END_SEEN" = 1 ] || { emu_fail "$(emu_missing_reason "guests: N passed, M failed")"; return; }
	text=$(emu_serial_text)
	why=$(linux_check_vm "$text" lx) || { emu_fail "$why"; return; }
	emu_pass
}

# linux_ping: two Linux VMs (PVH vmlinux, 1 vCPU, a disk each) ping each
# other over virtio-net through the vmkernel's internal switch, on a network
# named by their definitions ("Lab net"), lxa with a static MAC and a second
# NIC on another network; every other check of their /init must pass too.
linux_ping() {
	local iso=$EMU_DIR/linux-ping.iso text why vm n=0 specs=() nics
	for vm in lxa:10.0.0.1:10.0.0.2 lxb:10.0.0.2:10.0.0.1; do
		IFS=: read -r name ip peer <<<"$vm"
		n=$((n + 1))
		truncate -s 8M "$EMU_DIR/ping-disk$n.img"
		nics='ethernet0.present=true "ethernet0.networkName=Lab net"'
		[ "$name" = lxa ] && nics+=' ethernet0.address=02:00:00:00:0a:01 ethernet1.present=true ethernet1.networkName=isolated'
		specs+=("$(printf 'name=%s kernel=%s initrd=%s disk=%s mem=256M cpus=1 %s cmdline="%s kapsel_test.cpus=1 kapsel_test.ip=%s kapsel_test.peer=%s"' \
			"$name" "$LINUX_ASSETS/vmlinux" "$LINUX_ASSETS/initramfs.cpio.gz" "$EMU_DIR/ping-disk$n.img" \
			"$nics" "$LINUX_CMDLINE" "$ip" "$peer")")
	done
	linux_iso "$iso" "${specs[@]}" || return
	emu_qemu 480 "$GUEST_SUMMARY_RE" -machine pc -smp 2 -m 2G -cdrom "$iso" -boot d
	[ "$EMU_END_SEEN" = 1 ] || { emu_fail "$(emu_missing_reason "guests: N passed, M failed")"; return; }
	text=$(emu_serial_text)
	for line in 'vm lxa: ethernet0 virtio-net at pci 00:[0-9a-f]{2}.0: mac 02:00:00:00:0a:01, network "Lab net", link up' \
		'vm lxa: ethernet1 virtio-net at pci 00:[0-9a-f]{2}.0: mac 02:4b:[0-9a-f:]{11}, network "isolated", link up' \
		'vm lxb: ethernet0 virtio-net at pci 00:[0-9a-f]{2}.0: mac 02:4b:[0-9a-f:]{11}, network "Lab net", link up'; do
		grep -qE "^$line$" <<<"$text" || { emu_fail "no line matching '$line'"; return; }
	done
	grep -q "^vm lxa: linux-test: PASS virtio-net ping 10.0.0.2 from 10.0.0.1 (02:00:00:00:0a:01, " <<<"$text" ||
		{ emu_fail "lxa's eth0 does not have the MAC its definition gives"; return; }
	for vm in lxa:10.0.0.2 lxb:10.0.0.1; do
		grep -q "^vm ${vm%%:*}: linux-test: PASS virtio-net ping ${vm#*:} " <<<"$text" ||
			{ emu_fail "${vm%%:*}: no PASS line for its ping of ${vm#*:}"; return; }
		why=$(linux_check_vm "$text" "${vm%%:*}") || { emu_fail "$why"; return; }
	done
	emu_pass
}
emu_test linux-svm-virtio-net-ping main linux_ping

# linux_guests_reboot: linux_guests, each Linux rebooting once after its
# device checks: a VM with several vCPUs is power-cycled, and its virtio
# disk and console must work again in the second boot.
linux_guests_reboot() {
	LINUX_CMDLINE="$LINUX_CMDLINE kapsel_test.reboot_once" linux_guests "$@"
}
emu_test linux-svm-smp2 main linux_guests_reboot 2 420 lx2:vmlinuz:2
emu_test linux-svm-smp4-pvh main linux_guests 2 480 lx4:vmlinux:4
emu_test linux-svm-two-linux-and-test-guest main linux_guests 2 600 lxa:vmlinuz:2 lxb:vmlinux:1 -- \
	"name=hlt_timer kernel=$BUILD/guests/hlt_timer.elf mem=32M testdev=on"
emu_test linux-vmx-bochs-skylake long linux_bochs corei7_skylake_x
emu_test linux-vmx-bochs-skylake-smp2 long linux_bochs corei7_skylake_x 2
# 8 vCPUs on 2 host CPUs, 4 GiB of guest RAM (1 GiB of it above 4 GiB).
emu_test linux-svm-smp8-4g long linux_guests_6g 2 600 lx8:vmlinux:8:4G

# The files the vmkernel wrote next to spare's and spare2's .vmx, read back
# with the host tool: the rotated logs (one per power-on), the NVRAM file
# (header, CRC32C, the count the guest left in CMOS byte 0x40) and
# spare2's serial0 file.
console_vm_files() {
	local ds=$1 file line out=$EMU_DIR/files
	mkdir -p "$out"
	for file in spare/vmware.log spare/vmware-1.log spare/spare.nvram spare2/vmware.log spare2/serial.log \
		spare2/vmware-1.log spare2/vmware-2.log spare2/vmware-3.log spare2/spare2.nvram; do
		"$BUILD/bin/vmfs" -d "$ds" cp-out "/$file" "$out/${file/\//-}" >"$out/cp.log" 2>&1 ||
			{ emu_fail "vmfs cp-out /$file: $(head -c 200 "$out/cp.log")"; return 1; }
	done
	! "$BUILD/bin/vmfs" -d "$ds" cp-out /spare/vmware-2.log "$out/x" >/dev/null 2>&1 ||
		{ emu_fail "spare has a vmware-2.log after two power-ons"; return 1; }
	for line in "spare-vmware-1.log:power on: vm start from the service console" \
		"spare-vmware-1.log:config: memsize 32 MiB, numvcpus 2" \
		"spare-vmware-1.log:time: 2[0-9]\{3\}-[01][0-9]-[0-3][0-9]T[0-9:]\{8\}Z" \
		"spare-vmware-1.log:config: disk 0 \[ds1\]/shared/shared.vmdk" \
		"spare-vmware-1.log:nvram: \[ds1\]/spare/spare.nvram holds no settings yet" \
		"spare-vmware-1.log:serial0| cpu_spin: nvram byte 0x40=0" \
		"spare-vmware-1.log:stopping: stopped by the service console" \
		"spare-vmware-1.log:power off: stopped by the service console, exit status 0" \
		"spare-vmware-1.log:exits total: [1-9]" "spare-vmware-1.log:nvram: saved to \[ds1\]/spare/spare.nvram" \
		"spare-vmware-1.log:powered off, disk and file locks released" \
		"spare-vmware.log:nvram: loaded from \[ds1\]/spare/spare.nvram" \
		"spare-vmware.log:serial0| cpu_spin: nvram byte 0x40=1" "spare-vmware.log:powered off, disk and file locks released" \
		"spare2-vmware.log:config: serial0 to file serial.log" \
		"spare2-vmware.log:serial0: output to \[ds1\]/spare2/serial.log" \
		"spare2-serial.log:^virtio_blk: start$" "spare2-serial.log:^PASS virtio_blk$" \
		"spare2-vmware-1.log:nvram: ignored, defaults used: .*spare2.nvram': not an NVRAM file (7 bytes" \
		"spare2-vmware-1.log:serial0| PASS virtio_blk" "spare2-vmware.log:serial0| PASS virtio_blk" \
		"spare2-vmware.log:nvram: loaded from \[ds1\]/spare2/spare2.nvram" \
		"spare2-vmware-2.log:^old log vmware$" "spare2-vmware-3.log:^old log vmware-1$"; do
		grep -q -- "${line#*:}" "$out/${line%%:*}" ||
			{ emu_fail "${line%%:*} has no line matching '${line#*:}'"; return 1; }
	done
	# The damaged file was replaced at power-off (its guest leaves byte 0x40 alone).
	console_nvram_check "$out/spare2-spare2.nvram" 0 && console_nvram_check "$out/spare-spare.nvram" 2
}

# console_nvram_check FILE POWER-ONS: a valid NVRAM file (KNVR header,
# CRC32C) whose CMOS byte 0x40, the guest's power-on count, is POWER-ONS.
console_nvram_check() {
	local why
	why=$(python3 - "$1" "$2" <<'PY'
import struct, sys
def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
data = open(sys.argv[1], "rb").read()
want = int(sys.argv[2])
if len(data) < 16:
    print("%d bytes" % len(data))
    sys.exit()
magic, version, header, length, crc = struct.unpack_from("<4sHHII", data)
if magic != b"KNVR" or version != 1 or header != 16 or length != 114 or len(data) != 130:
    print("header %r %d %d %d, %d bytes" % (magic, version, header, length, len(data)))
elif crc32c(data[16:]) != crc:
    print("CRC32C mismatch")
elif data[16 + 0x40 - 0x0e] != want:
    print("CMOS byte 0x40 is %d, expected %d (power-ons)" % (data[16 + 0x40 - 0x0e], want))
PY
	)
	[ -z "$why" ] || { emu_fail "${1##*/}: $why"; return 1; }
}

# --- The service console (mgmt-console/): Debian's kernel with our initrd as
# the role = console VM, beside a ticking test guest (ticker, 40 s of 10 ms
# LAPIC ticks) and two VMs with autostart = off that are files on a
# datastore, both naming the disk "[ds1]/shared/shared.vmdk": spare
# (cpu_spin, 2 vCPUs, counts its power-ons in CMOS byte 0x40) and spare2
# (the virtio_blk guest, which moves the PCI BARs, uses INTx and MSI-X and
# ends by itself; COM1 to a file; a damaged NVRAM file and four old logs
# waiting). Its /init, with kapsel_console.selftest=spare
# kapsel_console.peer=spare2, runs vmkctl over virtio-vsock: version, vm
# list, vm start spare (then waits for state=running), vm start spare2
# (refused: spare holds the disk), vm stop spare (waits for state=stopped:
# its disk lock let go), spare2 run twice (device reset at power-on), spare
# powered on a second time and stopped, datastore list, an unknown VM
# (refused) and four malformed requests (each answered EPROTO and its
# connection closed, the service still answering afterwards), printing
# "console-test: PASS|FAIL ..."; then it powers off. The vmkernel restarts
# it; the restarted console (vmkctl version shows 1 restart) ends itself
# through the test-exit port.
# The ticker must keep ticking across all this and end after the restart,
# with status 0; spare's CMOS count must survive its power cycle, and the
# files next to the VMs' .vmx are read back afterwards (console_vm_files).
console_restart() {
	local iso=$EMU_DIR/console.iso text why line ds=$EMU_DIR/console-ds.img vm
	mgmt-console/build "$BUILD" >"$EMU_DIR/console-build.log" 2>&1 ||
		{ emu_fail "mgmt-console/build failed: $(tail -n 1 "$EMU_DIR/console-build.log")"; return; }
	[ -x "$BUILD/bin/vmfs" ] || make --no-print-directory -s BUILD="$BUILD" vmfs-tools >"$EMU_DIR/vmfs-tools.log" 2>&1 ||
		{ emu_fail "make vmfs-tools failed"; return; }
	rm -f "$ds"
	"$BUILD/bin/mkfs.vmfs" --label ds1 "$ds" 64M >"$EMU_DIR/mkfs.log" 2>&1 &&
		"$BUILD/bin/vmfs" -d "$ds" mkdir /shared >/dev/null &&
		"$BUILD/bin/vmfs" -d "$ds" mkdisk /shared/shared.vmdk 1M --thin >/dev/null ||
		{ emu_fail "the datastore image: $(tail -n 1 "$EMU_DIR/mkfs.log")"; return; }
	for vm in spare:cpu_spin spare2:virtio_blk; do
		guest=${vm#*:} vm=${vm%%:*}
		printf 'name = "%s"\nmemsize = "32"\nkernel = "[ds1]/%s/%s.elf"\nautostart = "off"\ndisk = "[ds1]/shared/shared.vmdk"\n' \
			"$vm" "$vm" "$guest" >"$EMU_DIR/$vm.vmx"
		if [ "$vm" = spare ]; then
			printf 'numvcpus = "2"\ncmdline = "nvram=1 tick_us=10000 ticks=100000"\n' >>"$EMU_DIR/$vm.vmx"
		else
			printf 'testdev = "on"\nserial0.fileType = "file"\nserial0.fileName = "serial.log"\n' >>"$EMU_DIR/$vm.vmx"
		fi
		"$BUILD/bin/vmfs" -d "$ds" mkdir "/$vm" >/dev/null &&
			"$BUILD/bin/vmfs" -d "$ds" cp-in "$BUILD/guests/$guest.elf" "/$vm/$guest.elf" >/dev/null &&
			"$BUILD/bin/vmfs" -d "$ds" cp-in "$EMU_DIR/$vm.vmx" "/$vm/$vm.vmx" >/dev/null ||
			{ emu_fail "cannot put $vm on the datastore image"; return; }
	done
	# spare2: a damaged NVRAM file (ignored, then rewritten) and four old
	# logs (rotated: three kept).
	printf 'garbage' >"$EMU_DIR/bad.nvram"
	"$BUILD/bin/vmfs" -d "$ds" cp-in "$EMU_DIR/bad.nvram" /spare2/spare2.nvram >/dev/null || { emu_fail "cp-in nvram"; return; }
	for vm in vmware vmware-1 vmware-2 vmware-3; do
		echo "old log $vm" >"$EMU_DIR/$vm.log"
		"$BUILD/bin/vmfs" -d "$ds" cp-in "$EMU_DIR/$vm.log" "/spare2/$vm.log" >/dev/null || { emu_fail "cp-in $vm.log"; return; }
	done
	scripts/mkiso -o "$iso" --kernel "$KERNEL_ELF" --efi "$KERNEL_EFI" --timeout 0 --poweroff-when-done \
		--vm "name=console role=console kernel=$BUILD/mgmt-console/vmlinuz initrd=$BUILD/mgmt-console/initrd mem=128M cpus=1 cmdline=\"console=ttyS0 loglevel=4 kapsel_console.selftest=spare kapsel_console.peer=spare2\"" \
		--vm "name=ticker kernel=$BUILD/guests/cpu_spin.elf mem=32M cmdline=\"tick_us=10000 ticks=4000\"" \
		>"$EMU_DIR/mkiso.log" 2>&1 || { emu_mkiso_failed; return; }
	emu_qemu 300 "$GUEST_SUMMARY_RE" -machine pc -smp 2 -m 2G -cdrom "$iso" -boot d \
		-drive "file=$ds,if=virtio,format=raw"
	[ "$EMU_END_SEEN" = 1 ] || { emu_fail "$(emu_missing_reason "guests: N passed, M failed")"; return; }
	text=$(emu_serial_text)
	if grep -q "^vm console: console-test: FAIL" <<<"$text"; then
		emu_fail "$(grep -m1 "^vm console: console-test: FAIL" <<<"$text" | cut -c1-200)"
		return
	fi
	for line in "PASS version: protocol=1.1 " "PASS vm list: .*name=spare state=defined" \
		"PASS vm start spare: name=spare state=starting" "PASS spare is running" \
		"PASS vm list after start: .*name=spare state=running" \
		"PASS spare2 refused while spare holds the disk: vmkctl: error EBUSY disk '\[ds1\]/shared/shared.vmdk': locked: in use by VM spare" \
		"PASS vm stop spare: name=spare state=stopp" "PASS spare is stopped" \
		"PASS vm start spare2: name=spare2 state=starting" "PASS spare2 is stopped" \
		"PASS vm start spare2 again: name=spare2 state=starting" \
		"PASS vm start spare again: name=spare state=starting" "PASS spare is running" \
		"PASS vm stop spare again: name=spare state=stopp" \
		"PASS datastore list: name=ds1 access=read-write;count=1" \
		"PASS unknown vm refused: vmkctl: error ENOENT" "boot after 0 restarts" "powering off" \
		"PASS malformed 'hello' closed: .*0 err EPROTO a request is" \
		"PASS malformed 'x1 version' closed: .*0 err EPROTO the request id" \
		"PASS malformed '1 version.' closed: .*0 err EPROTO a control" \
		"PASS malformed '1 aaaaaaaaaa' closed: .*0 err EPROTO request line longer" \
		"PASS version after malformed requests" "boot after 1 restarts" "restarted, done"; do
		grep -q "^vm console: console-test: $line" <<<"$text" || { emu_fail "no console line '$line'"; return; }
	done
	why=$(awk '
		/^vm console: service console powered off: restarting it/ && !restart { restart = NR }
		/^vm ticker: exited status=0/ { ticker = NR }
		/^vm spare: cpu_spin: start/ { spare++ }
		/^vm spare: powered off, its disk locks released/ { spare_off++ }
		/^vm spare2: virtio_blk: start/ { spare2_console++ }
		/^vm spare2: powering on/ { spare2++ }
		/^vm spare2: powered off, its disk locks released/ { spare2_off++ }
		END {
			if (!restart) print "the vmkernel did not restart the console"
			else if (!ticker) print "ticker did not end with status 0"
			else if (ticker < restart) print "ticker ended before the console restarted: nothing was shown to keep running"
			else if (spare != 2 || spare_off != 2) print "spare was not powered on twice and off twice (" spare + 0 " starts, " spare_off + 0 " power-offs)"
			else if (spare2 != 2 || spare2_off != 2) print "spare2 was not powered on and off twice"
			else if (spare2_console) print "spare2 printed on the console, not into its serial0 file"
		}' <<<"$text")
	[ -z "$why" ] || { emu_fail "$why"; return; }
	# NVRAM: the guest counts its power-ons in CMOS byte 0x40.
	for line in "vm spare: cpu_spin: nvram byte 0x40=0" "vm spare: cpu_spin: nvram byte 0x40=1"; do
		grep -q "^$line\$" <<<"$text" || { emu_fail "no line '$line': CMOS not kept across the power cycle"; return; }
	done
	console_vm_files "$ds" || return
	grep -q "^vm spare2: exited status=0" <<<"$text" || { emu_fail "spare2 (virtio_blk) did not end with status 0"; return; }
	grep -q "^guests: 4 passed, 0 failed" <<<"$text" ||
		{ emu_fail "summary is '$(grep -m1 -E "$GUEST_SUMMARY_RE" <<<"$text")', expected 'guests: 4 passed, 0 failed'"; return; }
	emu_pass
}
emu_test console-svm-vmkctl-restart main console_restart

# --- `make run`'s server disk: scripts/run-qemu (what `make run` starts)
# makes build/run/datastore1.img on its first run, a VMFS datastore holding
# the VM demo3 as files. Booted twice with its own image (--kernel, so the
# datastore's VM is the only one, and `poweroff`): each time the datastore is
# mounted and demo3 runs from it and passes; the second boot finds the image
# as the first left it (the log of the first power-on rotated to
# vmware-1.log, the NVRAM file saved) and fsck.vmfs -n finds it clean.
run_datastore() {
	local ds=$EMU_DIR/datastore1.img n text line out=$EMU_DIR/files
	mkdir -p "$out"
	for n in 1 2; do
		RUN_DATASTORE=$ds RUN_SMP=2 RUN_MEM=1G BUILD=$BUILD timeout -k 5 "$(emu_seconds 120)" \
			scripts/run-qemu --kernel --append "poweroff" -- -display none </dev/null >"$EMU_DIR/run$n.log" 2>&1
		cp "$EMU_DIR/run$n.log" "$EMU_SERIAL"
		text=$(emu_serial_text)
		[ "$n" = 2 ] || grep -q "^run-qemu: made the datastore $ds (VMFS 'datastore1', VM demo3)" <<<"$text" ||
			{ emu_fail "run $n: run-qemu did not make the datastore"; return; }
		[ "$n" = 1 ] || ! grep -q "^run-qemu: made the datastore" <<<"$text" ||
			{ emu_fail "run 2 made the datastore again instead of keeping it"; return; }
		for line in "datastore: datastore1 on vblk0 1024 MiB free" "vm demo3: disk \[datastore1\]/demo3/demo3.vmdk on datastore datastore1, 64 MiB" \
			"vm demo3: demo: hello from a Kapsel VM" "vm demo3: passed \(exit status\)" "guests: 1 passed, 0 failed"; do
			grep -qE "^$line" <<<"$text" || { emu_fail "run $n: no line '$line'"; return; }
		done
	done
	for file in vmware.log vmware-1.log demo3.nvram; do
		"$BUILD/bin/vmfs" -d "$ds" cp-out "/demo3/$file" "$out/$file" >"$out/cp.log" 2>&1 ||
			{ emu_fail "vmfs cp-out /demo3/$file: $(head -c 200 "$out/cp.log")"; return; }
	done
	grep -q "nvram: loaded from \[datastore1\]/demo3/demo3.nvram" "$out/vmware.log" ||
		{ emu_fail "the second power-on did not load the NVRAM the first saved"; return; }
	[ "$(head -c 4 "$out/demo3.nvram")" = KNVR ] || { emu_fail "demo3.nvram has no KNVR header"; return; }
	"$BUILD/bin/fsck.vmfs" -n "$ds" >"$out/fsck.log" 2>&1 || { emu_fail "fsck.vmfs -n: $(head -c 200 "$out/fsck.log")"; return; }
	rm -f "$ds"
	emu_pass
}
emu_test run-datastore main run_datastore

# --- The CPU scheduler (vmkernel/sched/): cpu_spin and smp_many guests on
# ISOs of their own, in QEMU TCG (SVM) under -icount, where the TSC counts
# instructions: shares, limits and reservations then come out the same in
# every run. Verdicts from the guests' loop counts (CPU time as the guest
# saw it) and from the vmkernel's accounting lines
# ("vm <name>: cpu shares=... elapsed=<ticks> used=<ticks> ...").
SCHED_SPIN="$BUILD/guests/cpu_spin.elf"
SCHED_SPIN_CMDLINE="warm=300 window=2000 cool=300"

# sched_iso <iso> <--vm spec...>: an ISO with these boot-time VMs that
# powers off when they have ended.
sched_iso() {
	local iso=$1 spec args=()
	shift
	for spec in "$@"; do
		args+=(--vm "$spec")
	done
	"$ROOT/scripts/mkiso" -o "$iso" --kernel "$KERNEL_ELF" --efi "$KERNEL_EFI" --timeout 0 \
		--poweroff-when-done "${args[@]}" >"$EMU_DIR/mkiso.log" 2>&1 || { emu_mkiso_failed; return 1; }
}

# sched_run <limit> <iso> [wall]: QEMU with 2 CPUs until the summary;
# deterministic (-icount) unless "wall". Under -icount, QEMU 7.2 lets a
# halted CPU sleep through its timer and IPIs while the other CPU runs (its
# round-robin TCG): the tests where one pCPU idles while the other is busy
# and tasks move between them run on wall time instead.
sched_run() {
	local icount=(-icount shift=0,sleep=off)
	[ "${3:-}" = wall ] && icount=()
	emu_qemu "$1" "$GUEST_SUMMARY_RE" -machine pc -smp 2 -m 512M "${icount[@]}" -cdrom "$2" -boot d
	[ "$EMU_END_SEEN" = 1 ] || { emu_fail "$(emu_missing_reason "guests: N passed, M failed")"; return 1; }
}

# sched_field <text> <vm> <field>: a number from the VM's accounting lines.
sched_field() {
	grep -E "^vm $2: cpu (shares|used)=" <<<"$1" | grep -m1 -oE " $3=[0-9]+" | cut -d= -f2
}

# sched_count <text> <vm>: the cpu_spin guest's loop count.
sched_count() {
	grep -m1 -E "^vm $2: cpu_spin: count=" <<<"$1" | sed -E 's/.*count=([0-9]+).*/\1/'
}

# sched_expect_pass <text> <vm...>: every VM printed its PASS line.
sched_expect_pass() {
	local text=$1 vm
	shift
	for vm in "$@"; do
		grep -q "^vm $vm: PASS " <<<"$text" || { emu_fail "vm $vm: no PASS line"; return 1; }
	done
}

# sched_within <value> <expected> <tolerance>: |value/expected - 1| <= tolerance.
sched_within() {
	awk -v v="$1" -v e="$2" -v t="$3" 'BEGIN { d = v / e - 1; if (d < 0) d = -d; exit !(d <= t) }'
}

# sched_shares <a> <b> [bochs model]: two CPU-bound VMs with these shares
# pinned to pCPU 1 get CPU time within 5% of a:b, by the guests' counts and
# by the accounting.
sched_shares() {
	local a=$1 b=$2 model=${3:-} iso=$EMU_DIR/sched.iso text ca cb ua ub
	sched_iso "$iso" \
		"name=spin_a kernel=$SCHED_SPIN mem=16M shares=$a affinity=1 cmdline=\"$SCHED_SPIN_CMDLINE\"" \
		"name=spin_b kernel=$SCHED_SPIN mem=16M shares=$b affinity=1 cmdline=\"$SCHED_SPIN_CMDLINE\"" || return
	if [ -n "$model" ]; then
		emu_bochs 900 "$GUEST_SUMMARY_RE" "$iso" "$model" 2
		[ "$EMU_END_SEEN" = 1 ] || { emu_fail "$(emu_missing_reason "guests: N passed, M failed")"; return; }
	else
		sched_run 240 "$iso" || return
	fi
	text=$(emu_serial_text)
	sched_expect_pass "$text" spin_a spin_b || return
	ca=$(sched_count "$text" spin_a) cb=$(sched_count "$text" spin_b)
	ua=$(sched_field "$text" spin_a used) ub=$(sched_field "$text" spin_b used)
	[ -n "$ca" ] && [ -n "$cb" ] && [ -n "$ua" ] && [ -n "$ub" ] || { emu_fail "counts or accounting lines missing"; return; }
	sched_within "$(awk -v x="$ca" -v y="$cb" 'BEGIN { print x / y }')" "$(awk -v x="$a" -v y="$b" 'BEGIN { print x / y }')" 0.05 ||
		{ emu_fail "loop counts $ca:$cb, not within 5% of $a:$b"; return; }
	sched_within "$(awk -v x="$ua" -v y="$ub" 'BEGIN { print x / y }')" "$(awk -v x="$a" -v y="$b" 'BEGIN { print x / y }')" 0.05 ||
		{ emu_fail "used ticks $ua:$ub, not within 5% of $a:$b"; return; }
	emu_pass
}

# sched_limit: a VM limited to 30%, alone on pCPU 1 (the other idles too):
# it never gets more than 30% of the time (the first run may use one burst
# of tokens: 1% of slack), and not much less.
sched_limit() {
	local iso=$EMU_DIR/sched.iso text used elapsed
	sched_iso "$iso" \
		"name=limited kernel=$SCHED_SPIN mem=16M limit=30 affinity=1 cmdline=\"$SCHED_SPIN_CMDLINE\"" || return
	sched_run 240 "$iso" || return
	text=$(emu_serial_text)
	sched_expect_pass "$text" limited || return
	used=$(sched_field "$text" limited used) elapsed=$(sched_field "$text" limited elapsed)
	[ -n "$used" ] && [ -n "$elapsed" ] || { emu_fail "accounting line missing"; return; }
	awk -v u="$used" -v e="$elapsed" 'BEGIN { exit !(u / e <= 0.31 && u / e >= 0.27) }' ||
		{ emu_fail "used $used of $elapsed ticks: not 27..31% (limit 30%)"; return; }
	emu_pass
}

# sched_limit_contended: the limit holds against shares too: with four
# times the shares of its neighbour on pCPU 1 (80% by shares) a VM limited
# to 30% gets 30%, by the guests' loop counts and by the accounting.
sched_limit_contended() {
	local iso=$EMU_DIR/sched.iso text cl cf used elapsed
	sched_iso "$iso" \
		"name=limited kernel=$SCHED_SPIN mem=16M limit=30 shares=4000 affinity=1 cmdline=\"$SCHED_SPIN_CMDLINE\"" \
		"name=free kernel=$SCHED_SPIN mem=16M shares=1000 affinity=1 cmdline=\"$SCHED_SPIN_CMDLINE\"" || return
	sched_run 240 "$iso" || return
	text=$(emu_serial_text)
	sched_expect_pass "$text" limited free || return
	cl=$(sched_count "$text" limited) cf=$(sched_count "$text" free)
	used=$(sched_field "$text" limited used) elapsed=$(sched_field "$text" limited elapsed)
	[ -n "$cl" ] && [ -n "$cf" ] && [ -n "$used" ] && [ -n "$elapsed" ] || { emu_fail "counts or accounting lines missing"; return; }
	awk -v l="$cl" -v f="$cf" 'BEGIN { exit !(l / (l + f) <= 0.31 && l / (l + f) >= 0.27) }' ||
		{ emu_fail "loop counts $cl:$cf: the limited VM got not 27..31% (limit 30%)"; return; }
	awk -v u="$used" -v e="$elapsed" 'BEGIN { exit !(u / e <= 0.31) }' ||
		{ emu_fail "used $used of $elapsed ticks: above 31% (limit 30%)"; return; }
	emu_pass
}

# sched_reservation: a VM reserving 60% against one with four times its
# shares (which alone would give it 20%) on pCPU 1: it gets at least 60%.
sched_reservation() {
	local iso=$EMU_DIR/sched.iso text cr cs ur us
	sched_iso "$iso" \
		"name=reserved kernel=$SCHED_SPIN mem=16M reservation=60 shares=1000 affinity=1 cmdline=\"$SCHED_SPIN_CMDLINE\"" \
		"name=heavy kernel=$SCHED_SPIN mem=16M shares=4000 affinity=1 cmdline=\"$SCHED_SPIN_CMDLINE\"" || return
	sched_run 240 "$iso" || return
	text=$(emu_serial_text)
	sched_expect_pass "$text" reserved heavy || return
	cr=$(sched_count "$text" reserved) cs=$(sched_count "$text" heavy)
	ur=$(sched_field "$text" reserved used) us=$(sched_field "$text" heavy used)
	[ -n "$cr" ] && [ -n "$cs" ] && [ -n "$ur" ] && [ -n "$us" ] || { emu_fail "counts or accounting lines missing"; return; }
	awk -v r="$cr" -v s="$cs" 'BEGIN { exit !(r / (r + s) >= 0.59 && r / (r + s) <= 0.66) }' ||
		{ emu_fail "loop counts $cr:$cs: the reserved VM got not 59..66%"; return; }
	awk -v r="$ur" -v s="$us" 'BEGIN { exit !(r / (r + s) >= 0.59) }' ||
		{ emu_fail "used ticks $ur:$us: the reserved VM got less than 59%"; return; }
	emu_pass
}

# sched_smp_many <vcpus>: a guest with more vCPUs than the 2 pCPUs brings
# them all online and finishes its shared count.
sched_smp_many() {
	local n=$1 iso=$EMU_DIR/sched.iso text
	sched_iso "$iso" "name=many kernel=$BUILD/guests/smp_many.elf mem=16M cpus=$n cmdline=\"cpus=$n\"" || return
	sched_run 240 "$iso" || return
	text=$(emu_serial_text)
	sched_expect_pass "$text" many || return
	grep -q "^vm many: smp_many: $n CPUs online" <<<"$text" || { emu_fail "not all $n vCPUs came online"; return; }
	emu_pass
}

# sched_migrate [bochs model]: three CPU-bound VMs on two pCPUs, one short:
# when it ends, its pCPU idles while the other has one waiting, which must
# move over (VMX: VMCLEAR there, VMPTRLD here; SVM: ASID flush) and finish.
sched_migrate() {
	local model=${1:-} iso=$EMU_DIR/sched.iso text total=0 vm m
	sched_iso "$iso" \
		"name=long_a kernel=$SCHED_SPIN mem=16M cmdline=\"warm=100 window=1500 cool=100\"" \
		"name=short kernel=$SCHED_SPIN mem=16M cmdline=\"warm=100 window=200 cool=100\"" \
		"name=long_b kernel=$SCHED_SPIN mem=16M cmdline=\"warm=100 window=1500 cool=100\"" || return
	if [ -n "$model" ]; then
		emu_bochs 900 "$GUEST_SUMMARY_RE" "$iso" "$model" 2
		[ "$EMU_END_SEEN" = 1 ] || { emu_fail "$(emu_missing_reason "guests: N passed, M failed")"; return; }
	else
		sched_run 240 "$iso" wall || return
	fi
	text=$(emu_serial_text)
	sched_expect_pass "$text" long_a short long_b || return
	for vm in long_a short long_b; do
		m=$(sched_field "$text" "$vm" migrations)
		total=$((total + ${m:-0}))
	done
	[ "$total" -ge 1 ] || { emu_fail "no vCPU migrated"; return; }
	emu_pass
}

# sched_wakeup: a vCPU that wakes every millisecond from HLT beside a
# CPU-bound VM on the same pCPU runs within 1 ms of each timer deadline
# (the slice is 10 ms: waking preempts the CPU hog).
sched_wakeup() {
	local iso=$EMU_DIR/sched.iso text wakeups max
	sched_iso "$iso" \
		"name=ticker kernel=$SCHED_SPIN mem=16M affinity=1 cmdline=\"tick_us=1000 ticks=500\"" \
		"name=hog kernel=$SCHED_SPIN mem=16M affinity=1 cmdline=\"warm=0 window=1000 cool=0\"" || return
	sched_run 240 "$iso" || return
	text=$(emu_serial_text)
	sched_expect_pass "$text" ticker hog || return
	wakeups=$(sched_field "$text" ticker wakeups)
	max=$(grep -m1 -E "^vm ticker: cpu used=" <<<"$text" | sed -nE 's/.* max=([0-9]+) ticks.*/\1/p')
	[ -n "$wakeups" ] && [ -n "$max" ] || { emu_fail "accounting lines missing"; return; }
	[ "$wakeups" -ge 500 ] || { emu_fail "$wakeups wake-ups, want at least 500"; return; }
	[ "$max" -lt 1000000 ] || { emu_fail "a wake-up waited $max ticks (1 tick = 1 ns here), want < 1 ms"; return; }
	emu_pass
}

emu_test sched-shares-1to1 main sched_shares 1000 1000
emu_test sched-shares-2to1 main sched_shares 2000 1000
emu_test sched-shares-4to1 main sched_shares 4000 1000
emu_test sched-limit main sched_limit
emu_test sched-limit-contended main sched_limit_contended
emu_test sched-reservation main sched_reservation
emu_test sched-wakeup-latency main sched_wakeup
emu_test sched-8vcpus-on-2cpus main sched_smp_many 8
emu_test sched-migrate-svm main sched_migrate
emu_test sched-migrate-vmx-bochs long sched_migrate corei7_skylake_x
emu_test sched-shares-2to1-vmx-bochs long sched_shares 2000 1000 corei7_skylake_x

# --- Physical storage drivers (drivers/): three disks on three controllers,
# each a raw image with a GPT made here and a random text at the start of
# its one partition; blockdev.selftest=1 reads the text back through the
# driver and writes a sector, which this test then finds in the image.

VMFS_TYPE_GUID=AA31E02A-400F-11DB-9590-000C2911D1B8

# blockdev_disks <machine> <disk-kind:name...>: kinds virtio, ahci, nvme,
# nvme4k (4096-byte logical blocks), ro-virtio (read-only: the selftest's
# write must fail with -EROFS and leave the image alone), bad-virtio (a
# GPT with a corrupted header: logged, ignored, no panic) and eio-virtio,
# eio-ahci, eio-nvme (every read fails in QEMU's blkdebug layer: the driver
# reports -EIO, the disk keeps no partitions, the boot goes on).
blockdev_disks() {
	local machine=$1 spec kind name image file token text found size first mkgpt args=() checks=() n=0
	shift
	for spec in "$@"; do
		kind=${spec%%:*}
		name=${spec#*:}
		image=$EMU_DIR/disk$n.img
		token="kapsel-pattern-$kind-$RANDOM$RANDOM"
		size=512
		mkgpt=()
		case $kind in
		bad-virtio) mkgpt=(--corrupt-header) ;;
		nvme4k) size=4096 ;;
		esac
		python3 test/emu/mkgpt.py "${mkgpt[@]}" --sector-size "$size" "$image" 16 "$VMFS_TYPE_GUID" "disk$n" "$token" ||
			{ emu_fail "mkgpt.py failed"; return; }
		file=$image
		if [[ $kind == eio-* ]]; then
			printf '[inject-error]\nevent = "read_aio"\nerrno = "5"\n' >"$EMU_DIR/blkdebug.cfg"
			file="blkdebug:$EMU_DIR/blkdebug.cfg:$image"
		fi
		case $kind in
		virtio | bad-virtio | eio-virtio) args+=(-drive "file=$file,format=raw,if=virtio") ;;
		ro-virtio) args+=(-drive "file=$file,format=raw,if=virtio,readonly=on") ;;
		ahci | eio-ahci) args+=(-drive "file=$file,format=raw,if=none,id=disk$n" -device "ide-hd,drive=disk$n,bus=ide.$n") ;;
		nvme | eio-nvme) args+=(-drive "file=$file,format=raw,if=none,id=disk$n" -device "nvme,drive=disk$n,serial=kapsel$n") ;;
		nvme4k) args+=(-drive "file=$file,format=raw,if=none,id=disk$n"
			-device "nvme,drive=disk$n,serial=kapsel$n,logical_block_size=4096,physical_block_size=4096") ;;
		esac
		checks+=("$kind:$name:$image:$token:$size")
		n=$((n + 1))
	done
	emu_qemu 60 "$READY_RE" -machine "$machine" -smp 1 -m 512M \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$KERNEL_ELF" -append "poweroff blockdev.selftest=1" "${args[@]}"
	emu_check_ready "boot=bios" || return
	text=$(emu_serial_text)
	grep -q "^blockdev: selftest done" <<<"$text" || { emu_fail "no 'blockdev: selftest done' line"; return; }
	for spec in "${checks[@]}"; do
		IFS=: read -r kind name image token size <<<"$spec"
		first=$((1048576 / size))
		grep -Eq "^blockdev: $name: [0-9]+ sectors of $size bytes" <<<"$text" ||
			{ emu_fail "$kind disk $name not registered with $size-byte sectors"; return; }
		# The controller's name: nvme0 for nvme0n1, the disk's for virtio.
		case $kind in
		nvme* | *virtio)
			grep -q "^${name%n[0-9]*}: first I/O interrupt" <<<"$text" ||
				{ emu_fail "${name%n[0-9]*}: no I/O completed by interrupt (MSI-X)"; return; }
			;;
		ahci)
			grep -q "^ahci-hba[0-9]*: first I/O interrupt" <<<"$text" ||
				{ emu_fail "AHCI: no I/O completed by interrupt (MSI)"; return; }
			;;
		esac
		if [[ $kind == eio-* ]]; then
			grep -q "^blockdev: $name: cannot read the MBR (error -5)" <<<"$text" ||
				{ emu_fail "$name: the failing reads were not reported as -EIO"; return; }
			! grep -q "^blockdev: ${name}p1:" <<<"$text" ||
				{ emu_fail "a partition of the unreadable $name was registered"; return; }
			continue
		fi
		if [ "$kind" = bad-virtio ]; then
			grep -q "^blockdev: $name: GPT ignored: header CRC32 mismatch" <<<"$text" ||
				{ emu_fail "corrupted GPT on $name not reported"; return; }
			! grep -q "^blockdev: ${name}p1:" <<<"$text" ||
				{ emu_fail "a partition of the corrupted GPT on $name was registered"; return; }
			continue
		fi
		grep -Eq "^blockdev: ${name}p1: sectors $first-[0-9]+ of $name, [0-9]+ MiB, type $VMFS_TYPE_GUID, name 'disk[0-9]'" <<<"$text" ||
			{ emu_fail "partition ${name}p1 not listed with its range, size and type"; return; }
		grep -q "^blockdev: selftest ${name}p1 read '$token'" <<<"$text" ||
			{ emu_fail "${name}p1: the pattern $token was not read back"; return; }
		found=$(dd if="$image" bs=1 skip=$(((first + 1) * size)) count=64 status=none | tr -d '\0')
		if [ "$kind" = ro-virtio ]; then
			grep -q "^blockdev: selftest ${name}p1 FAIL write/flush/read error -30" <<<"$text" ||
				{ emu_fail "${name}p1: a write to the read-only disk did not fail with -EROFS"; return; }
			[ -z "$found" ] || { emu_fail "${name}p1: the read-only image was written: '$found'"; return; }
			continue
		fi
		grep -q "^blockdev: selftest ${name}p1 write ok" <<<"$text" ||
			{ emu_fail "${name}p1: write/flush/read-back failed"; return; }
		[ "$found" = "written by kapsel ${name}p1" ] ||
			{ emu_fail "${name}p1: the image holds '$found' where the vmkernel wrote"; return; }
	done
	emu_pass
}

emu_test blockdev-virtio-pc main blockdev_disks pc virtio:vblk0 bad-virtio:vblk1 ro-virtio:vblk2
emu_test blockdev-q35 main blockdev_disks q35 virtio:vblk0 ahci:ahci0 nvme:nvme0n1 nvme4k:nvme1n1
emu_test blockdev-io-errors main blockdev_disks q35 eio-virtio:vblk0 eio-ahci:ahci0 eio-nvme:nvme0n1 virtio:vblk1
