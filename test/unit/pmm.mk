# Frame allocator against canned memory maps (test/unit/test_pmm.c).
UNIT_TESTS += pmm
unit_pmm_SOURCES := test/unit/test_pmm.c test/unit/host_support.c vmkernel/mm/pmm.c
