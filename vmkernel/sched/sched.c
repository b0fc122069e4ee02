#include <sched/sched.h>

#include <arch/x86/cpu.h>
#include <arch/x86/interrupt.h>
#include <arch/x86/lapic.h>
#include <arch/x86/percpu.h>
#include <core/smp.h>
#include <lib/spinlock.h>

#define SLICE_MICROSECONDS 10000
#define BURST_SLICES 2
/* A pCPU with nothing to run still looks at its sleepers this often. */
#define IDLE_POLL_MICROSECONDS 100000

struct sched_cpu {
	struct sched_queue queue;      /* [s] */
	bool idle;                     /* [s] nothing to run: others may push here */
	volatile bool resched;         /* a kick or push arrived: look again */
	struct sched_task *incoming;   /* [s] started blocked, for this pCPU's sleepers */
	struct sched_task *sleepers;   /* touched by this pCPU only */
	uint32_t sleeper_count;        /* this pCPU only */
	uint64_t sleepers_deadline;    /* earliest sleeper timer, 0: none; this pCPU only */
};

/*
 * One lock for every queue and group: groups (VMs) span pCPUs, and a host
 * of this size switches a few hundred times a second, so it is not worth
 * finer locks yet. Taken with interrupts disabled; never held while a
 * guest runs or while the client polls.
 */
static struct spinlock sched_lock = SPINLOCK_INIT;
static struct sched_cpu sched_cpus[MAX_CPUS];
static struct sched_config config;
static const struct sched_client *client;

static void kick_interrupt(struct interrupt_frame *frame)
{
	(void)frame; /* the interrupt itself did the work: hlt or the guest was left */
}

void sched_init(const struct sched_client *c)
{
	uint64_t ticks_per_us = tsc_hz() / 1000000;
	client = c;
	config.slice = SLICE_MICROSECONDS * (ticks_per_us ? ticks_per_us : 1);
	config.burst = BURST_SLICES * config.slice;
	interrupt_register(VECTOR_KICK, kick_interrupt);
}

uint64_t sched_slice_ticks(void)
{
	return config.slice;
}

bool sched_affinity_allows(const struct sched_affinity *affinity, uint32_t cpu)
{
	bool any = false;
	for (uint32_t i = 0; i < MAX_CPUS / 64; i++)
		any |= affinity->bits[i] != 0;
	if (!any)
		return true;
	return cpu < MAX_CPUS && (affinity->bits[cpu / 64] >> (cpu % 64)) & 1;
}

void sched_task_init(struct sched_task *task, struct sched_group *group,
		     const struct sched_affinity *affinity)
{
	*task = (struct sched_task){ 0 };
	sched_entity_init(&task->entity, group, rdtsc());
	if (affinity)
		task->affinity = *affinity;
}

static void send_kick(uint32_t cpu)
{
	__atomic_store_n(&sched_cpus[cpu].resched, true, __ATOMIC_RELEASE);
	if (cpu == cpu_index())
		return;
	struct percpu *target = smp_cpu(cpu);
	if (target)
		lapic_send_ipi(target->apic_id, VECTOR_KICK);
}

/* The allowed pCPU with the fewest tasks placed so far: consecutive tasks
 * (an SMP VM's vCPUs) land on different pCPUs while there are enough. A
 * task whose affinity names only offline pCPUs goes to pCPU 0. Tasks placed
 * on the BSP while it still starts the boot-time VMs wait for it, unless an
 * idle pCPU takes them first (ask_for_work). */
static uint32_t least_loaded_cpu(const struct sched_task *task, const uint32_t *load)
{
	uint32_t best = 0, best_load = UINT32_MAX;

	for (uint32_t cpu = 0; cpu < smp_cpu_count(); cpu++) {
		if (!sched_affinity_allows(&task->affinity, cpu))
			continue;
		if (load[cpu] < best_load) {
			best = cpu;
			best_load = load[cpu];
		}
	}
	return best;
}

/* Tasks placed on each pCPU so far: start-time balance, before any run. */
static uint32_t placed[MAX_CPUS]; /* [s] */

void sched_task_start(struct sched_task *task, bool runnable)
{
	uint64_t flags = spin_lock_irqsave(&sched_lock);
	uint32_t cpu = least_loaded_cpu(task, placed);
	struct sched_cpu *target = &sched_cpus[cpu];
	uint64_t now = rdtsc();

	placed[cpu]++;
	task->cpu = cpu;
	if (runnable) {
		/* Not counted as a wake-up: a start's wait is ready time only. */
		sched_entity_set_state(&task->entity, SCHED_READY, now);
		sched_queue_add(&config, &target->queue, &task->entity, true);
		target->idle = false;
	} else {
		/* Sleeper lists belong to their pCPU: it takes this one in. */
		task->next_sleeper = target->incoming;
		target->incoming = task;
	}
	spin_unlock_irqrestore(&sched_lock, flags);
	send_kick(cpu);
}

