/*
 * The VMFS on-disk lock and heartbeat protocol, for spin.
 *
 * Hosts share a heartbeat region (one slot per mounted host) and one lock
 * record; every sector update is a compare-and-write (CAW), one atomic step
 * here.  A clock process advances real time; each host reads it through its
 * own clock, off by at most DRIFT ticks over a lease.  A host may pause at any
 * point (the scheduler simply does not run it while the clock ticks), resume,
 * or die (host 0).  README.md maps every step to the protocol.
 *
 * Build switches (spin -D...):
 *   LIVENESS         hosts act once per tick (heartbeat interval < tick), so
 *                    progress can be checked with weak fairness
 *   BROKEN_NO_LEASE  data writes skip the lease check       (must fail)
 *   BROKEN_SPLIT     lease check and write are two steps    (must fail)
 *   BROKEN_RESTART_WATCH  an observer restarts its lease wait on every
 *                    read                                   (no progress)
 *   LEASE_HOLDER, LEASE_OBSERVER, DRIFT   timing (ticks)
 */

#ifndef NHOSTS
#define NHOSTS 3
#endif
#ifndef NSLOTS
#define NSLOTS (NHOSTS + 1)
#endif

/* A host may write while its own clock says at most LEASE_HOLDER ticks have
 * passed since its last successful refresh. */
#ifndef LEASE_HOLDER
#define LEASE_HOLDER 2
#endif
/* An observer declares a heartbeat stale once its own clock says the counter
 * has not moved for LEASE_OBSERVER ticks.  Safe iff
 * LEASE_OBSERVER > LEASE_HOLDER + 2 * DRIFT. */
#ifndef LEASE_OBSERVER
#define LEASE_OBSERVER 5
#endif
#ifndef DRIFT
#define DRIFT 1
#endif
#ifndef MAXMOUNTS
#define MAXMOUNTS 2
#endif
/* Timers saturate where every reading of them gives the same answer. */
#define CAP_REFRESH (LEASE_HOLDER + DRIFT + 1)
#define CAP_OBSERVED (LEASE_OBSERVER + DRIFT)
/* Lock generation kept modulo LGENS (the real field is 64-bit). */
#ifndef LGENS
#define LGENS 4
#endif

#define S_FREE 0
#define S_LIVE 1
#define S_RECOVERING 2
#define M_FREE 0
#define M_EXCL 1
#define NONE 255

/* host phases */
#define P_MOUNT 0
#define P_WANT 1
#define P_ORPHAN 2
#define P_TAKE 3
#define P_REPLAY 4
#define P_FREELOCK 5
#define P_FREESLOT 6
#define P_HOLD 7
#define P_RELEASE 8
#define P_FENCED 9
#define P_GONE 10

/* heartbeat region */
byte sl_state[NSLOTS];
byte sl_owner[NSLOTS];		/* host id of the LIVE owner or of the recoverer */
byte sl_gen[NSLOTS];
/* moved[s * NHOSTS + o]: slot s's counter changed since observer o last
 * recorded it.  Exactly "counter != recorded value" for a counter that never
 * wraps, without storing counter values. */
bool moved[NSLOTS * NHOSTS];

/* the lock record */
byte lk_mode = M_FREE;
byte lk_owner = NONE;		/* heartbeat slot of the holder */
byte lk_ogen;			/* that slot's generation when acquired */
byte lk_lgen;

/* real time since each host's last successful refresh / start of watching */
byte since_refresh[NHOSTS];
byte observed[NHOSTS];
bool mounted[NHOSTS];		/* the clocks run only while they matter */
bool watching[NHOSTS];
bool acted[NHOSTS];		/* LIVENESS: the host has had its turn this tick */
bool paused[NHOSTS];
bool dead[NHOSTS];
bool idle[NHOSTS];		/* gave up (no slot left): nothing more to do */

/* scratch, used only inside atomic steps: not part of the state */
hidden byte i;
hidden int clk, drift;

/* ghosts for the progress property */
bool died_holding;		/* host 0 died while the record named it */
bool acquired_after_death;	/* another host acquired after that */

/* Without LIVENESS the clock may tick any number of times between any two
 * steps of a host, which already is every pause and (never resuming) every
 * crash; explicit ones only matter for the progress property. */
#ifdef LIVENESS
#define CAN_DIE(me) ((me) == 0)
#define CAN_PAUSE(me) ((me) == 0)
#else
#define CAN_DIE(me) 0
#define CAN_PAUSE(me) 0
#endif
#define TURN_DONE(i) (acted[i] || dead[i] || paused[i] || idle[i])
#if NHOSTS == 2
#define ALL_DONE (TURN_DONE(0) && TURN_DONE(1))
#elif NHOSTS == 3
#define ALL_DONE (TURN_DONE(0) && TURN_DONE(1) && TURN_DONE(2))
#else
#error "NHOSTS must be 2 or 3"
#endif

ltl progress { [] (died_holding -> <> acquired_after_death) }

/* The host's reading of a real interval: off by up to DRIFT either way. */
inline reading(real, out)
{
	select(drift : 0 .. 2 * DRIFT);
	out = real + drift - DRIFT
}

