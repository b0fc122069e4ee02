/*
 * The CPU scheduler's mechanism: every vCPU is a task on the run queue of
 * one pCPU; sched_policy.h decides who runs and for how long. Each pCPU
 * runs its queue in sched_run_once() (its idle loop), preempting with its
 * LAPIC timer at the end of a slice. A halted vCPU is on no run queue: it
 * sits on its pCPU's sleeper list, costs nothing, and is looked at again
 * when its guest timer is due or a kick arrives. A pCPU with waiting tasks
 * pushes one to an idle pCPU its affinity allows (the task's backend state
 * is unloaded first), so tasks migrate; blocked tasks never do.
 *
 * The scheduler knows nothing of VMs: the vm layer registers a client that
 * runs, polls and unloads its tasks.
 */
#ifndef KAPSEL_SCHED_SCHED_H
#define KAPSEL_SCHED_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include <arch/x86/percpu.h>
#include <sched/sched_policy.h>

/* pCPUs a task may run on; all zero means every pCPU. */
struct sched_affinity {
	uint64_t bits[MAX_CPUS / 64];
};

struct sched_task {
	struct sched_entity entity;     /* [s] the policy's view */
	struct sched_affinity affinity; /* (o) */
	volatile uint32_t cpu;          /* [s] whose queue or sleeper list holds it */
	volatile uint64_t kicked_at;    /* TSC of the last kick, 0 when none pending */
	bool loaded;                    /* [s] ran or was polled on `cpu`: only it may move it */
	struct sched_task *next_sleeper; /* the pCPU's own */
};

struct sched_client {
	/* Runs the task on this pCPU until the TSC reaches `until`, it blocks
	 * or dies, or sched_resched_pending(). Returns SCHED_READY, SCHED_BLOCKED
	 * or SCHED_DEAD. Interrupts disabled, no lock held. */
	uint32_t (*run)(struct sched_task *task, uint64_t until);
	/* A blocked task on this pCPU: SCHED_READY with *moment set to when
	 * its reason to wake arose, SCHED_BLOCKED, or SCHED_DEAD. */
	uint32_t (*poll)(struct sched_task *task, uint64_t now, uint64_t *moment);
	/* TSC at which a blocked task's timer fires, 0: none. */
	uint64_t (*next_deadline)(struct sched_task *task);
	/* The task leaves this pCPU, where it last ran: save what of it is in
	 * this pCPU's registers so that another pCPU can run it. */
	void (*unload)(struct sched_task *task);
};

/* Once, before any task starts. */
void sched_init(const struct sched_client *client);
/* affinity may be NULL (every pCPU). */
void sched_task_init(struct sched_task *task, struct sched_group *group,
		     const struct sched_affinity *affinity);
/* Puts a task on the least loaded pCPU its affinity allows: on the run
 * queue when runnable, else among the sleepers (woken by kicks). */
void sched_task_start(struct sched_task *task, bool runnable);
/* Something for the task arrived (an interrupt, a SIPI, its VM stopping):
 * its pCPU looks at it soon. Any CPU, any context. */
void sched_kick(struct sched_task *task);
/* True once the task died (its client returned SCHED_DEAD) and its pCPU
 * is done with it: it may then be initialised and started again. */
bool sched_task_dead(const struct sched_task *task);
/* For the client's run loop: return to the scheduler at the next exit. */
bool sched_resched_pending(void);
/* One scheduling pass on this pCPU: runs a task for up to a slice, or
 * sleeps until something may run. Called in a loop, interrupts enabled. */
void sched_run_once(void);
bool sched_affinity_allows(const struct sched_affinity *affinity, uint32_t cpu);
/* A consistent copy of a group's accounting, the current states' time included. */
void sched_group_account(const struct sched_group *group, const struct sched_task *const *tasks,
			 uint32_t task_count, struct sched_account *out);
/* The slice length in TSC ticks. */
uint64_t sched_slice_ticks(void);

#endif
