/*
 * Emulation of the read-modify-write forms and the rest beyond moves and
 * ALU operations: CMPXCHG, XADD, INC DEC NOT NEG, shifts and rotates, BT
 * BTS BTR BTC, CMOVcc, SETcc, PUSH/POP of memory, CMPS and SCAS, against
 * the fake device, with results and flags compared with this host's
 * processor (test/fuzz/host_alu.h).
 */
#include "unit.h"

#include <lib/errno.h>

#include "../fuzz/host_alu.h"
#include "test_insn.h"