/* Every write path reads its own clock first: t > LEASE_HOLDER means fenced. */
/* Locals no longer needed are cleared so they do not split states. */
#define FORGET_RECORD rmode = 0; rowner = 0; rogen = 0; rlgen = 0
#define read_own_clock() reading(since_refresh[me], clk)
#define LEASE_EXPIRED (clk > LEASE_HOLDER)

active proctype clock()
{
	do
	:: atomic {
#ifdef LIVENESS
		ALL_DONE ->
#endif
		for (i : 0 .. NHOSTS - 1) {
			if
			:: mounted[i] && since_refresh[i] < CAP_REFRESH -> since_refresh[i]++
			:: else
			fi;
			if
			:: watching[i] && observed[i] < CAP_OBSERVED -> observed[i]++
			:: else
			fi;
			acted[i] = 0
		}
	}
	od
}

proctype host(byte me)
{
	byte phase = P_MOUNT;
	byte myslot = NONE, mygen, mounts;
	byte rmode, rowner, rogen, rlgen;	/* last read of the lock record */
	byte wslot = NONE, wgen;		/* the heartbeat being watched */

	do
	:: CAN_DIE(me) ->
		atomic {
			died_holding = (lk_mode == M_EXCL && lk_owner == myslot && lk_ogen == mygen);
			dead[me] = 1
		};
		break
	:: CAN_PAUSE(me) && !paused[me] -> paused[me] = 1
	:: paused[me] -> paused[me] = 0
	:: !paused[me] && !acted[me] && phase != P_GONE ->
		/* heartbeat: refresh while the lease holds, or be fenced */
		if
		:: phase != P_MOUNT && phase != P_FENCED ->
			atomic {
				reading(since_refresh[me], clk);
				if
				:: clk <= LEASE_HOLDER && sl_state[myslot] == S_LIVE &&
				   sl_owner[myslot] == me && sl_gen[myslot] == mygen ->
					since_refresh[me] = 0;
					for (i : 0 .. NHOSTS - 1) {
						moved[myslot * NHOSTS + i] = 1
					}
				:: else -> phase = P_FENCED
				fi
			}
		:: else
		fi;

		if
		:: phase == P_MOUNT ->
			/* claim a FREE slot: CAW FREE -> LIVE, generation + 1 */
			atomic {
				myslot = NONE;
				for (i : 0 .. NSLOTS - 1) {
					if
					:: myslot == NONE && sl_state[i] == S_FREE -> myslot = i
					:: else
					fi
				}
				if
				:: myslot != NONE && mounts < MAXMOUNTS ->
					sl_state[myslot] = S_LIVE;
					sl_owner[myslot] = me;
					sl_gen[myslot]++;
					mygen = sl_gen[myslot];
					since_refresh[me] = 0;
					mounted[me] = 1;
					for (i : 0 .. NHOSTS - 1) {
						moved[myslot * NHOSTS + i] = 1
					}
					mounts++;
					phase = P_WANT
				:: else -> phase = P_GONE; idle[me] = 1
				fi
			}

		:: phase == P_WANT ->
			atomic {
				rmode = lk_mode; rowner = lk_owner;
				rogen = lk_ogen; rlgen = lk_lgen
			};
			if
			:: rmode == M_FREE ->
				atomic {
					read_own_clock();
					if
					:: LEASE_EXPIRED -> phase = P_FENCED
					:: else ->
						if
						:: lk_mode == rmode && lk_owner == rowner &&
						   lk_ogen == rogen && lk_lgen == rlgen ->
							lk_mode = M_EXCL; lk_owner = myslot;
							lk_ogen = mygen; lk_lgen = (lk_lgen + 1) % LGENS;
							phase = P_HOLD;
							if
							:: died_holding && me != 0 -> acquired_after_death = 1
							:: else
							fi
						:: else	/* lost the race: read again */
						fi
					fi;
					FORGET_RECORD;
					wslot = NONE; wgen = 0; watching[me] = 0; observed[me] = 0
				}
			:: rmode == M_EXCL ->
				/* held by someone else: is its heartbeat alive? */
				atomic {
					if
					:: sl_gen[rowner] != rogen || sl_state[rowner] == S_FREE ->
						phase = P_ORPHAN	/* its host lost that slot */
					:: sl_gen[rowner] == rogen && sl_state[rowner] == S_RECOVERING
						/* someone else is recovering it */
					:: sl_gen[rowner] == rogen && sl_state[rowner] == S_LIVE ->
						if
#ifdef BROKEN_RESTART_WATCH
						:: 1 ->	/* forgets what it saw: restarts every time */
#else
						:: wslot != rowner || wgen != rogen ->
#endif
							wslot = rowner; wgen = rogen;
							watching[me] = 1;
							moved[wslot * NHOSTS + me] = 0;
							observed[me] = 0
						:: else ->
							if
							:: moved[wslot * NHOSTS + me] ->
								moved[wslot * NHOSTS + me] = 0;
								observed[me] = 0
							:: else ->
								reading(observed[me], clk);
								if
								:: clk >= LEASE_OBSERVER -> phase = P_TAKE
								:: else
								fi
							fi
						fi
					fi;
					if
					:: phase == P_WANT -> FORGET_RECORD
					:: else
					fi
				}
			fi

		:: phase == P_ORPHAN ->
			/* the record names a slot generation that is gone: free it (CAW) */
			atomic {
				read_own_clock();
				if
				:: LEASE_EXPIRED -> phase = P_FENCED
				:: else ->
					if
					:: lk_mode == rmode && lk_owner == rowner &&
					   lk_ogen == rogen && lk_lgen == rlgen ->
						lk_mode = M_FREE; lk_owner = NONE; lk_ogen = 0;
						lk_lgen = (lk_lgen + 1) % LGENS
					:: else
					fi;
					FORGET_RECORD;
					phase = P_WANT
				fi
			}

		:: phase == P_TAKE ->
			/* CAW the stale slot to RECOVERING, owner = me */
			atomic {
				read_own_clock();
				if
				:: LEASE_EXPIRED -> phase = P_FENCED
				:: else ->
					if
					:: sl_state[wslot] == S_LIVE && sl_gen[wslot] == wgen &&
					   !moved[wslot * NHOSTS + me] ->
						sl_state[wslot] = S_RECOVERING;
						sl_owner[wslot] = me;
						phase = P_REPLAY
					:: else -> phase = P_WANT	/* it moved: alive */
					fi
				fi
			}

		:: phase == P_REPLAY ->
			/* replay the dead host's journal: writes to its metadata */
			atomic {
				read_own_clock();
				if
				:: LEASE_EXPIRED -> phase = P_FENCED
				:: else ->
					assert(sl_state[wslot] == S_RECOVERING && sl_owner[wslot] == me);
					phase = P_FREELOCK
				fi
			}

		:: phase == P_FREELOCK ->
			/* free its lock: CAW against the record as read */
			atomic {
				read_own_clock();
				if
				:: LEASE_EXPIRED -> phase = P_FENCED
				:: else ->
					if
					:: lk_mode == rmode && lk_owner == rowner &&
					   lk_ogen == rogen && lk_lgen == rlgen ->
						lk_mode = M_FREE; lk_owner = NONE; lk_ogen = 0;
						lk_lgen = (lk_lgen + 1) % LGENS
					:: else
					fi;
					FORGET_RECORD;
					phase = P_FREESLOT
				fi
			}

		:: phase == P_FREESLOT ->
			atomic {
				read_own_clock();
				if
				:: LEASE_EXPIRED -> phase = P_FENCED
				:: else ->
					if
					:: sl_state[wslot] == S_RECOVERING && sl_owner[wslot] == me ->
						sl_state[wslot] = S_FREE
					:: else
					fi;
					wslot = NONE; wgen = 0; watching[me] = 0; observed[me] = 0;
					phase = P_WANT
				fi
			}

		:: phase == P_HOLD ->
			/* a data or journal write under the exclusive lock */
#ifdef BROKEN_SPLIT
			atomic {
				read_own_clock();
				if
				:: LEASE_EXPIRED -> phase = P_FENCED
				:: else
				fi
			};
#endif
			atomic {
#if !defined(BROKEN_NO_LEASE) && !defined(BROKEN_SPLIT)
				read_own_clock();
				if
				:: LEASE_EXPIRED -> phase = P_FENCED
				:: else
				fi;
#endif
				if
				:: phase == P_HOLD ->
					/* (a) mutual exclusion: the write lands while the
					 * record and the heartbeat slot are still ours */
					assert(lk_mode == M_EXCL && lk_owner == myslot && lk_ogen == mygen);
					assert(sl_state[myslot] == S_LIVE && sl_owner[myslot] == me &&
					       sl_gen[myslot] == mygen);
#ifdef LIVENESS
					phase = P_RELEASE
#else
					if
					:: phase = P_RELEASE
					:: skip
					fi
#endif
				:: else
				fi
			}

		:: phase == P_RELEASE ->
			atomic {
				read_own_clock();
				if
				:: LEASE_EXPIRED -> phase = P_FENCED
				:: else ->
					if
					:: lk_mode == M_EXCL && lk_owner == myslot && lk_ogen == mygen ->
						lk_mode = M_FREE; lk_owner = NONE; lk_ogen = 0;
						lk_lgen = (lk_lgen + 1) % LGENS
					:: else
					fi;
					FORGET_RECORD;
					phase = P_WANT
				fi
			}

		:: phase == P_FENCED ->
			/* no more writes with this slot; start over with a new mount */
			atomic {
				wslot = NONE; wgen = 0; watching[me] = 0; observed[me] = 0;
				mounted[me] = 0; since_refresh[me] = 0;
				FORGET_RECORD;
				phase = P_MOUNT
			}
		fi;
#ifdef LIVENESS
		acted[me] = 1
#else
		skip
#endif
	od
}

init
{
	atomic {
		for (i : 0 .. NHOSTS - 1) {
			run host(i)
		}
	}
}
