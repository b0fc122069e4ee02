# The 16550 UART model (vmkernel/vdev/uart16550.c): log lines, the
# transmitter-empty interrupt, @time stamps, the VM's log and serial0 file
# rings (vmkernel/vm/vm_log.c) (test/unit/test_uart.c).
UNIT_TESTS += uart
unit_uart_SOURCES := test/unit/test_uart.c vmkernel/vdev/uart16550.c vmkernel/vm/vm_log.c
