/*
 * vigil's tickets (docs/architecture.md, "The watchdog contract", "Which
 * agent process is the newest: tickets"), as a Promela model for Spin: how
 * the leader orders one host's agent processes, when it counts the host's
 * watchdog as armed, and when a process may start guests. See
 * model/README.md.
 *
 * Safety, checked in every state and at every judgement:
 *   P1  the leader never believes a watchdog armed (so it could count the
 *       host as self-fenced) while the running boot's watchdog is not armed
 *       and that boot was granted guests;
 *   P2  a message the leader judges stale never comes from the running
 *       agent process (the last one started: one runs at a time);
 *   P3  the engine never forgets the ack of a stop notice it took from the
 *       running process before the ack went out (it is in the Ready being
 *       built, or due with the record not yet confirmed), unless a failover
 *       ends its term.
 *
 * One process; every event is one d_step. There is no time: what the
 * grant/lease contract does with time is model/watchdog.pml's. Messages are
 * kept as a set: any message any process ever sent (with the ticket it held
 * when it sent it) may be delivered at any later moment, any number of
 * times; a grant's ticket reaches its process at any later moment, in any
 * order with the others.
 *
 * Unsound variants (each must give a counterexample), e.g. spin -DHOLDER_BY_NAME:
 *   HOLDER_BY_NAME      the holder is matched by agent name alone, not its
 *                       boot (grant.go before 9fe9453, G1)
 *   STALE_ANY_TICKET    stale is any ticket other than the current one once
 *                       echoed, unordered (before 9fe9453, G4); shows only
 *                       with NO_RESTORE_MARKER (README)
 *   NO_RESTORE_MARKER   a store restored from a snapshot is read with plain
 *                       Restore (before 9bbefa1)
 *   GUESTS_BEFORE_WRITE guests start on what the leader believes, before the
 *                       record saying so is confirmed written
 *   NO_STOP_LIST        no per-process stop list (Record.WatchdogStopped): a
 *                       stopped process's late report arms it again
 *   NO_STOPPING         reports sent after the stop notice do not say
 *                       Stopping (SelfReport.Stopping): they arm as any other
 *   STOPPING_UNLISTED   a report that says Stopping does not put its process
 *                       on the stop list (grant.go at 4564fc6): a late report
 *                       from before the notice arms it after a snapshot restore
 *   ACK_BEFORE_WRITE    the ack goes out as the notice is taken, before the
 *                       record that says the process stopped is written
 *   UNWRITTEN_DROPS_ACK Unwritten writes the record again but not the ack it
 *                       carried (engine.go/unwritten.go at 4564fc6): P3
 *   CONFIRM_ANY_READY   Persisted of any Ready from the first that carried the
 *                       unconfirmed state to the last confirms it, also one that
 *                       did not carry it (before a5252c5, I7)
 * NO_P1 checks P2 alone (run.sh: NO_RESTORE_MARKER's holds with it).
 * "-DPROBE='expr'" asserts that expr is never true: a reachability probe, whose
 * counterexample shows a state the model must reach (README).
 */

/* ---- bounds ---- */
#ifndef MAXPROC
#define MAXPROC 2       /* agent processes, 1..MAXPROC, one after another */
#endif
#ifndef MAXSEQ
#define MAXSEQ 3        /* messages per process (reports, maybe a stop, reports that say Stopping) */
#endif
#ifndef MAXBOOT
#define MAXBOOT 2       /* boots, 1..MAXBOOT */
#endif
#ifndef MAXTERM
#define MAXTERM 2       /* elections (fencing tokens 1..MAXTERM): the first and one more */
#endif
#ifndef MAXSNAP
#define MAXSNAP 1       /* restores of the store from an older snapshot */
#endif
#ifndef MAXN
#define MAXN 2          /* tickets each leader issues */
#endif
#define NM (MAXPROC*MAXSEQ)
#if MAXPROC*MAXSEQ > 12
#error "the network delivers 12 messages at most: add DELIVER lines"
#endif