void sched_kick(struct sched_task *task)
{
	uint64_t now = rdtsc();
	/* The first kick since the last look is the moment latency counts from. */
	uint64_t none = 0;
	__atomic_compare_exchange_n(&task->kicked_at, &none, now ? now : 1, false, __ATOMIC_RELEASE,
				    __ATOMIC_RELAXED);
	send_kick(__atomic_load_n(&task->cpu, __ATOMIC_ACQUIRE));
}

bool sched_task_dead(const struct sched_task *task)
{
	uint64_t flags = spin_lock_irqsave(&sched_lock);
	bool dead = task->entity.state == SCHED_DEAD;
	spin_unlock_irqrestore(&sched_lock, flags);
	return dead;
}

bool sched_resched_pending(void)
{
	return __atomic_load_n(&sched_cpus[cpu_index()].resched, __ATOMIC_ACQUIRE);
}

/* Looks at every sleeper of this pCPU: wakes the due ones onto the run
 * queue, drops the dead ones, and notes the earliest timer of the rest. */
static void poll_sleepers(struct sched_cpu *me)
{
	uint64_t flags = spin_lock_irqsave(&sched_lock);
	while (me->incoming) {
		struct sched_task *t = me->incoming;
		me->incoming = t->next_sleeper;
		t->next_sleeper = me->sleepers;
		me->sleepers = t;
		me->sleeper_count++;
	}
	spin_unlock_irqrestore(&sched_lock, flags);

	uint64_t earliest = 0;
	for (struct sched_task **link = &me->sleepers; *link;) {
		struct sched_task *t = *link;
		uint64_t now = rdtsc(), moment = now;
		uint64_t kicked = __atomic_exchange_n(&t->kicked_at, 0, __ATOMIC_ACQ_REL);
		uint32_t state = client->poll(t, now, &moment);
		if (state == SCHED_BLOCKED) {
			uint64_t deadline = client->next_deadline(t);
			if (deadline && (!earliest || deadline < earliest))
				earliest = deadline;
			link = &t->next_sleeper;
			continue;
		}
		*link = t->next_sleeper;
		t->next_sleeper = NULL;
		me->sleeper_count--;
		if (kicked && kicked < moment)
			moment = kicked;
		flags = spin_lock_irqsave(&sched_lock);
		t->loaded = true;
		if (state == SCHED_READY) {
			sched_entity_wake(&t->entity, moment, now);
			sched_queue_add(&config, &me->queue, &t->entity, true);
		} else {
			sched_entity_set_state(&t->entity, SCHED_DEAD, now);
		}
		spin_unlock_irqrestore(&sched_lock, flags);
	}
	me->sleepers_deadline = earliest;
}

/*
 * Balancing, by push: a pCPU with tasks waiting gives one to an idle pCPU
 * that the task's affinity allows. Only the pCPU a task last ran on can
 * unload it (VMCLEAR runs where the VMCS is active), hence push, not pull;
 * an idle pCPU asks for a push by kicking a busy one. [s] held.
 */
static void push_waiting(uint32_t self)
{
	struct sched_cpu *me = &sched_cpus[self];

	if (!me->queue.count)
		return;
	for (uint32_t cpu = 0; cpu < smp_cpu_count(); cpu++) {
		struct sched_cpu *other = &sched_cpus[cpu];
		if (cpu == self || !other->idle)
			continue;
		for (struct sched_entity *e = me->queue.head; e; e = e->next) {
			struct sched_task *t = (struct sched_task *)e; /* entity is the first member */
			/* One held by its limit would only idle over there too. */
			if (e->limited || !sched_affinity_allows(&t->affinity, cpu))
				continue;
			client->unload(t);
			t->loaded = false;
			sched_queue_move(&me->queue, &other->queue, e);
			__atomic_store_n(&t->cpu, cpu, __ATOMIC_RELEASE);
			e->group->account.migrations++;
			other->idle = false;
			send_kick(cpu);
			return;
		}
	}
}

/*
 * An idle pCPU takes a task that was never loaded anywhere (a new one, or
 * one pushed and not yet run) straight from another pCPU, which may be busy
 * for a while (the BSP starting VMs); for a loaded one it asks its pCPU to
 * push. Returns whether it took one. [s] held.
 */
static bool ask_for_work(uint32_t self)
{
	struct sched_cpu *me = &sched_cpus[self];
	int32_t busy = -1;

	for (uint32_t cpu = 0; cpu < smp_cpu_count(); cpu++) {
		struct sched_cpu *other = &sched_cpus[cpu];
		if (cpu == self)
			continue;
		for (struct sched_task **link = &other->incoming; *link; link = &(*link)->next_sleeper) {
			struct sched_task *t = *link;
			if (!sched_affinity_allows(&t->affinity, self))
				continue;
			*link = t->next_sleeper;
			t->next_sleeper = me->incoming;
			me->incoming = t;
			__atomic_store_n(&t->cpu, self, __ATOMIC_RELEASE);
			return true;
		}
		for (struct sched_entity *e = other->queue.head; e; e = e->next) {
			struct sched_task *t = (struct sched_task *)e;
			if (e->limited || !sched_affinity_allows(&t->affinity, self))
				continue;
			if (!t->loaded) {
				sched_queue_move(&other->queue, &me->queue, e);
				__atomic_store_n(&t->cpu, self, __ATOMIC_RELEASE);
				e->group->account.migrations++;
				return true;
			}
			busy = (int32_t)cpu;
		}
	}
	if (busy >= 0)
		send_kick((uint32_t)busy);
	return false;
}

