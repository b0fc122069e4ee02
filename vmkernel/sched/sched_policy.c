#include <sched/sched_policy.h>

/* Virtual-time cost of `ticks` for an entity: an entity with the default
 * shares alone in its group pays one virtual tick per tick. */
static uint64_t weighted(uint64_t ticks, uint64_t weight)
{
	/* Runs are slices; anything longer is clamped rather than overflowed. */
	if (ticks > (1ull << 40))
		ticks = 1ull << 40;
	return ticks * SCHED_WEIGHT_UNIT * SCHED_SHARES_DEFAULT / weight;
}

/* The shortest run worth a switch: limit tokens below it wait for more. */
static uint64_t min_run(const struct sched_config *config)
{
	uint64_t m = config->slice / 8;
	if (m > config->burst)
		m = config->burst;
	return m ? m : 1;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

void sched_group_init(struct sched_group *group, uint32_t shares, uint32_t reservation_pct,
		      uint32_t limit_pct, uint32_t entity_count, uint64_t now)
{
	*group = (struct sched_group){
		.shares = shares ? shares : SCHED_SHARES_DEFAULT * (entity_count ? entity_count : 1),
		.reservation_pct = reservation_pct,
		.limit_pct = limit_pct,
		.entity_count = entity_count ? entity_count : 1,
		.refilled_at = now,
	};
}

void sched_entity_init(struct sched_entity *entity, struct sched_group *group, uint64_t now)
{
	uint64_t weight = (uint64_t)group->shares * SCHED_WEIGHT_UNIT / group->entity_count;
	*entity = (struct sched_entity){
		.group = group,
		.weight = weight ? weight : 1,
		.state = SCHED_BLOCKED,
		.state_since = now,
	};
}

static int64_t add_capped(int64_t tokens, uint64_t elapsed, uint32_t pct, uint64_t cap)
{
	uint64_t gain = elapsed * pct / 100;
	if (gain > cap)
		gain = cap; /* also keeps the sum below in range */
	int64_t sum = tokens + (int64_t)gain;
	return sum > (int64_t)cap ? (int64_t)cap : sum;
}

void sched_group_refill(const struct sched_config *config, struct sched_group *group, uint64_t now)
{
	if (now <= group->refilled_at)
		return;
	uint64_t elapsed = now - group->refilled_at;
	if (group->limit_pct)
		group->limit_tokens = add_capped(group->limit_tokens, elapsed, group->limit_pct, config->burst);
	if (group->reservation_pct)
		group->reserve_tokens =
			add_capped(group->reserve_tokens, elapsed, group->reservation_pct, config->burst);
	group->refilled_at = now;
}

static void set_limited(struct sched_entity *entity, bool limited, uint64_t now)
{
	if (limited == entity->limited)
		return;
	if (limited)
		entity->limited_since = now;
	else if (now > entity->limited_since)
		entity->group->account.limited += now - entity->limited_since;
	entity->limited = limited;
}

void sched_entity_set_state(struct sched_entity *entity, uint32_t state, uint64_t now)
{
	struct sched_account *account = &entity->group->account;
	uint64_t elapsed = now > entity->state_since ? now - entity->state_since : 0;

	switch (entity->state) {
	case SCHED_READY:
		account->ready += elapsed;
		set_limited(entity, false, now);
		break;
	case SCHED_RUNNING:
		account->used += elapsed;
		break;
	case SCHED_BLOCKED:
		account->blocked += elapsed;
		break;
	default:
		break;
	}
	if (state == SCHED_RUNNING) {
		account->dispatches++;
		if (entity->wake_pending) {
			uint64_t latency = now > entity->woken_at ? now - entity->woken_at : 0;
			account->wake_latency += latency;
			if (latency > account->wake_latency_max)
				account->wake_latency_max = latency;
			entity->wake_pending = false;
		}
	}
	entity->state = state;
	entity->state_since = now;
}

void sched_entity_wake(struct sched_entity *entity, uint64_t moment, uint64_t now)
{
	sched_entity_set_state(entity, SCHED_READY, now);
	entity->group->account.wakeups++;
	entity->woken_at = moment < now ? moment : now;
	entity->wake_pending = true;
}

void sched_queue_add(const struct sched_config *config, struct sched_queue *queue,
		     struct sched_entity *entity, bool woken)
{
	if (woken) {
		uint64_t credit = weighted(config->slice, entity->weight);
		uint64_t floor = queue->min_vruntime > credit ? queue->min_vruntime - credit : 0;
		if (entity->vruntime < floor)
			entity->vruntime = floor;
	}
	entity->next = queue->head;
	queue->head = entity;
	queue->count++;
}

void sched_queue_remove(struct sched_queue *queue, struct sched_entity *entity)
{
	for (struct sched_entity **link = &queue->head; *link; link = &(*link)->next) {
		if (*link == entity) {
			*link = entity->next;
			entity->next = NULL;
			queue->count--;
			return;
		}
	}
}

void sched_queue_move(struct sched_queue *from, struct sched_queue *to, struct sched_entity *entity)
{
	sched_queue_remove(from, entity);
	/* Its lead or lag over its old queue's minimum carries over. */
	if (entity->vruntime >= from->min_vruntime)
		entity->vruntime = to->min_vruntime + (entity->vruntime - from->min_vruntime);
	else {
		uint64_t lag = from->min_vruntime - entity->vruntime;
		entity->vruntime = to->min_vruntime > lag ? to->min_vruntime - lag : 0;
	}
	entity->next = to->head;
	to->head = entity;
	to->count++;
}

static bool limit_exhausted(const struct sched_config *config, const struct sched_group *group)
{
	return group->limit_pct && group->limit_tokens < (int64_t)min_run(config);
}

/* Reserved entities (their group is owed time) go first. */
static int priority_class(const struct sched_group *group)
{
	return group->reservation_pct && group->reserve_tokens > 0 ? 0 : 1;
}

struct sched_entity *sched_pick(const struct sched_config *config, struct sched_queue *queue,
				uint64_t now, uint64_t *retry_at)
{
	struct sched_entity *best = NULL;
	int best_class = 2;

	*retry_at = 0;
	for (struct sched_entity *e = queue->head; e; e = e->next)
		sched_group_refill(config, e->group, now);
	for (struct sched_entity *e = queue->head; e; e = e->next) {
		struct sched_group *g = e->group;
		if (limit_exhausted(config, g)) {
			set_limited(e, true, now);
			uint64_t missing = (uint64_t)((int64_t)min_run(config) - g->limit_tokens);
			uint64_t at = g->refilled_at + ceil_div(missing * 100, g->limit_pct);
			if (!*retry_at || at < *retry_at)
				*retry_at = at;
			continue;
		}
		set_limited(e, false, now);
		int class = priority_class(g);
		if (class < best_class || (class == best_class && e->vruntime < best->vruntime)) {
			best = e;
			best_class = class;
		}
	}
	if (!best)
		return NULL;
	*retry_at = 0;
	sched_queue_remove(queue, best);
	sched_entity_set_state(best, SCHED_RUNNING, now);
	queue->running = best;
	return best;
}

uint64_t sched_slice(const struct sched_config *config, const struct sched_queue *queue,
		     const struct sched_entity *entity, uint64_t now)
{
	const struct sched_group *g = entity->group;
	uint64_t slice = config->slice;

	if (g->limit_pct && g->limit_tokens < (int64_t)slice)
		slice = g->limit_tokens > 0 ? (uint64_t)g->limit_tokens : 1;
	if (priority_class(g) == 0)
		return slice;
	/* An unreserved run ends when a queued reserved group is owed again. */
	for (const struct sched_entity *e = queue->head; e; e = e->next) {
		const struct sched_group *h = e->group;
		if (!h->reservation_pct || h == g || limit_exhausted(config, h))
			continue;
		if (h->reserve_tokens > 0)
			continue; /* owed already yet not picked: not this slice's business */
		uint64_t owed_at =
			h->refilled_at + ceil_div((uint64_t)(1 - h->reserve_tokens) * 100, h->reservation_pct);
		uint64_t until = owed_at > now ? owed_at - now : 1;
		if (until < slice)
			slice = until;
	}
	return slice ? slice : 1;
}

static void update_min_vruntime(struct sched_queue *queue)
{
	bool any = false;
	uint64_t lowest = 0;

	if (queue->running) {
		lowest = queue->running->vruntime;
		any = true;
	}
	for (const struct sched_entity *e = queue->head; e; e = e->next) {
		if (!any || e->vruntime < lowest)
			lowest = e->vruntime;
		any = true;
	}
	if (any && lowest > queue->min_vruntime)
		queue->min_vruntime = lowest;
}

void sched_charge(const struct sched_config *config, struct sched_queue *queue,
		  struct sched_entity *entity, uint32_t state, uint64_t now)
{
	struct sched_group *g = entity->group;
	uint64_t ran = now > entity->state_since ? now - entity->state_since : 0;
	/* Debt is bounded so that one long exit cannot shut a group out for long. */
	int64_t floor = -(int64_t)(config->burst + config->slice);

	sched_group_refill(config, g, now);
	entity->vruntime += weighted(ran, entity->weight);
	if (g->limit_pct) {
		g->limit_tokens -= (int64_t)(ran < (1ull << 40) ? ran : 1ull << 40);
		if (g->limit_tokens < floor)
			g->limit_tokens = floor;
	}
	if (g->reservation_pct) {
		g->reserve_tokens -= (int64_t)(ran < (1ull << 40) ? ran : 1ull << 40);
		if (g->reserve_tokens < -(int64_t)config->burst)
			g->reserve_tokens = -(int64_t)config->burst;
	}
	if (queue->running == entity)
		queue->running = NULL;
	sched_entity_set_state(entity, state, now);
	if (state == SCHED_READY)
		sched_queue_add(config, queue, entity, false);
	update_min_vruntime(queue);
	if (!queue->running && !queue->head && entity->vruntime > queue->min_vruntime)
		queue->min_vruntime = entity->vruntime;
}

bool sched_should_preempt(const struct sched_config *config, const struct sched_queue *queue,
			  const struct sched_entity *running, uint64_t now)
{
	uint64_t ran = now > running->state_since ? now - running->state_since : 0;
	uint64_t running_v = running->vruntime + weighted(ran, running->weight);
	int running_class = priority_class(running->group);

	for (const struct sched_entity *e = queue->head; e; e = e->next) {
		if (limit_exhausted(config, e->group))
			continue;
		int class = priority_class(e->group);
		if (class < running_class)
			return true;
		/* A margin keeps two equals from trading the pCPU on every exit. */
		if (class == running_class && e->vruntime + weighted(min_run(config), e->weight) < running_v)
			return true;
	}
	return false;
}
