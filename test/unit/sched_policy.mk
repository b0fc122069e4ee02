# The scheduling policy against a simulated clock (test/unit/test_sched_policy.c).
UNIT_TESTS += sched_policy
unit_sched_policy_SOURCES := test/unit/test_sched_policy.c vmkernel/sched/sched_policy.c