/* a ticket (term, n) is one byte: term*8 + n, 0 = none. Before = "<". */
#define TICKET(term, n) ((term)*8 + (n))
#define TN(t) ((t) % 8)

#define REPORT 1
#define STOPN 2
#define SREPORT 3       /* a report sent after the stop notice: it says Stopping */
#define BIT(p) (1 << (p))
#define PROC(i) ((i)/MAXSEQ + 1)
#define SEQ(i) ((i)%MAXSEQ + 1)

/* ---- the host and its agent processes ---- */
byte boot = 1;          /* the running boot */
bool hasWd;             /* the running boot has a watchdog device: its agents arm it */
bool wd;                /* the running boot's watchdog is armed (survives an agent restart) */
bool guests;            /* the running boot was granted guests (they run on until a reboot) */
byte cur = 1;           /* the running agent process: the last one started */
bool stopping;          /* cur sent its stop notice and waits for the ack */
bool done;              /* cur was acked: watchdog disarmed, process gone */
bool owe;               /* the engine took cur's stop notice; its ack has not gone out (P3) */
bool tkd;               /* cur took a ticket: its messages carry one (never none again) */
byte sq;                /* cur's messages so far (its Seq) */
byte dnT[2];            /* tickets grants handed cur (a set): each may arrive at any
                         * later moment, again and in any order, so cur's next
                         * message carries any of them (or none, before the first) */
bool ackIn;             /* the ack of cur's stop notice is in flight */
byte nm[MAXPROC+1];     /* each process's name (0: names none); fresh, or its predecessor's */
byte bt[MAXPROC+1];     /* each process's boot */
bool ar[MAXPROC+1];     /* each process armed a watchdog (and says so in its messages) */
byte msgK[NM];          /* the message process PROC(i) sent as its SEQ(i)-th: REPORT or STOPN */
byte msgT[NM];          /* the ticket it carried */

/* ---- etcd: the store (one host's record), a snapshot of it ---- */
byte term = 1;          /* fencing tokens so far: the current leader's */
byte snaps;             /* restores from a snapshot so far */
bool sHas;              /* the record: boot (armed or off), seq, ticket, agent, echoed, stopped */
byte sBoot, sSeq, sT, sAg, sStp;
bool sArmed, sEcho;
bool pHas, pRec;        /* a snapshot was taken (pRec: the store held a record then) */
byte pBoot, pSeq, pT, pAg, pStp;
bool pArmed, pEcho;

/* ---- the leader's engine, for this host (decision/grant.go, host.go) ---- */
byte ticketN;           /* Engine.ticketN */
byte eT, eAg, eBoot, eSeq; /* h.ticket, tAgent, grantBoot, grantSeq */
bool eEcho, eArmed;     /* h.echoed, grantArmed */
byte stp;               /* h.stoppedProcs: a bit per process whose stop was taken */
byte wT, wAg, wBoot, wStp; /* h.savedState: what the last record known written says */
bool wArmed;
byte unsaved;           /* h.watchdogUnsaved: 0 none, 1 changed, 2 writing (not confirmed) */
byte uT, uAg, uBoot, uStp; /* h.unsavedState */
bool uArmed;
bool uAck;              /* h.unsavedAck is the ack of cur's stop */
bool oRec;              /* e.out holds a record of h (the last one counts) */
byte oBoot, oSeq, oT, oAg, oStp;
bool oArmed, oEcho;
bool oAck;              /* e.out.Acks holds the ack of cur's stop */
bool rdy;               /* h.unsavedReadies is not empty (uT.. is h.unsavedState then) */
/* a Ready that committed and whose Persisted comes later (a controller
 * that writes in the background, a slow commit): one at a time */
bool sl;                /* there is one */
bool slIn;              /* it is in h.unsavedReadies: it carried the state */
bool slLeI;             /* its Seq <= h.unsavedIn */
bool slGeF;             /* its Seq >= the first Ready of the unconfirmed state (CONFIRM_ANY_READY) */
bool slAck;             /* it carries the ack of cur's stop */

hidden int step;        /* for the trail only */
hidden byte p_, s_, t_, k_, bB, bA, bT, gT, pl;
hidden byte bR, gG, jn, ak, bS;

