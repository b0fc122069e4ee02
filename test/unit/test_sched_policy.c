/*
 * The scheduling policy (vmkernel/sched/sched_policy.c) on one simulated
 * pCPU: a clock in nanosecond ticks, entities that are CPU-bound or run in
 * bursts and sleep, and the mechanism's loop reduced to its decisions (pick,
 * slice, wake at a timer, preempt, charge). Shares must give proportions
 * within 5%, a limit is never exceeded in any window, a reservation holds
 * under contention, and waking or joining entities neither starve the
 * others nor wait long.
 */
#include "unit.h"

#include <stddef.h>

#include <sched/sched_policy.h>

#define MS 1000000ull
#define SECOND (1000 * MS)

static const struct sched_config config = { .slice = 10 * MS, .burst = 20 * MS };

struct sim_entity {
	struct sched_group group;
	struct sched_entity entity;
	uint64_t run_burst;    /* 0: CPU-bound; else runs this long, then sleeps */
	uint64_t sleep;        /* how long it sleeps between bursts */
	uint64_t burst_left;
	uint64_t wake_at;      /* while blocked */
	uint64_t start_at;     /* joins the queue then */
	uint64_t used_in_window, window_start;
	/* The most it ever used within any window of window_length. */
	uint64_t window_length, window_max;
	uint64_t run_starts[4096], run_ends[4096];
	unsigned runs;
};

struct sim {
	struct sched_queue queue;
	struct sim_entity *e;
	unsigned count;
	uint64_t now;
	uint64_t switches;
};

static void sim_init(struct sim *sim, struct sim_entity *entities, unsigned count)
{
	memset(&sim->queue, 0, sizeof(sim->queue));
	sim->e = entities;
	sim->count = count;
	sim->now = 0;
	sim->switches = 0;
	for (unsigned i = 0; i < count; i++) {
		struct sim_entity *s = &entities[i];
		sched_entity_init(&s->entity, &s->group, 0);
		s->burst_left = s->run_burst;
		s->wake_at = s->start_at;
		s->runs = 0;
	}
}

static void sim_entity_group(struct sim_entity *s, uint32_t shares, uint32_t reservation, uint32_t limit)
{
	memset(s, 0, sizeof(*s));
	sched_group_init(&s->group, shares, reservation, limit, 1, 0);
}

static void wake_due(struct sim *sim)
{
	for (unsigned i = 0; i < sim->count; i++) {
		struct sim_entity *s = &sim->e[i];
		if (s->entity.state == SCHED_BLOCKED && s->wake_at <= sim->now) {
			sched_entity_wake(&s->entity, s->wake_at, sim->now);
			sched_queue_add(&config, &sim->queue, &s->entity, true);
			s->burst_left = s->run_burst;
		}
	}
}

static uint64_t next_wake(const struct sim *sim)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < sim->count; i++)
		if (sim->e[i].entity.state == SCHED_BLOCKED && sim->e[i].wake_at < next)
			next = sim->e[i].wake_at;
	return next;
}

static void record_run(struct sim_entity *s, uint64_t from, uint64_t to)
{
	if (s->runs < sizeof(s->run_starts) / sizeof(s->run_starts[0])) {
		s->run_starts[s->runs] = from;
		s->run_ends[s->runs] = to;
		s->runs++;
	}
}

