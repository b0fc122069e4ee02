# PCI bus: configuration space, BARs, MSI/MSI-X, INTx (test/unit/test_pci.c).
UNIT_TESTS += pci
unit_pci_SOURCES := test/unit/test_pci.c test/unit/host_support.c vmkernel/vdev/pci.c