#ifdef HOLDER_BY_NAME
#define HOLDER(b, a) ((a) != 0 && (a) == eAg)
#else
#define HOLDER(b, a) ((a) != 0 && (a) == eAg && (b) == eBoot)
#endif
#ifdef STALE_ANY_TICKET
#define STALE(b, a, t) (!HOLDER(b, a) && eEcho && (t) != 0 && (t) != eT)
#else
#define STALE(b, a, t) (!HOLDER(b, a) && eEcho && (t) != 0 && (t) < eT)
#endif
/* delivering message i does not issue a ticket, or the count allows one */
#define PLACEABLE(i) (HOLDER(bt[PROC(i)], nm[PROC(i)]) || STALE(bt[PROC(i)], nm[PROC(i)], msgT[i]) || ticketN < MAXN)

#ifdef NO_P1
#define P1 true
#else
#define P1 (!(eArmed && !wd && guests))
#endif
/* P3: an ack taken is out, in the Ready being built, or due with its record */
#define P3 (!owe || ackIn || oAck || uAck && unsaved != 0)
#ifdef NO_STOP_LIST
#define STOPPED(p) false
#else
#define STOPPED(p) (nm[p] != 0 && (stp & BIT(p)) != 0)
#endif

/* e.persistWatchdog: h.record() joins e.out; grants start no guests until
 * Persisted confirms it */
inline persistWatchdog() {
	otherPersist();
	/* a stop's ack not confirmed written rides with this record, which
	 * says the process stopped as that one did (the stop list only grows) */
	if :: unsaved == 0 -> uAck = false :: else -> oAck = oAck || uAck fi;
	unsaved = 1
}

/* e.persist(h) for any reason (an incident's, a failure's): the record
 * carries what the engine believes of the watchdog now */
inline otherPersist() {
	oRec = true; oBoot = eBoot; oArmed = eArmed; oSeq = eSeq; oT = eT; oAg = eAg; oEcho = eEcho; oStp = stp
}

/* e.place for a message of process p carrying ticket t: pl = 0 holder,
 * 1 stale, 2 issued */
inline place(p, t) {
	if
	:: HOLDER(bt[p], nm[p]) ->
		if :: t == eT && t != 0 -> eEcho = true :: else -> skip fi;
		pl = 0
	:: else ->
		if
		:: STALE(bt[p], nm[p], t) -> pl = 1
		:: else ->
			ticketN++;
			eT = TICKET(term, ticketN); eAg = nm[p]; eBoot = bt[p];
			eEcho = false; eArmed = false; eSeq = 0;
			if :: nm[p] == 0 -> eT = 0 :: else -> skip fi;
			pl = 2;
			printf("step %d: leader: ticket %d.%d to process %d (name %d, boot %d)\n", step, term, ticketN, p, nm[p], bt[p])
		fi
	fi
}

/* h.guestsSafe for a report of process p: gG. It reads the last record
 * known written (savedState); the variant reads what the engine believes,
 * as if the record in flight were written already */
#ifdef GUESTS_BEFORE_WRITE
#define W_T eT
#define W_AG eAg
#define W_BOOT eBoot
#define W_ARMED eArmed
#define W_STP stp
#else
#define W_T wT
#define W_AG wAg
#define W_BOOT wBoot
#define W_ARMED wArmed
#define W_STP wStp
#endif
inline guestsSafe(p, st) {
	if
	:: nm[p] == 0 ->
		gG = (eAg == 0 && W_BOOT == eBoot && W_AG == eAg && W_T == eT && W_ARMED == eArmed && W_STP == stp &&
		      W_BOOT == bt[p] && W_AG == 0 && !W_ARMED)
	:: else ->
		gG = (HOLDER(bt[p], nm[p]) && W_T == eT && W_AG == nm[p] && W_BOOT == bt[p] && (!W_ARMED || ar[p] && !st))
	fi
}

/* Engine.Grant for report s of process p, carrying ticket t; st: it says
 * Stopping */