/* Runs the simulated pCPU until `end`. */
static void sim_run(struct sim *sim, uint64_t end)
{
	while (sim->now < end) {
		wake_due(sim);
		uint64_t retry_at;
		struct sched_entity *picked = sched_pick(&config, &sim->queue, sim->now, &retry_at);
		if (!picked) {
			uint64_t next = next_wake(sim);
			if (retry_at && retry_at < next)
				next = retry_at;
			CHECK(next > sim->now);
			if (next <= sim->now || next == UINT64_MAX)
				return;
			sim->now = next < end ? next : end;
			continue;
		}
		struct sim_entity *s = (struct sim_entity *)((char *)picked - offsetof(struct sim_entity, entity));
		uint64_t slice = sched_slice(&config, &sim->queue, picked, sim->now);
		CHECK(slice >= 1 && slice <= config.slice);
		uint64_t until = sim->now + slice;
		if (s->run_burst && sim->now + s->burst_left < until)
			until = sim->now + s->burst_left;
		/* The host timer also fires for the earliest sleeper; a woken
		 * entity may take the pCPU there. */
		uint64_t wake = next_wake(sim);
		uint64_t start = sim->now;
		while (wake < until) {
			sim->now = wake;
			wake_due(sim);
			if (sched_should_preempt(&config, &sim->queue, picked, sim->now)) {
				until = sim->now;
				break;
			}
			wake = next_wake(sim);
		}
		if (until > end)
			until = end;
		sim->now = until;
		record_run(s, start, until);
		sim->switches++;
		bool blocks = false;
		if (s->run_burst) {
			s->burst_left -= until - start;
			if (!s->burst_left) {
				blocks = true;
				s->wake_at = until + s->sleep;
			}
		}
		sched_charge(&config, &sim->queue, picked, blocks ? SCHED_BLOCKED : SCHED_READY, sim->now);
	}
}

