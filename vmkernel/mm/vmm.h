/*
 * The vmkernel's address space. Layout (all kernel-only, top half):
 *   0xffff800000000000  physmap: all physical memory the map reports, WB
 *   0xffffc00000000000  MMIO window: device registers, UC or WC
 *   0xffffffff80200000  the vmkernel image (text RX, rodata R, data RW NX)
 * Nothing is identity-mapped once vmm_init() has switched page tables,
 * so a stray low pointer faults instead of corrupting memory.
 */
#ifndef KAPSEL_MM_VMM_H
#define KAPSEL_MM_VMM_H

#include <stdbool.h>
#include <stdint.h>

#include <arch/x86/pt.h>
#include <boot_info.h>

#define PHYSMAP_BASE 0xffff800000000000ul
#define MMIO_WINDOW_BASE 0xffffc00000000000ul
#define MMIO_WINDOW_SIZE (64ul << 30)

/* Before vmm_init: identity (boot page tables); after: the physmap. */
void *phys_to_virt(uint64_t phys);
uint64_t virt_to_phys(const void *virt);

/* Builds and loads the vmkernel's page tables. */
int vmm_init(const struct boot_info *boot);
/* Per-CPU part (PAT, CR4.PGE, CR0.WP, EFER.NXE) and CR3 load for APs. */
void vmm_install_on_cpu(void);
uint64_t vmm_kernel_root(void);
/* Maps device registers; returns the virtual address or NULL. */
void *vmm_map_mmio(uint64_t phys, uint64_t size, uint32_t prot);
/* Maps/unmaps an identity range (for the AP trampoline only). */
int vmm_map_identity(uint64_t phys, uint64_t size, uint32_t prot);
int vmm_unmap_identity(uint64_t phys, uint64_t size);
/* Allocates a zeroed frame and returns its physical address (0: none). */
uint64_t vmm_alloc_zeroed_frame(void);

#endif