inline grant(p, s, t, st) {
	if
	:: STALE(bt[p], nm[p], t) ->
		printf("step %d: leader: report %d.%d (ticket %d.%d) is stale: no grant\n", step, p, s, t/8, TN(t));
		assert(p != cur) /* P2 */
	:: else ->
		bB = eBoot; bA = eAg; bT = eT; bR = eArmed; bS = stp;
		place(p, t);
#ifndef STOPPING_UNLISTED
		/* only a process that sent its notice says Stopping: h.stopped */
		if :: st && nm[p] != 0 -> stp = stp | BIT(p) :: else -> skip fi;
#endif
		if :: pl == 0 && s >= eSeq && !st -> eSeq = s; eArmed = eEcho && ar[p] && !STOPPED(p) :: else -> skip fi;
		if :: bB != eBoot || bA != eAg || bT != eT || bR != eArmed || bS != stp -> persistWatchdog() :: else -> skip fi;
		gT = (HOLDER(bt[p], nm[p]) && eT == wT -> eT : 0);
		guestsSafe(p, st);
		printf("step %d: leader: grants report %d.%d (ticket %d.%d): holds %d.%d of %d/%d, echoed %d, armed %d; grant ticket %d.%d, guests %d\n",
			step, p, s, t/8, TN(t), eT/8, TN(eT), eAg, eBoot, eEcho, eArmed, gT/8, TN(gT), gG);
		/* the grant reaches its process (Contract.Granted): the ticket at
		 * any later moment, the guests at once (the earliest is the worst) */
		if
		:: p == cur && !done ->
			if
			:: gT != 0 && gT != dnT[0] && gT != dnT[1] ->
				if :: dnT[0] == 0 -> dnT[0] = gT :: dnT[0] != 0 && dnT[1] == 0 -> dnT[1] = gT :: else -> skip /* lost */ fi
			:: else -> skip
			fi;
			if :: gG && !guests -> guests = true; printf("step %d: host: guests start on boot %d\n", step, boot) :: else -> skip fi
		:: else -> skip
		fi
	fi
}

/* Engine.stopping for the stop notice s of process p, carrying ticket t */
inline stopNotice(p, s, t) {
	place(p, t);
	if
	:: pl == 1 ->
		printf("step %d: leader: stop notice %d.%d (ticket %d.%d) is stale: no ack\n", step, p, s, t/8, TN(t));
		assert(p != cur) /* P2 */
	:: pl == 0 && s < eSeq ->
		printf("step %d: leader: stop notice %d.%d is older than %d: no ack\n", step, p, s, eSeq)
	:: else ->
		eArmed = false; eSeq = s;
		if :: nm[p] != 0 -> stp = stp | BIT(p) :: else -> skip fi; /* h.stopped */
		persistWatchdog();
		/* h.unsavedAck = &a; e.out.Acks += a (only cur's ack can disarm) */
		uAck = (p == cur);
		/* h.unsavedAck holds one ack: a late notice of an ended process
		 * takes the place of cur's, which a failed write then loses for
		 * good (README, findings): P3 stops counting it */
		if :: p == cur -> oAck = true; owe = true :: else -> owe = false fi;
#ifdef ACK_BEFORE_WRITE
		if :: p == cur -> ackIn = true :: else -> skip fi;
#endif
		printf("step %d: leader: stop notice %d.%d: disarm to write, ack with it\n", step, p, s)
	fi
}

/* a leading engine receives message i */
inline deliver(i) {
	p_ = PROC(i); s_ = SEQ(i); t_ = msgT[i];
	if
	:: msgK[i] == REPORT -> grant(p_, s_, t_, false)
	:: msgK[i] == SREPORT -> grant(p_, s_, t_, true)
	:: msgK[i] == STOPN -> stopNotice(p_, s_, t_)
	fi
}

/* Tick, the controller writing its Ready (one fenced transaction), and
 * Persisted when it committed. how: 0 committed, 1 failed, 2 committed
 * but the controller saw an error (no Persisted, no acks) */
