/*
 * The scheduling policy, pure C on a caller-supplied clock (TSC ticks), so
 * the host unit tests drive it with a simulated one. The mechanism
 * (sched.c) owns locking, CPUs and timers; everything here is arithmetic on
 * the structures below, called with the scheduler lock held.
 *
 * Entities (vCPUs) belong to groups (VMs). A group has ESX's three knobs:
 * - shares: proportional weight under contention. A group's shares are
 *   split evenly over its entities; each entity's virtual time advances by
 *   its used time divided by its weight, and a run queue runs the entity
 *   with the least virtual time (start-time fair queueing).
 * - reservation: a guaranteed minimum, in percent of one pCPU (a 2-vCPU VM
 *   may reserve up to 200). Tokens accrue at that rate; while a group holds
 *   tokens its entities go before every unreserved one, and an unreserved
 *   entity's slice ends when a queued reserved one would get tokens again.
 * - limit: a maximum, in percent of one pCPU, enforced even when CPUs idle.
 *   Tokens accrue at that rate up to one burst; a group without tokens is
 *   not picked, and a slice never outruns the tokens it started with.
 * Percent of a pCPU rather than ESX's MHz: the TSC rate under emulation
 * says nothing about the work a CPU does, a share of a CPU always does.
 */
#ifndef KAPSEL_SCHED_SCHED_POLICY_H
#define KAPSEL_SCHED_SCHED_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_SHARES_DEFAULT 1000u /* per entity */
#define SCHED_SHARES_MAX 1000000u
/* Reservation and limit are in percent of one pCPU; 0 means none. */
#define SCHED_PERCENT_MAX 1600u
/* Virtual time advances by used * SCHED_WEIGHT_UNIT / weight. */
#define SCHED_WEIGHT_UNIT 1024u

enum sched_entity_state {
	SCHED_BLOCKED, /* halted or waiting for SIPI: on no run queue, costs nothing */
	SCHED_READY,   /* on a run queue, waiting for its pCPU */
	SCHED_RUNNING,
	SCHED_DEAD,    /* its VM ended */
};

/* Per-VM CPU accounting in TSC ticks, for the exit statistics and the
 * management API. [s] scheduler lock. */
struct sched_account {
	uint64_t used;          /* running guest code (and its exits) */
	uint64_t ready;         /* runnable but waiting for a pCPU (limited included) */
	uint64_t limited;       /* of ready: held back by the limit */
	uint64_t blocked;       /* halted or waiting for SIPI */
	uint64_t wakeups;       /* blocked -> ready */
	uint64_t wake_latency;  /* sum over wakeups: wake moment -> first run */
	uint64_t wake_latency_max;
	uint64_t dispatches;    /* slices started */
	uint64_t migrations;    /* moved between pCPUs */
};

struct sched_group {
	uint32_t shares;          /* (o) 1 .. SCHED_SHARES_MAX */
	uint32_t reservation_pct; /* (o) 0 = none */
	uint32_t limit_pct;       /* (o) 0 = none */
	uint32_t entity_count;    /* (o) its shares are split over this many */
	int64_t limit_tokens;     /* [s] ticks it may still run */
	int64_t reserve_tokens;   /* [s] ticks it is still owed */
	uint64_t refilled_at;     /* [s] */
	struct sched_account account; /* [s] */
};

struct sched_entity {
	struct sched_group *group;  /* (o) */
	uint64_t weight;            /* (o) from the group's shares */
	uint64_t vruntime;          /* [s] weighted ticks, relative to its queue */
	uint32_t state;             /* [s] enum sched_entity_state */
	uint64_t state_since;       /* [s] when it entered state */
	uint64_t woken_at;          /* [s] wake moment, while wake_pending */
	uint64_t limited_since;     /* [s] held back by the limit since, while limited */
	bool wake_pending;          /* [s] woken, not yet run */
	bool limited;               /* [s] */
	struct sched_entity *next;  /* [s] run-queue link */
};

struct sched_queue {
	struct sched_entity *head;  /* [s] READY entities, unordered (few per pCPU) */
	uint32_t count;             /* [s] */
	uint64_t min_vruntime;      /* [s] never decreases */
	struct sched_entity *running; /* [s] */
};

struct sched_config {
	uint64_t slice;  /* ticks: the longest an entity runs before others are considered */
	uint64_t burst;  /* ticks: how far limit and reservation tokens may bank */
};

/* Fills a group; shares 0 means the default for each entity (ESX's normal). */
void sched_group_init(struct sched_group *group, uint32_t shares, uint32_t reservation_pct,
		      uint32_t limit_pct, uint32_t entity_count, uint64_t now);
void sched_entity_init(struct sched_entity *entity, struct sched_group *group, uint64_t now);
/* Accrues the group's tokens up to now. */
void sched_group_refill(const struct sched_config *config, struct sched_group *group, uint64_t now);

/* State changes, with their time added to the group's accounting. */
void sched_entity_set_state(struct sched_entity *entity, uint32_t state, uint64_t now);
/* BLOCKED -> READY; `moment` (<= now) is when the reason to wake arose (a
 * timer's deadline), from which the wake-up latency is counted. The caller
 * then adds it to a queue with woken = true. */
void sched_entity_wake(struct sched_entity *entity, uint64_t moment, uint64_t now);

/* Puts a READY (new, woken, preempted or migrated) entity on a queue. A
 * woken or new entity starts no earlier than one slice of credit behind the
 * queue's minimum: it runs soon, but cannot bank its sleep into a burst
 * that starves the others. */
void sched_queue_add(const struct sched_config *config, struct sched_queue *queue,
		     struct sched_entity *entity, bool woken);
void sched_queue_remove(struct sched_queue *queue, struct sched_entity *entity);
/* Takes an entity from one queue to another, keeping its relative place. */
void sched_queue_move(struct sched_queue *from, struct sched_queue *to, struct sched_entity *entity);

/* The entity to run next (removed from the queue, state RUNNING), or NULL.
 * When NULL while entities wait, *retry_at is when a limited group gets
 * tokens again (else 0). */
struct sched_entity *sched_pick(const struct sched_config *config, struct sched_queue *queue,
				uint64_t now, uint64_t *retry_at);
/* How long the picked entity may run from now: the slice, cut by its
 * group's limit tokens, and for an unreserved entity by the moment a
 * queued reserved group is owed time again. At least 1. */
uint64_t sched_slice(const struct sched_config *config, const struct sched_queue *queue,
		     const struct sched_entity *entity, uint64_t now);
/* Ends the running entity's run: charges the time since it was picked
 * (virtual time, tokens, accounting) and makes it `state` (READY puts it
 * back on the queue). */
void sched_charge(const struct sched_config *config, struct sched_queue *queue,
		  struct sched_entity *entity, uint32_t state, uint64_t now);
/* Whether a READY entity on the queue should take the pCPU from the
 * running one now rather than at the end of its slice. */
bool sched_should_preempt(const struct sched_config *config, const struct sched_queue *queue,
			  const struct sched_entity *running, uint64_t now);

#endif