static uint64_t earlier(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

/* Sleeps until `wake` (TSC; 0: only a kick), at most IDLE_POLL_MICROSECONDS. */
static void idle_until(struct sched_cpu *me, uint64_t wake)
{
	uint64_t now = rdtsc(), ticks_per_us = tsc_hz() / 1000000;
	uint64_t us = IDLE_POLL_MICROSECONDS;

	if (!ticks_per_us)
		ticks_per_us = 1;
	if (wake) {
		uint64_t until = wake > now ? (wake - now) / ticks_per_us : 0;
		if (until < us)
			us = until ? until : 1;
	}
	lapic_timer_oneshot(us, VECTOR_TIMER);
	/* A kick that came after the last look is pending: hlt returns at once. */
	if (!__atomic_load_n(&me->resched, __ATOMIC_ACQUIRE))
		__asm__ volatile("sti; hlt; cli" : : : "memory");
}

void sched_run_once(void)
{
	uint32_t self = cpu_index();
	struct sched_cpu *me = &sched_cpus[self];
	uint64_t retry_at, flags;

	irq_disable();
	__atomic_store_n(&me->resched, false, __ATOMIC_RELEASE);
	poll_sleepers(me);

	flags = spin_lock_irqsave(&sched_lock);
	uint64_t now = rdtsc();
	struct sched_entity *picked = sched_pick(&config, &me->queue, now, &retry_at);
	if (!picked) {
		bool was_idle = me->idle;
		me->idle = true;
		/* Taken work runs at the next pass, which comes at once. */
		if (ask_for_work(self) || !was_idle) {
			spin_unlock_irqrestore(&sched_lock, flags);
			irq_enable();
			return;
		}
		spin_unlock_irqrestore(&sched_lock, flags);
		idle_until(me, earlier(me->sleepers_deadline, retry_at));
		irq_enable();
		return;
	}
	me->idle = false;
	push_waiting(self);
	uint64_t slice_end = now + sched_slice(&config, &me->queue, picked, now);
	spin_unlock_irqrestore(&sched_lock, flags);

	struct sched_task *task = (struct sched_task *)picked;
	uint32_t state;
	/* Kicks until now are taken care of by this run. */
	__atomic_store_n(&task->kicked_at, 0, __ATOMIC_RELEASE);
	for (;;) {
		uint64_t until = earlier(slice_end, me->sleepers_deadline);
		state = client->run(task, until);
		now = rdtsc();
		if (state != SCHED_READY || now >= slice_end)
			break;
		/* Back early: a sleeper's timer or a kick. Keep the pCPU unless
		 * what woke deserves it more. */
		__atomic_store_n(&me->resched, false, __ATOMIC_RELEASE);
		poll_sleepers(me);
		flags = spin_lock_irqsave(&sched_lock);
		bool preempt = sched_should_preempt(&config, &me->queue, picked, rdtsc());
		if (!preempt)
			push_waiting(self);
		spin_unlock_irqrestore(&sched_lock, flags);
		if (preempt)
			break;
	}
	flags = spin_lock_irqsave(&sched_lock);
	task->loaded = true;
	sched_charge(&config, &me->queue, picked, state, rdtsc());
	spin_unlock_irqrestore(&sched_lock, flags);
	if (state == SCHED_BLOCKED) {
		task->next_sleeper = me->sleepers;
		me->sleepers = task;
		me->sleeper_count++;
	}
	/* Let pending host interrupts (kicks, timers) in between slices. */
	__asm__ volatile("sti; nop; cli" : : : "memory");
	irq_enable();
}

void sched_group_account(const struct sched_group *group, const struct sched_task *const *tasks,
			 uint32_t task_count, struct sched_account *out)
{
	uint64_t flags = spin_lock_irqsave(&sched_lock);
	uint64_t now = rdtsc();

	*out = group->account;
	for (uint32_t i = 0; i < task_count; i++) {
		const struct sched_entity *e = &tasks[i]->entity;
		uint64_t in_state = now > e->state_since ? now - e->state_since : 0;
		if (e->state == SCHED_RUNNING)
			out->used += in_state;
		else if (e->state == SCHED_READY)
			out->ready += in_state;
		else if (e->state == SCHED_BLOCKED)
			out->blocked += in_state;
	}
	spin_unlock_irqrestore(&sched_lock, flags);
}