inline tick(how) {
	jn = false;
	if
	:: unsaved == 1 ->
		/* the Ready in the slot: still one that carried this state, if
		 * the state is the one it carried; before this Ready */
		if :: sl && (!rdy || uT != eT || uAg != eAg || uBoot != eBoot || uArmed != eArmed || uStp != stp) ->
			slIn = false; slGeF = false
		:: else -> skip fi;
		if :: sl -> slLeI = true :: else -> skip fi;
		unsaved = 2; jn = true; rdy = true; uT = eT; uAg = eAg; uBoot = eBoot; uArmed = eArmed; uStp = stp
	:: else -> skip
	fi;
	if
	:: how != 1 ->
		sHas = true; sBoot = oBoot; sArmed = oArmed; sSeq = oSeq; sT = oT; sAg = oAg; sEcho = oEcho; sStp = oStp
	:: else -> skip
	fi;
	ak = oAck && how == 0;
	if :: how == 3 -> sl = true; slIn = jn; slLeI = jn; slGeF = rdy; slAck = oAck :: else -> skip fi;
	oRec = false; oAck = false;
	printf("step %d: controller: write %d (0 ok, 1 failed, 2 committed unseen); store: ticket %d.%d of %d/%d, armed %d, echoed %d\n",
		step, how, sT/8, TN(sT), sAg, sBoot, sArmed, sEcho);
	if
	:: how == 0 && unsaved == 2 && jn ->
		unsaved = 0; wT = uT; wAg = uAg; wBoot = uBoot; wArmed = uArmed; wStp = uStp; uAck = false;
		rdy = false; slIn = false; slGeF = false
	:: how == 0 && unsaved == 2 && !jn ->
		/* an older Ready was never confirmed: its write failed; rewrite */
		persistWatchdog(); oAck = oAck || uAck
	:: else -> skip
	fi;
	if :: ak -> ackIn = true :: else -> skip fi
}

/* Persisted of the Ready in the slot */
#ifdef CONFIRM_ANY_READY
#ifndef SLOW_COMMITS
#define SLOW_COMMITS
#endif
#define SL_CONFIRMS (slGeF && slLeI)
#else
#define SL_CONFIRMS slIn
#endif
inline slowPersisted() {
	if
	:: unsaved == 2 && SL_CONFIRMS ->
		/* an ack that a later Ready of the same state carried, and lost
		 * with its failed write, is forgotten with the rest (README,
		 * findings: a controller that confirms late): P3 stops counting it */
		if :: uAck && !slAck -> owe = false :: else -> skip fi;
		unsaved = 0; wT = uT; wAg = uAg; wBoot = uBoot; wArmed = uArmed; wStp = uStp; uAck = false;
		rdy = false
	:: unsaved == 2 && !SL_CONFIRMS && !slLeI ->
		persistWatchdog(); oAck = oAck || uAck /* its Ready was never confirmed: written again */
	:: else -> skip
	fi;
	if :: slAck -> ackIn = true :: else -> skip fi;
	printf("step %d: controller: a slow commit confirmed (it carried the state %d)\n", step, slIn);
	sl = false; slIn = false; slLeI = false; slGeF = false; slAck = false
}

/* Unwritten, which the controller steps after a write that failed, or
 * that it could not tell from one (controller.Loop, on every error): the
 * host's record is written again with the next Ready, and so is the ack
 * it carried */
inline unwritten() {
	otherPersist();
	if :: unsaved == 2 -> unsaved = 1 :: else -> skip fi;
#ifndef UNWRITTEN_DROPS_ACK
	if :: unsaved != 0 -> oAck = oAck || uAck :: else -> skip fi;
#endif
	printf("step %d: controller: Unwritten: the record goes again\n", step)
}

/* a new leader: Leadership, then Restore (RestoreSnapshot with a record
 * written after the marker: the same) */
