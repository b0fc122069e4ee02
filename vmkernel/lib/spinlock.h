/*
 * Test-and-test-and-set spinlock (no tickets: contention is rare here). The _irqsave variants also
 * disable interrupts on this CPU, for locks taken from interrupt handlers.
 */
#ifndef KAPSEL_LIB_SPINLOCK_H
#define KAPSEL_LIB_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct spinlock {
	volatile uint32_t locked;
};

#define SPINLOCK_INIT { 0 }

static inline bool spin_trylock(struct spinlock *lock)
{
	return __atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE) == 0;
}

static inline void spin_lock(struct spinlock *lock)
{
	while (!spin_trylock(lock))
		while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static inline void spin_unlock(struct spinlock *lock)
{
	__atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}

#ifdef KAPSEL_HOST_TEST
/* Host unit tests run in user space, where cli/sti fault. */
static inline uint64_t spin_lock_irqsave(struct spinlock *lock)
{
	spin_lock(lock);
	return 0;
}

static inline void spin_unlock_irqrestore(struct spinlock *lock, uint64_t flags)
{
	(void)flags;
	spin_unlock(lock);
}
#else
static inline uint64_t spin_lock_irqsave(struct spinlock *lock)
{
	uint64_t flags;

	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
	spin_lock(lock);
	return flags;
}

static inline void spin_unlock_irqrestore(struct spinlock *lock, uint64_t flags)
{
	spin_unlock(lock);
	if (flags & (1u << 9)) /* IF was set */
		__asm__ volatile("sti" : : : "memory");
}
#endif

#endif
