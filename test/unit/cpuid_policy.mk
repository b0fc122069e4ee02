# The virtual CPUID policy (test/unit/test_cpuid_policy.c).
UNIT_TESTS += cpuid_policy
unit_cpuid_policy_SOURCES := test/unit/test_cpuid_policy.c vmkernel/vm/cpuid_policy.c