inline newEngine() {
	ticketN = 0; eT = 0; eAg = 0; eBoot = 0; eSeq = 0; eEcho = false; eArmed = false; stp = 0;
	unsaved = 0; uAck = false; oRec = false; oAck = false; owe = false;
	rdy = false; sl = false; slIn = false; slLeI = false; slGeF = false; slAck = false;
	if
	:: sHas ->
		eBoot = sBoot; eArmed = sArmed && sEcho; eSeq = sSeq; eT = sT; eAg = sAg; eEcho = sEcho; stp = sStp
		/* restore also raises ticketN to the record's count, so tickets
		 * stay apart if a leader were given an old token again; the
		 * model's tokens never repeat, and its count starts at 0: the
		 * same order, and MAXN bounds what each leader issues */
	:: else -> skip
	fi;
	wT = eT; wAg = eAg; wBoot = eBoot; wArmed = eArmed; wStp = stp
}

/* a process starts on the running boot, named n */
inline startProc(n) {
	cur++; nm[cur] = n; bt[cur] = boot; ar[cur] = hasWd;
	wd = hasWd; /* it opens the watchdog, or takes over the running one */
	stopping = false; done = false; tkd = false; sq = 0; dnT[0] = 0; dnT[1] = 0;
	ackIn = false; uAck = false; oAck = false; owe = false
}

inline reboot(w, same, unnamed) {
	boot++; hasWd = w; guests = false;
	k_ = (unnamed -> 0 : (same -> nm[cur] : cur + 1));
	startProc(k_);
	printf("step %d: host: reboot into boot %d (watchdog %d): process %d, name %d\n", step, boot, hasWd, cur, nm[cur])
}

/* what no longer matters is forgotten, so equal futures are one state;
 * then the property */
inline endStep() {
	/* h.unsavedState: read across steps only by the slot (its Persisted,
	 * and whether a later Ready carried the same state) */
#ifdef CONFIRM_ANY_READY
	if :: !rdy -> uT = 0; uAg = 0; uBoot = 0; uArmed = false; uStp = 0 :: else -> skip fi;
#else
	if :: !rdy || !sl || !slIn -> uT = 0; uAg = 0; uBoot = 0; uArmed = false; uStp = 0 :: else -> skip fi;
#endif
	if :: ackIn -> owe = false :: else -> skip fi;
	if :: unsaved == 0 -> uAck = false :: else -> skip fi;
	if :: !oRec -> oBoot = 0; oArmed = false; oSeq = 0; oT = 0; oAg = 0; oEcho = false; oStp = 0; oAck = false :: else -> skip fi;
	if :: !stopping || done -> ackIn = false; uAck = false; oAck = false; owe = false; slAck = false :: else -> skip fi;
	if :: done || stopping && sq == MAXSEQ -> tkd = false; dnT[0] = 0; dnT[1] = 0 :: else -> skip fi;
	if :: done -> sq = 0; stopping = false :: else -> skip fi;
	if :: dnT[0] < dnT[1] -> k_ = dnT[0]; dnT[0] = dnT[1]; dnT[1] = k_ :: else -> skip fi;
	if :: !pHas -> pRec = false; pBoot = 0; pArmed = false; pSeq = 0; pT = 0; pAg = 0; pEcho = false; pStp = 0 :: else -> skip fi;
	p_ = 0; s_ = 0; t_ = 0; k_ = 0; bB = 0; bA = 0; bT = 0; gT = 0; pl = 0; bR = false; bS = 0; gG = false; jn = false; ak = false;
	assert(P1);
	assert(P3);
#ifdef PROBE
	assert(!(PROBE)); /* a reachability probe (README): it must fail */
#endif
	skip
}

/* cur sends a report or its stop notice, carrying ticket t */
#define SEND(kind, t, cond, what) :: d_step { !done && !stopping && sq < MAXSEQ && (cond) -> step++; \
	sq++; msgK[(cur-1)*MAXSEQ + sq-1] = kind; msgT[(cur-1)*MAXSEQ + sq-1] = t; tkd = tkd || (t) != 0; \
	stopping = (kind == STOPN); \
	printf(what, step, cur, sq, msgT[(cur-1)*MAXSEQ + sq-1]/8, TN(msgT[(cur-1)*MAXSEQ + sq-1]), ar[cur]); \
	endStep() }
