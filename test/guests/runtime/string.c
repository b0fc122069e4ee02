/* The few C library functions the compiler and the guests need, and a spin lock. */
#include "guest.h"

void *memset(void *destination, int value, size_t size)
{
	uint8_t *d = destination;
	while (size--)
		*d++ = (uint8_t)value;
	return destination;
}

void *memcpy(void *destination, const void *source, size_t size)
{
	uint8_t *d = destination;
	const uint8_t *s = source;
	while (size--)
		*d++ = *s++;
	return destination;
}

int memcmp(const void *a, const void *b, size_t size)
{
	const uint8_t *x = a, *y = b;
	for (; size; size--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strlen(const char *text)
{
	size_t length = 0;
	while (text[length])
		length++;
	return length;
}

/* Bounded: a guest that faults while holding the console lock must still be
 * able to print its FAIL line, so after this many spins the lock is taken. */
#define SPIN_LIMIT 50000000u

void spin_lock(struct spinlock *lock)
{
	for (uint32_t spins = 0; spins < SPIN_LIMIT; spins++) {
		if (!__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE))
			return;
		cpu_pause();
	}
}

void spin_unlock(struct spinlock *lock)
{
	__atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}

uint64_t guest_div64(uint64_t dividend, uint32_t divisor, uint32_t *remainder)
{
#ifdef __x86_64__
	if (remainder)
		*remainder = (uint32_t)(dividend % divisor);
	return dividend / divisor;
#else
	/* No libgcc for -m32 here: two 64/32 steps of DIV, the first remainder
	 * being the high half of the second dividend (so it cannot overflow). */
	uint32_t high = (uint32_t)(dividend >> 32), low = (uint32_t)dividend;
	uint32_t quotient_high = high / divisor, carry = high % divisor, quotient_low, rest;
	__asm__("divl %4" : "=a"(quotient_low), "=d"(rest) : "a"(low), "d"(carry), "rm"(divisor));
	if (remainder)
		*remainder = rest;
	return ((uint64_t)quotient_high << 32) | quotient_low;
#endif
}