/* Time s ran within [from, to). */
static uint64_t used_between(const struct sim_entity *s, uint64_t from, uint64_t to)
{
	uint64_t used = 0;
	for (unsigned i = 0; i < s->runs; i++) {
		uint64_t a = s->run_starts[i] > from ? s->run_starts[i] : from;
		uint64_t b = s->run_ends[i] < to ? s->run_ends[i] : to;
		if (b > a)
			used += b - a;
	}
	return used;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static bool within(double value, double expected, double tolerance)
{
	return value >= expected * (1 - tolerance) && value <= expected * (1 + tolerance);
}

static void check_proportion(uint32_t shares_a, uint32_t shares_b)
{
	static struct sim_entity e[2];
	struct sim sim;

	sim_entity_group(&e[0], shares_a, 0, 0);
	sim_entity_group(&e[1], shares_b, 0, 0);
	sim_init(&sim, e, 2);
	sim_run(&sim, 10 * SECOND);
	double got = ratio(e[0].group.account.used, e[1].group.account.used);
	double want = (double)shares_a / shares_b;
	if (!within(got, want, 0.05))
		fprintf(stderr, "shares %u:%u gave %.4f, want %.4f\n", shares_a, shares_b, got, want);
	CHECK(within(got, want, 0.05));
	/* Nothing idles while work waits; the accounting covers the clock. */
	CHECK_EQ(e[0].group.account.used + e[1].group.account.used, 10 * SECOND);
	for (int i = 0; i < 2; i++) {
		/* The one still queued has its current wait not yet booked. */
		uint64_t pending = e[i].entity.state == SCHED_READY ? 10 * SECOND - e[i].entity.state_since : 0;
		CHECK_EQ(e[i].group.account.used + e[i].group.account.ready + pending, 10 * SECOND);
	}
	/* Over every second, not only on the whole. */
	for (uint64_t t = 0; t < 10 * SECOND; t += SECOND) {
		double part = ratio(used_between(&e[0], t, t + SECOND), used_between(&e[1], t, t + SECOND));
		CHECK(within(part, want, 0.05));
	}
}

UNIT_TEST(shares_1_to_1)
{
	check_proportion(1000, 1000);
}

UNIT_TEST(shares_2_to_1)
{
	check_proportion(2000, 1000);
}

UNIT_TEST(shares_4_to_1)
{
	check_proportion(4000, 1000);
}

UNIT_TEST(shares_odd_values)
{
	check_proportion(3, 1);
	check_proportion(100000, 30000);
}

UNIT_TEST(many_entities_proportional)
{
	enum { N = 40 };
	static struct sim_entity e[N];
	struct sim sim;
	uint64_t total_shares = 0;

	for (unsigned i = 0; i < N; i++) {
		sim_entity_group(&e[i], 500 * (1 + i % 5), 0, 0);
		total_shares += e[i].group.shares;
	}
	sim_init(&sim, e, N);
	sim_run(&sim, 60 * SECOND);
	for (unsigned i = 0; i < N; i++) {
		double share = ratio(e[i].group.account.used, 60 * SECOND);
		double want = (double)e[i].group.shares / (double)total_shares;
		if (!within(share, want, 0.05))
			fprintf(stderr, "entity %u: %.5f want %.5f\n", i, share, want);
		CHECK(within(share, want, 0.05));
	}
}

/* A group's shares are split over its entities: a 2-entity group with
 * 2000 shares weighs as two 1000-share groups. */
UNIT_TEST(group_shares_split_over_entities)
{
	struct sched_group g;
	struct sched_entity a, b;

	sched_group_init(&g, 2000, 0, 0, 2, 0);
	sched_entity_init(&a, &g, 0);
	sched_entity_init(&b, &g, 0);
	CHECK_EQ(a.weight, 1000 * SCHED_WEIGHT_UNIT);
	CHECK_EQ(b.weight, a.weight);
	sched_group_init(&g, 0, 0, 0, 0, 0);
	CHECK_EQ(g.shares, SCHED_SHARES_DEFAULT);
	CHECK_EQ(g.entity_count, 1);
}

static void check_limit(uint32_t limit, bool contended)
{
	static struct sim_entity e[2];
	struct sim sim;

	sim_entity_group(&e[0], 1000, 0, limit);
	sim_entity_group(&e[1], 1000, 0, 0);
	sim_init(&sim, e, contended ? 2 : 1);
	sim_run(&sim, 10 * SECOND);
	uint64_t used = e[0].group.account.used;
	/* Never above the limit in any 100 ms window, beyond one burst. */
	for (uint64_t t = 0; t + 100 * MS <= 10 * SECOND; t += MS) {
		uint64_t in_window = used_between(&e[0], t, t + 100 * MS);
		if (in_window > 100 * MS * limit / 100 + config.burst) {
			fprintf(stderr, "limit %u%%: %lu ticks in the window at %lu\n", limit,
				(unsigned long)in_window, (unsigned long)t);
			CHECK(0);
			break;
		}
	}
	/* On the whole: at most the limit, and not much less when it wants more. */
	CHECK(used <= 10 * SECOND * limit / 100);
	CHECK(used >= 10 * SECOND * limit / 100 * 98 / 100);
	CHECK(e[0].group.account.limited > 0);
	if (contended) /* the unlimited one gets the rest */
		CHECK(e[1].group.account.used >= 10 * SECOND - used - 10 * MS);
}

UNIT_TEST(limit_never_exceeded_when_alone)
{
	check_limit(30, false);
	check_limit(5, false);
	check_limit(90, false);
}

UNIT_TEST(limit_never_exceeded_under_contention)
{
	check_limit(20, true);
	check_limit(45, true);
}

/* Reservation: guaranteed even against a group with four times the shares. */
static void check_reservation(uint32_t reservation)
{
	static struct sim_entity e[2];
	struct sim sim;

	sim_entity_group(&e[0], 1000, reservation, 0);
	sim_entity_group(&e[1], 4000, 0, 0);
	sim_init(&sim, e, 2);
	sim_run(&sim, 10 * SECOND);
	double share = ratio(e[0].group.account.used, 10 * SECOND);
	if (share < reservation / 100.0 * 0.98)
		fprintf(stderr, "reservation %u%%: got %.4f\n", reservation, share);
	CHECK(share >= reservation / 100.0 * 0.98);
	/* It is a minimum, not a grab: not much beyond it. */
	CHECK(share <= reservation / 100.0 + 0.05);
	for (uint64_t t = 0; t < 10 * SECOND; t += SECOND)
		CHECK(used_between(&e[0], t, t + SECOND) >= SECOND * reservation / 100 * 95 / 100);
}

UNIT_TEST(reservation_honoured_under_contention)
{
	check_reservation(50);
	check_reservation(70);
	check_reservation(30);
}

/* Below its share-based entitlement a reservation changes nothing. */
UNIT_TEST(reservation_below_entitlement_keeps_shares)
{
	static struct sim_entity e[2];
	struct sim sim;

	sim_entity_group(&e[0], 3000, 20, 0);
	sim_entity_group(&e[1], 1000, 0, 0);
	sim_init(&sim, e, 2);
	sim_run(&sim, 10 * SECOND);
	CHECK(within(ratio(e[0].group.account.used, e[1].group.account.used), 3.0, 0.05));
}

/* An entity that slept a long time gets at most a slice of credit: the
 * one that kept running is not starved after the wake. */
UNIT_TEST(woken_entity_gets_bounded_credit)
{
	static struct sim_entity e[2];
	struct sim sim;

	sim_entity_group(&e[0], 1000, 0, 0);
	sim_entity_group(&e[1], 1000, 0, 0);
	e[1].start_at = 5 * SECOND; /* joins late: as new as a long sleeper */
	sim_init(&sim, e, 2);
	sim_run(&sim, 7 * SECOND);
	CHECK_EQ(used_between(&e[0], 0, 5 * SECOND), 5 * SECOND);
	/* After the join: near 1:1 in each of the two seconds. */
	for (uint64_t t = 5 * SECOND; t < 7 * SECOND; t += SECOND) {
		uint64_t a = used_between(&e[0], t, t + SECOND), b = used_between(&e[1], t, t + SECOND);
		CHECK(a >= SECOND / 2 - 2 * config.slice);
		CHECK(b >= SECOND / 2 - 2 * config.slice);
	}
	/* And it ran promptly. */
	CHECK(e[1].runs > 0);
	CHECK(e[1].run_starts[0] - 5 * SECOND <= config.slice);
	CHECK_EQ(e[1].group.account.wakeups, 1);
}

/* A mostly-idle entity (1 ms of work every 20 ms) against a CPU hog: it
 * takes the pCPU as it wakes, and the hog still gets the rest. */
UNIT_TEST(woken_entity_runs_promptly)
{
	static struct sim_entity e[2];
	struct sim sim;

	sim_entity_group(&e[0], 1000, 0, 0);
	sim_entity_group(&e[1], 1000, 0, 0);
	e[1].run_burst = 1 * MS;
	e[1].sleep = 20 * MS;
	e[1].start_at = 3 * MS;
	sim_init(&sim, e, 2);
	sim_run(&sim, 10 * SECOND);
	const struct sched_account *a = &e[1].group.account;
	CHECK(a->wakeups > 400);
	/* Preempted at the wake: no wait at all in the simulation. */
	CHECK_EQ(a->wake_latency_max, 0);
	CHECK(within(ratio(a->used, 10 * SECOND), 1.0 / 21, 0.05));
	CHECK(a->blocked > 9 * SECOND);
	CHECK(e[0].group.account.used >= 10 * SECOND - a->used - MS);
}

/* Equals do not trade the pCPU on every wake: a CPU hog keeps its slice
 * against an equal that is not behind it. */
UNIT_TEST(no_preemption_between_equals)
{
	struct sched_group ga, gb;
	struct sched_entity a, b;
	struct sched_queue q = { 0 };
	uint64_t retry;

	sched_group_init(&ga, 1000, 0, 0, 1, 0);
	sched_group_init(&gb, 1000, 0, 0, 1, 0);
	sched_entity_init(&a, &ga, 0);
	sched_entity_init(&b, &gb, 0);
	sched_entity_wake(&a, 0, 0);
	sched_queue_add(&config, &q, &a, true);
	CHECK(sched_pick(&config, &q, 0, &retry) == &a);
	CHECK(q.running == &a);
	b.vruntime = 0;
	sched_entity_set_state(&b, SCHED_READY, 0);
	sched_queue_add(&config, &q, &b, false);
	/* a has run only a little: b is not far enough behind. */
	CHECK(!sched_should_preempt(&config, &q, &a, MS / 2));
	/* a has run a full slice beyond b: b takes over. */
	CHECK(sched_should_preempt(&config, &q, &a, 10 * MS));
}

/* Moving between queues keeps an entity's lead or lag. */
UNIT_TEST(queue_move_keeps_relative_place)
{
	struct sched_group g;
	struct sched_entity a, b;
	struct sched_queue from = { .min_vruntime = 1000 * MS }, to = { .min_vruntime = 10 * MS };

	sched_group_init(&g, 1000, 0, 0, 2, 0);
	sched_entity_init(&a, &g, 0);
	sched_entity_init(&b, &g, 0);
	a.vruntime = 1003 * MS;
	b.vruntime = 998 * MS;
	sched_queue_add(&config, &from, &a, false);
	sched_queue_add(&config, &from, &b, false);
	sched_queue_move(&from, &to, &a);
	sched_queue_move(&from, &to, &b);
	CHECK_EQ(a.vruntime, 13 * MS);
	CHECK_EQ(b.vruntime, 8 * MS);
	CHECK_EQ(from.count, 0);
	CHECK(from.head == NULL);
	CHECK_EQ(to.count, 2);
	/* Lag larger than the destination's minimum saturates at 0. */
	struct sched_queue low = { .min_vruntime = 1 * MS };
	sched_queue_move(&to, &low, &b);
	CHECK_EQ(b.vruntime, 0);
}

/* A limited group alone waits idle for tokens: pick gives NULL and a
 * retry moment that is in the future and not later than needed. */
UNIT_TEST(limited_pick_reports_retry_time)
{
	struct sched_group g;
	struct sched_entity a;
	struct sched_queue q = { 0 };
	uint64_t retry = 12345;

	sched_group_init(&g, 1000, 0, 50, 1, 0);
	sched_entity_init(&a, &g, 0);
	sched_entity_wake(&a, 0, 0);
	sched_queue_add(&config, &q, &a, true);
	CHECK(sched_pick(&config, &q, 0, &retry) == NULL);
	CHECK(retry > 0);
	/* slice/8 of tokens at 50%: 2.5 ms. */
	CHECK_EQ(retry, 2500000);
	CHECK(sched_pick(&config, &q, retry - 1, &retry) == NULL);
	CHECK(sched_pick(&config, &q, retry, &retry) == &a);
	/* The slice is cut to the tokens held. */
	CHECK_EQ(sched_slice(&config, &q, &a, 2500000), 1250000);
	CHECK(g.account.limited > 0);
}

/* Tokens bank only up to one burst: a long idle period buys no long run. */
UNIT_TEST(tokens_bank_at_most_one_burst)
{
	struct sched_group g;

	sched_group_init(&g, 1000, 40, 60, 1, 0);
	sched_group_refill(&config, &g, 1000 * SECOND);
	CHECK_EQ(g.limit_tokens, (int64_t)config.burst);
	CHECK_EQ(g.reserve_tokens, (int64_t)config.burst);
	/* Time going backwards (another CPU's clock) is ignored. */
	sched_group_refill(&config, &g, 10);
	CHECK_EQ(g.refilled_at, 1000 * SECOND);
}

/* Accounting: wake-up latency is measured from the wake moment given. */
UNIT_TEST(accounting_of_states_and_latency)
{
	struct sched_group g;
	struct sched_entity a;
	struct sched_queue q = { 0 };
	uint64_t retry;

	sched_group_init(&g, 1000, 0, 0, 1, 0);
	sched_entity_init(&a, &g, 0);
	sched_entity_wake(&a, 90, 100); /* blocked 0..100, timer due at 90 */
	sched_queue_add(&config, &q, &a, true);
	CHECK(sched_pick(&config, &q, 130, &retry) == &a);
	sched_charge(&config, &q, &a, SCHED_BLOCKED, 330);
	CHECK_EQ(g.account.blocked, 100);
	CHECK_EQ(g.account.ready, 30);
	CHECK_EQ(g.account.used, 200);
	CHECK_EQ(g.account.wakeups, 1);
	CHECK_EQ(g.account.wake_latency, 40);
	CHECK_EQ(g.account.wake_latency_max, 40);
	CHECK_EQ(g.account.dispatches, 1);
	/* A wake moment in the future is clamped to now. */
	sched_entity_wake(&a, 1000, 400);
	CHECK_EQ(a.woken_at, 400);
	CHECK_EQ(g.account.blocked, 170);
}

UNIT_MAIN();