/* cur, waiting for its ack, goes on reporting: its reports say Stopping */
#ifdef NO_STOPPING
#define SKIND REPORT
#else
#define SKIND SREPORT
#endif
#define SSEND(t, cond) :: d_step { !done && stopping && sq < MAXSEQ && (cond) -> step++; \
	sq++; msgK[(cur-1)*MAXSEQ + sq-1] = SKIND; msgT[(cur-1)*MAXSEQ + sq-1] = t; tkd = tkd || (t) != 0; \
	printf("step %d: host: process %d, stopping, sends report %d (ticket %d.%d, armed %d, says Stopping %d)\n", step, cur, sq, (t)/8, TN(t), ar[cur], SKIND == SREPORT); \
	endStep() }
#define SENT_REPORT "step %d: host: process %d sends report %d (ticket %d.%d, armed %d)\n"
#define SENT_STOP "step %d: host: process %d stops cleanly: notice %d (ticket %d.%d, armed %d)\n"
#define DELIVER(i) :: d_step { i < NM && msgK[i] != 0 && PLACEABLE(i) -> step++; deliver(i); endStep() }

active proctype world() {
	d_step {
		if :: hasWd = true :: hasWd = false fi;
		nm[1] = 1; bt[1] = 1; ar[1] = hasWd; wd = hasWd
	}
	do
	/* the agent process */
	SEND(REPORT, 0, !tkd, SENT_REPORT)
	SEND(REPORT, dnT[0], dnT[0] != 0, SENT_REPORT)
	SEND(REPORT, dnT[1], dnT[1] != 0, SENT_REPORT)
	SEND(STOPN, 0, !tkd, SENT_STOP)
	SEND(STOPN, dnT[0], dnT[0] != 0, SENT_STOP)
	SEND(STOPN, dnT[1], dnT[1] != 0, SENT_STOP)
	SSEND(0, !tkd)
	SSEND(dnT[0], dnT[0] != 0)
	SSEND(dnT[1], dnT[1] != 0)
	:: d_step { ackIn && stopping && !done -> step++; wd = false; done = true;
		printf("step %d: host: process %d acked: watchdog disarmed, it exits\n", step, cur); endStep() }
	/* a restart on the same boot (after a crash, a stop, a wiped state) */
	:: d_step { cur < MAXPROC -> step++; k_ = cur + 1; startProc(k_);
		printf("step %d: host: process %d starts on boot %d (watchdog %d)\n", step, cur, boot, hasWd); endStep() }
	/* a reboot, into a boot that arms a watchdog or not; its agent names
	 * itself afresh, or as the last process did */
	:: d_step { boot < MAXBOOT && cur < MAXPROC -> step++; reboot(true, false, false); endStep() }
	:: d_step { boot < MAXBOOT && cur < MAXPROC -> step++; reboot(false, false, false); endStep() }
	:: d_step { boot < MAXBOOT && cur < MAXPROC && nm[cur] != 0 -> step++; reboot(true, true, false); endStep() }
	:: d_step { boot < MAXBOOT && cur < MAXPROC && nm[cur] != 0 -> step++; reboot(false, true, false); endStep() }
#ifndef NAMED_ONLY
	/* an old agent, that names no process */
	:: d_step { boot < MAXBOOT && cur < MAXPROC -> step++; reboot(true, false, true); endStep() }
	:: d_step { boot < MAXBOOT && cur < MAXPROC -> step++; reboot(false, false, true); endStep() }
#endif
	/* the network: any message any process sent, at any later moment */
	DELIVER(0)
	DELIVER(1)
	DELIVER(2)
	DELIVER(3)
	DELIVER(4)
	DELIVER(5)
#if NM > 6
	DELIVER(6)
	DELIVER(7)
	DELIVER(8)
	DELIVER(9)
	DELIVER(10)
	DELIVER(11)
#endif
	/* the controller */
	:: d_step { oRec -> step++; tick(0); endStep() }
	:: d_step { oRec -> step++; tick(1); endStep() }
	:: d_step { oRec -> step++; tick(2); endStep() }
	:: d_step { oRec -> step++; tick(1); unwritten(); endStep() }
	:: d_step { oRec -> step++; tick(2); unwritten(); endStep() }
	/* a Ready whose last record of the host was written for another
	 * reason (an incident's, a failure's): what the engine believes now */
	:: d_step { true -> step++; otherPersist(); tick(0); endStep() }
	:: d_step { true -> step++; otherPersist(); tick(1); endStep() }
	:: d_step { true -> step++; otherPersist(); tick(2); endStep() }
	:: d_step { true -> step++; otherPersist(); tick(1); unwritten(); endStep() }
#ifdef SLOW_COMMITS
	/* a Ready that commits, confirmed later (Persisted, after other Readies) */
	:: d_step { oRec && !sl -> step++; tick(3); endStep() }
	:: d_step { !oRec && !sl -> step++; sl = true; slGeF = rdy; /* a Ready without h's record */
		printf("step %d: controller: a Ready of other hosts, committing slowly\n", step); endStep() }
	:: d_step { sl -> step++; slowPersisted(); endStep() }
#endif
	:: d_step { unsaved == 2 -> step++; /* unconfirmed for rewriteAfter: e.rewrite */
		persistWatchdog(); oAck = oAck || uAck;
		printf("step %d: leader: record unconfirmed: written again\n", step); endStep() }
	/* etcd */
	:: d_step { term < MAXTERM -> step++; term++; newEngine();
		printf("step %d: failover: leader %d restores ticket %d.%d of %d/%d, armed %d, echoed %d\n", step, term, eT/8, TN(eT), eAg, eBoot, eArmed, eEcho);
		endStep() }
#ifdef NO_RESTORE_MARKER
	/* a snapshot taken now, restored later with plain Restore */
	:: d_step { snaps < MAXSNAP -> step++; pHas = true; pRec = sHas;
		pBoot = sBoot; pArmed = sArmed; pSeq = sSeq; pT = sT; pAg = sAg; pEcho = sEcho; pStp = sStp;
		printf("step %d: etcd: snapshot taken\n", step); endStep() }
	:: d_step { pHas && term < MAXTERM -> step++;
		sHas = pRec; sBoot = pBoot; sArmed = pArmed; sSeq = pSeq; sT = pT; sAg = pAg; sEcho = pEcho; sStp = pStp;
		pHas = false; snaps++;
		term++; /* --bump-revision: fencing tokens go on growing */
		newEngine();
		printf("step %d: etcd restored from the snapshot; leader %d restores ticket %d.%d of %d/%d, armed %d, echoed %d\n", step, term, eT/8, TN(eT), eAg, eBoot, eArmed, eEcho);
		endStep() }
#else
	/* the store restored from a snapshot taken at any earlier moment, with
	 * --bump-revision (the token goes on growing) and the restore marker.
	 * Every record it holds was written before the marker, so
	 * RestoreSnapshot keeps nothing of what it says of the watchdog but
	 * its ticket's count, which only keeps the new leader's tickets apart
	 * from those of its own term, and its term is new: whatever the
	 * snapshot held, the new leader reads no record of the watchdog, and
	 * until it writes one neither does any successor */
	:: d_step { snaps < MAXSNAP && term < MAXTERM -> step++;
		sHas = false; sBoot = 0; sArmed = false; sSeq = 0; sT = 0; sAg = 0; sEcho = false;
		sStp = 0; /* a snapshot from before every stop */
		snaps++; term++; newEngine();
		printf("step %d: etcd restored from an older snapshot, with the marker; leader %d\n", step, term);
		endStep() }
	:: d_step { snaps < MAXSNAP && term < MAXTERM && sStp != 0 -> step++;
		/* one from after every stop: RestoreSnapshot keeps the stop list */
		sHas = true; sBoot = 0; sArmed = false; sSeq = 0; sT = 0; sAg = 0; sEcho = false;
		snaps++; term++; newEngine();
		printf("step %d: etcd restored from a snapshot, with the marker, that keeps the stops; leader %d\n", step, term);
		endStep() }
#endif
	od
}
