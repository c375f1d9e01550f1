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
 *       agent process (the last one started: one runs at a time).
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
 * NO_P1 checks P2 alone (run.sh: NO_RESTORE_MARKER's holds with it).
 * "-DPROBE='expr'" asserts that expr is never true: a reachability probe, whose
 * counterexample shows a state the model must reach (README).
 */

/* ---- bounds ---- */
#ifndef MAXPROC
#define MAXPROC 3       /* agent processes, 1..MAXPROC, one after another */
#endif
#ifndef MAXSEQ
#define MAXSEQ 2        /* messages per process (reports, then maybe a stop) */
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
bool sHas;              /* the record: boot (armed or off), seq, ticket, agent, echoed */
byte sBoot, sSeq, sT, sAg;
bool sArmed, sEcho;
bool pHas, pRec;        /* a snapshot was taken (pRec: the store held a record then) */
byte pBoot, pSeq, pT, pAg;
bool pArmed, pEcho;

/* ---- the leader's engine, for this host (decision/grant.go, host.go) ---- */
byte ticketN;           /* Engine.ticketN */
byte eT, eAg, eBoot, eSeq; /* h.ticket, tAgent, grantBoot, grantSeq */
bool eEcho, eArmed;     /* h.echoed, grantArmed */
byte wT, wAg, wBoot;    /* h.savedState: what the last record known written says */
bool wArmed;
byte unsaved;           /* h.watchdogUnsaved: 0 none, 1 changed, 2 writing (not confirmed) */
byte uT, uAg, uBoot;    /* h.unsavedState */
bool uArmed;
bool uAck;              /* h.unsavedAck is the ack of cur's stop */
bool oRec;              /* e.out holds a record of h (the last one counts) */
byte oBoot, oSeq, oT, oAg;
bool oArmed, oEcho;
bool oAck;              /* e.out.Acks holds the ack of cur's stop */

hidden int step;        /* for the trail only */
hidden byte p_, s_, t_, k_, bB, bA, bT, gT, pl;
hidden byte bR, gG, jn, ak;

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

/* e.persistWatchdog: h.record() joins e.out; grants start no guests until
 * Persisted confirms it */
inline persistWatchdog() {
	otherPersist();
	if :: unsaved == 0 -> uAck = false :: else -> skip fi;
	unsaved = 1
}

/* e.persist(h) for any reason (an incident's, a failure's): the record
 * carries what the engine believes of the watchdog now */
inline otherPersist() {
	oRec = true; oBoot = eBoot; oArmed = eArmed; oSeq = eSeq; oT = eT; oAg = eAg; oEcho = eEcho
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
#else
#define W_T wT
#define W_AG wAg
#define W_BOOT wBoot
#define W_ARMED wArmed
#endif
inline guestsSafe(p) {
	if
	:: nm[p] == 0 ->
		gG = (eAg == 0 && W_BOOT == eBoot && W_AG == eAg && W_T == eT && W_ARMED == eArmed &&
		      W_BOOT == bt[p] && W_AG == 0 && !W_ARMED)
	:: else ->
		gG = (HOLDER(bt[p], nm[p]) && W_T == eT && W_AG == nm[p] && W_BOOT == bt[p] && (!W_ARMED || ar[p]))
	fi
}

/* Engine.Grant for report s of process p, carrying ticket t */
inline grant(p, s, t) {
	if
	:: STALE(bt[p], nm[p], t) ->
		printf("step %d: leader: report %d.%d (ticket %d.%d) is stale: no grant\n", step, p, s, t/8, TN(t));
		assert(p != cur) /* P2 */
	:: else ->
		bB = eBoot; bA = eAg; bT = eT; bR = eArmed;
		place(p, t);
		if :: pl == 0 && s >= eSeq -> eSeq = s; eArmed = eEcho && ar[p] :: else -> skip fi;
		if :: bB != eBoot || bA != eAg || bT != eT || bR != eArmed -> persistWatchdog() :: else -> skip fi;
		gT = (HOLDER(bt[p], nm[p]) && eT == wT -> eT : 0);
		guestsSafe(p);
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
		persistWatchdog();
		/* h.unsavedAck = &a; e.out.Acks += a (only cur's ack can disarm) */
		uAck = (p == cur);
		if :: p == cur -> oAck = true :: else -> skip fi;
		printf("step %d: leader: stop notice %d.%d: disarm to write, ack with it\n", step, p, s)
	fi
}

/* a leading engine receives message i */
inline deliver(i) {
	p_ = PROC(i); s_ = SEQ(i); t_ = msgT[i];
	if
	:: msgK[i] == REPORT -> grant(p_, s_, t_)
	:: msgK[i] == STOPN -> stopNotice(p_, s_, t_)
	fi
}

/* Tick, the controller writing its Ready (one fenced transaction), and
 * Persisted when it committed. how: 0 committed, 1 failed, 2 committed
 * but the controller saw an error (no Persisted, no acks) */
inline tick(how) {
	jn = false;
	if :: unsaved == 1 -> unsaved = 2; jn = true; uT = eT; uAg = eAg; uBoot = eBoot; uArmed = eArmed :: else -> skip fi;
	if
	:: how != 1 ->
		sHas = true; sBoot = oBoot; sArmed = oArmed; sSeq = oSeq; sT = oT; sAg = oAg; sEcho = oEcho
	:: else -> skip
	fi;
	ak = oAck && how == 0;
	oRec = false; oAck = false;
	printf("step %d: controller: write %d (0 ok, 1 failed, 2 committed unseen); store: ticket %d.%d of %d/%d, armed %d, echoed %d\n",
		step, how, sT/8, TN(sT), sAg, sBoot, sArmed, sEcho);
	if
	:: how == 0 && unsaved == 2 && jn ->
		unsaved = 0; wT = uT; wAg = uAg; wBoot = uBoot; wArmed = uArmed; uAck = false
	:: how == 0 && unsaved == 2 && !jn ->
		/* an older Ready was never confirmed: its write failed; rewrite */
		persistWatchdog(); oAck = oAck || uAck
	:: else -> skip
	fi;
	if :: ak -> ackIn = true :: else -> skip fi
}

/* a new leader: Leadership, then Restore (RestoreSnapshot with a record
 * written after the marker: the same) */
inline newEngine() {
	ticketN = 0; eT = 0; eAg = 0; eBoot = 0; eSeq = 0; eEcho = false; eArmed = false;
	unsaved = 0; uAck = false; oRec = false; oAck = false;
	if
	:: sHas ->
		eBoot = sBoot; eArmed = sArmed && sEcho; eSeq = sSeq; eT = sT; eAg = sAg; eEcho = sEcho
		/* restore also raises ticketN to the record's count, so tickets
		 * stay apart if a leader were given an old token again; the
		 * model's tokens never repeat, and its count starts at 0: the
		 * same order, and MAXN bounds what each leader issues */
	:: else -> skip
	fi;
	wT = eT; wAg = eAg; wBoot = eBoot; wArmed = eArmed
}

/* a process starts on the running boot, named n */
inline startProc(n) {
	cur++; nm[cur] = n; bt[cur] = boot; ar[cur] = hasWd;
	wd = hasWd; /* it opens the watchdog, or takes over the running one */
	stopping = false; done = false; tkd = false; sq = 0; dnT[0] = 0; dnT[1] = 0;
	ackIn = false; uAck = false; oAck = false
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
	uT = 0; uAg = 0; uBoot = 0; uArmed = false; /* read only inside tick */
	if :: unsaved == 0 -> uAck = false :: else -> skip fi;
	if :: !oRec -> oBoot = 0; oArmed = false; oSeq = 0; oT = 0; oAg = 0; oEcho = false; oAck = false :: else -> skip fi;
	if :: !stopping || done -> ackIn = false; uAck = false; oAck = false :: else -> skip fi;
	if :: stopping || done -> tkd = false; dnT[0] = 0; dnT[1] = 0 :: else -> skip fi;
	if :: done -> sq = 0; stopping = false :: else -> skip fi;
	if :: dnT[0] < dnT[1] -> k_ = dnT[0]; dnT[0] = dnT[1]; dnT[1] = k_ :: else -> skip fi;
	if :: !pHas -> pRec = false; pBoot = 0; pArmed = false; pSeq = 0; pT = 0; pAg = 0; pEcho = false :: else -> skip fi;
	p_ = 0; s_ = 0; t_ = 0; k_ = 0; bB = 0; bA = 0; bT = 0; gT = 0; pl = 0; bR = false; gG = false; jn = false; ak = false;
	assert(P1);
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
	/* a Ready whose last record of the host was written for another
	 * reason (an incident's, a failure's): what the engine believes now */
	:: d_step { true -> step++; otherPersist(); tick(0); endStep() }
	:: d_step { true -> step++; otherPersist(); tick(1); endStep() }
	:: d_step { true -> step++; otherPersist(); tick(2); endStep() }
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
		pBoot = sBoot; pArmed = sArmed; pSeq = sSeq; pT = sT; pAg = sAg; pEcho = sEcho;
		printf("step %d: etcd: snapshot taken\n", step); endStep() }
	:: d_step { pHas && term < MAXTERM -> step++;
		sHas = pRec; sBoot = pBoot; sArmed = pArmed; sSeq = pSeq; sT = pT; sAg = pAg; sEcho = pEcho;
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
		snaps++; term++; newEngine();
		printf("step %d: etcd restored from an older snapshot, with the marker; leader %d\n", step, term);
		endStep() }
#endif
	od
}
