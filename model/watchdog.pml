/*
 * vigil's watchdog self-fence contract (docs/architecture.md, "The watchdog
 * contract"), as a Promela model for Spin. See model/README.md.
 *
 * Safety: vigil never treats a host as self-fenced while it can still run
 * guests. Checked two ways:
 *   - when a leading controller concludes "host h self-fenced" (its armed
 *     belief, now - max(G_H, leaderSince) >= S on its own clock), the boot it
 *     names is not running and h runs no guest;
 *   - in every state, a self-fence in the store (what evacuations are
 *     journaled against) has h run no guest and not run the boot it names.
 *
 * One process; every event is atomic; real time moves in ticks (tick()).
 * The network loses, delays and reorders any message: every partition of
 * any shape, at any moment, is one pattern of losses.
 *
 * Unsound variants (each must give a counterexample), e.g. spin -DPEER_FEEDS:
 *   PEER_FEEDS           a peer merely answering feeds the watchdog
 *   FRESH_CLOCK          an agent restart starts a fresh isolation clock
 *   DISARM_WITHOUT_ACK   a clean stop disarms without the leader's ack
 *   NO_ELECTION_FLOOR    a successor counts from the grant time in the store
 *   GRANT_FROM_RECEIPT   the agent counts a grant from its arrival
 *   ZOMBIE_GRANTS        a leader whose lease view ended goes on granting
 *   NO_START_GATE        a host starts guests without a fresh grant
 *   NO_SEQ               a report sent before a stop notice re-arms the belief
 *   ACK_BEFORE_PERSIST   the ack goes out although the disarm was not written
 *   TRANSIENT_WRITE_FAIL a failed store write does not end the leader's term
 *   SHORT_S              assume_dead_after one tick below what the clocks need
 *   BOOT_UNORDERED       as grant.go is (2026-12): boots are unordered ids, and
 *                        a late report of a dead boot re-arms the belief
 *   STOP_NOT_RECORDED    as grant.go/host.go are (2026-12): the store keeps a
 *                        host's boot and sequence only while armed, and a stop
 *                        of a boot not known armed writes nothing
 *
 * TIMEOUTS: each agent process has its own isolation timeout and sets its
 * own device timeout, each the configured one or one tick longer (an agent
 * configured apart from the controllers, a device that rounds up); its
 * reports say both. The sound model counts a watchdog only when both are
 * within the configuration (Engine.watchdogCounts), and a restarted process
 * resumes its predecessor's grant by the rules of agent.NewContract and
 * SetWatchdogTimeout (Saved.Sent, Saved.WatchdogTimeout). Variants, with it:
 *   NO_TIMEOUT_CHECK     a watchdog counts whatever timeouts its agent reports
 *   RESUME_EXPIRY        a restarted process resumes its predecessor's expiry,
 *                        not its own isolation from the report's send time
 *   RESUME_LONGER_WD     a restarted process that sets a longer device timeout
 *                        than its predecessor's grant was earned with feeds
 *                        that grant in full
 *
 * DEVICE: the device as Linux has it (docs/architecture.md, "The device
 * itself"). An agent process opens it only on a valid grant and then holds
 * it (one holder at a time); its reports say armed only while it holds it.
 * Every touch (open, timeout set, feed) follows a check that found a valid
 * grant, and may land any time later (the process stopped or starved in
 * between): one late touch per check. A close without the magic character
 * (a crash, an exit without the ack) pings the timer once more. The safe
 * time counts three timer intervals after the grant. Variants, with it:
 *   OPEN_AT_START        the agent opens the device when it starts, grant or
 *                        not (vigil before 451bab2)
 *   MANY_LATE_TOUCHES    one check lets a stalled process touch the device
 *                        again and again (a loop that feeds on an old reading)
 *   SHORT_S, -DS=6       the safe time a tick short of what the three
 *                        intervals need, or counting one (as before the
 *                        device rule): a late touch and the release ping
 *                        outlive it
 *   GUESTS_UNSAVED       a grant lets guests start before the record placing
 *                        the boot is written (a zombie's grant to a new boot)
 * With TIMEOUTS too, a grant carries the leader's isolation and watchdog
 * timeouts and no process holds a grant, or sets its device, longer:
 *   NO_GRANT_CAP         a process counts a zombie's grant with its own longer
 *                        timeouts while a successor restores its predecessor's
 *                        armed record (vigil before the grant carried them)
 */

/* ---- constants (ticks) ---- */
#ifndef H
#define H 1             /* hosts modelled in full; see README: the engine's
                         * grant state is per host, a relay is transport */
#endif
#define C 2             /* controllers */
#ifndef D
#define D 1             /* isolation_timeout */
#endif
#ifndef W
#define W 1             /* watchdog_timeout */
#endif
#ifndef DRIFT
#define DRIFT 1         /* a clock may stretch or shrink each interval by this */
#endif
#ifdef DEVICE
#define NW 3            /* timer intervals after the grant: the last touch
                         * under it, one late touch, the release ping */
#else
#define NW 1
#endif
#ifndef S
/* assume_dead_after, the model's safe minimum: the grant ends by t_s + D +
 * DRIFT, the reset comes W + DRIFT after the last touch under it, a fast
 * controller concludes DRIFT early, a tie counts against vigil; each touch
 * after that one (DEVICE: the late touch, the release ping) lands while
 * the timer still has a tick to run, so adds W + DRIFT - 1 (W in real time) */
#define S (D + W + 3*DRIFT + 1 + (NW-1)*(W + DRIFT - 1))
#endif
#ifdef SHORT_S
#define SS (S - 1)
#else
#define SS S
#endif
#define L (2*DRIFT + 2)  /* etcd lease TTL: a fast leader's view still spans two ticks */
#ifndef MAXBOOT
#define MAXBOOT 2       /* boots 1..MAXBOOT per host (0 = none) */
#endif
#ifndef MAXEP
#define MAXEP 1         /* clean stops per boot */
#endif
#ifndef MAXTERM
#define MAXTERM 2       /* elections: the first leader and one successor */
#endif
#ifndef U
#define U 2             /* in-flight slots host -> controllers, per host (1 or 2) */
#endif
#ifndef DN
#define DN 1            /* in-flight slots controllers -> host, per host (1 or 2) */
#endif
#define NONE 2          /* etcd holder: nobody */
#ifdef TIMEOUTS
#define AGEMAX (D + DRIFT + 2) /* a report this old earns nothing, even with the longer timeout */
#else
#define AGEMAX (D + DRIFT + 1) /* a report this old earns nothing */
#endif
#define SINCEMAX (SS + DRIFT + 1)

/* message kinds */
#define MREPORT 1
#define MSTOP 2
#define MGRANT 1
#define MACK 2

/* ---- hosts and agents ---- */
bool on[H];
byte boot[H];           /* current boot, 1..MAXBOOT */
bool agent[H];          /* agent process running */
bool armed[H];          /* /dev/watchdog open: the hardware timer runs */
byte wd[H];             /* watchdog ticks left; reset when it reaches 0 */
byte gl[H];             /* grant: valid while >= 1 (persisted with the boot) */
bool gguests[H];        /* the grant allows guest starts */
bool guests[H];         /* h runs guests */
byte ep[H];             /* the agent's sequence within the boot (stops so far) */
bool stopping[H];       /* a clean stop waits for the leader's ack */
byte offH[H];           /* the host clock's stretch: 0, DRIFT or 2*DRIFT, minus DRIFT */
byte offW[H];           /* the watchdog timer's own stretch */
#ifdef DEVICE
bool held[H];           /* the running agent process holds the device open */
bool pend[H];           /* a touch its check allowed has not landed yet */
bool upArm[H*U];        /* a report's SelfReport.WatchdogArmed: it held the device */
#define REPARMED(s) upArm[s]
#else
#define REPARMED(s) true
#endif
#ifdef TIMEOUTS
bool isoL[H];           /* the running agent's isolation timeout is D + 1 (else D) */
bool wdL[H];            /* the device's timeout is W + 1 (else W), as the agent last set it */
byte gAge[H];           /* real ticks since the report whose grant set gl was sent */
bool gWdL[H];           /* the device timeout that grant was earned with (Saved.WatchdogTimeout) */
bool upIsoL[H*U];       /* a report's timeouts: SelfReport.IsolationTimeout, WatchdogTimeout */
bool upWdL[H*U];
byte pg[H];             /* the running (or last) agent process of the boot, 1..MAXSTART */
byte upPg[H*U];         /* the process that sent a report (SelfReport.Agent) */
byte dnPg[H*DN];        /* the process whose report a grant answers (Grant.Agent) */
byte gpg[C*H];          /* the process the leader follows (the ticket's holder) */
byte sPg[H];            /* the store's: WatchdogAgent */
#ifndef MAXSTART
#define MAXSTART 3      /* agent processes per boot */
#endif
#define ISO(h) (D + isoL[h])
#if defined(DEVICE) && !defined(NO_GRANT_CAP)
#define ISOG(h) D       /* min(its own, the grant's): never longer than D */
#define DEVSET(h) false /* it asks the device for min(its own, the grant's W) */
#else
#define ISOG(h) ISO(h)
#define DEVSET(h) wdL[h]
#endif
#ifdef DEVICE
bool devL[H];           /* the device's own timeout is W + 1: the agent sets
                         * its wdL at the open, under the grant; until then
                         * the device keeps its predecessor's */
#define WDT(h) (W + devL[h])
#else
#define WDT(h) (W + wdL[h])
#endif
#else
#define ISO(h) D
#define WDT(h) W
#endif

/* in flight, host -> controllers (index h*U+k): a report or a stop notice */
byte upKind[H*U];
byte upBoot[H*U];
byte upEp[H*U];
byte upAge[H*U];        /* real ticks since the agent sent it */
/* in flight, controllers -> host (index h*DN+k): a grant or an ack */
byte dnKind[H*DN];
byte dnBoot[H*DN];
byte dnEp[H*DN];
byte dnAge[H*DN];       /* real ticks since the agent sent the report */
bool dnGuests[H*DN];

/* ---- etcd: lease, fencing token, and the store ---- */
byte holder = NONE;
byte lease;             /* ticks left on etcd's clock */
byte curTok;            /* the leader key's revision: bumps every election */
bool sArmed[H];         /* the armed boot record, per host */
byte sBoot[H];
byte sEp[H];
bool sFenced[H];        /* a journaled self-fence */
byte sFboot[H];
#ifdef NO_ELECTION_FLOOR
byte sSince[H];         /* ticks since the armed record was written */
#endif

/* ---- controllers (engine state per host at index c*H+h) ---- */
bool leading[C];        /* believes it leads: its own view of the lease */
byte view[C];           /* ticks left of its lease view */
bool zomb[C];           /* lost etcd: writes nothing, acks nothing */
byte tok[C];
byte offC[C];           /* each controller's clock stretch, as offH */
byte term;              /* elections so far */
#ifdef ZOMBIE_GRANTS
bool lost[C];           /* view ended, but it goes on answering */
#endif
byte since[C*H];        /* ticks since max(G_H, leaderSince) */
byte gboot[C*H];        /* grantBoot */
bool garmed[C*H];       /* grantArmed */
byte gep[C*H];          /* grantSeq */
bool fenced[C*H];       /* concluded: boot fboot self-fenced */
byte fboot[C*H];

hidden byte i, j, k, x;
hidden int rt;          /* real time, for the trail only (not state) */
hidden byte b1;

/* a stretch o in {0, DRIFT, 2*DRIFT} applied to an interval n */
#define STRETCH(n, o) ((n) + (o) - DRIFT)

#define ARMEDBOOT(ch) (garmed[ch] -> gboot[ch] : 0)
#define CANWRITE(c) (holder == (c) && curTok == tok[c] && !zomb[c])

/* the property, over the store */
#define SAFE(h) (!sFenced[h] || (!guests[h] && !(on[h] && boot[h] == sFboot[h])))
#if H == 1
#define INV SAFE(0)
#else
#define INV (SAFE(0) && SAFE(1))
#endif

inline clearHost(h) {
	on[h] = false; agent[h] = false; armed[h] = false; wd[h] = 0; gl[h] = 0;
	gguests[h] = false; guests[h] = false; ep[h] = 0; stopping[h] = false
#ifdef DEVICE
	; held[h] = false; pend[h] = false
#endif
#ifdef TIMEOUTS
	; isoL[h] = false; wdL[h] = false; gAge[h] = 0; gWdL[h] = false; pg[h] = 0
#ifdef DEVICE
	; devL[h] = false
#endif
#endif
}

inline clearCtl(c) {
	leading[c] = false; view[c] = 0; zomb[c] = false; tok[c] = 0;
	for (x : 0 .. H-1) {
		since[c*H+x] = 0; gboot[c*H+x] = 0; garmed[c*H+x] = false;
		gep[c*H+x] = 0; fenced[c*H+x] = false; fboot[c*H+x] = 0
#ifdef TIMEOUTS
		; gpg[c*H+x] = 0
#endif
	}
}

/* the engine's records of h, written with the leader's token */
inline persist(c, h) {
	sArmed[h] = garmed[c*H+h];
#ifdef STOP_NOT_RECORDED
	/* Record{WatchdogBoot, WatchdogSeq} only while armed (host.go, record) */
	sBoot[h] = (garmed[c*H+h] -> gboot[c*H+h] : 0); sEp[h] = (garmed[c*H+h] -> gep[c*H+h] : 0);
#else
	/* the boot and sequence last heard, armed or disarmed */
	sBoot[h] = gboot[c*H+h]; sEp[h] = gep[c*H+h];
#endif
	sFenced[h] = fenced[c*H+h]; sFboot[h] = fboot[c*H+h];
#ifdef TIMEOUTS
	sPg[h] = gpg[c*H+h];
#endif
#ifdef NO_ELECTION_FLOOR
	sSince[h] = since[c*H+h];
#endif
}

/* a write that fails: the sound model ends the leader's writing for the
 * term (the simulator's zombie); the variant lets the next one succeed */
/* the grant's word on guests (Grant.Guests): no self-fence held and, with
 * the device rule, what the leader believes of the boot is what the store
 * holds (guestsSafe's savedState): a boot no successor would know of starts
 * no guests */
#if defined(DEVICE) && !defined(GUESTS_UNSAVED)
#define GUESTS(c, h) (!fenced[(c)*H+(h)] && sBoot[h] == gboot[(c)*H+(h)] && sArmed[h] == garmed[(c)*H+(h)])
#else
#define GUESTS(c, h) (!fenced[(c)*H+(h)])
#endif

inline writeFails(c) {
#ifndef TRANSIENT_WRITE_FAIL
	zomb[c] = true
#else
	skip
#endif
}

/* the feed: an agent feeds only while it holds a valid grant */
#ifdef DEVICE
#define HOLDS(h) held[h]
#else
#define HOLDS(h) armed[h]
#endif
inline feed(h) {
	if
	:: on[h] && agent[h] && HOLDS(h) && gl[h] >= 1 -> wd[h] = STRETCH(WDT(h), offW[h])
	:: else -> skip
	fi
}

/* the process's close without the magic character: Linux pings the
 * timer once more, and it runs on (watchdog_release) */
inline release(h) {
#ifdef DEVICE
	if
	:: held[h] -> wd[h] = STRETCH(WDT(h), offW[h]); held[h] = false;
		printf("t=%d h%d: the device is closed without the magic character: pinged\n", rt, h)
	:: else -> skip
	fi;
	pend[h] = false
#else
	skip
#endif
}

inline sendDown(h, kind, bt, e, age, g, il, wl) {
	if
	:: dnKind[h*DN] == 0 -> k = h*DN
	:: else -> if :: DN > 1 && dnKind[h*DN+DN-1] == 0 -> k = h*DN+DN-1 :: else -> k = 255 fi
	fi;
	if
	:: k != 255 -> dnKind[k] = kind; dnBoot[k] = bt; dnEp[k] = e; dnAge[k] = age; dnGuests[k] = g
#ifdef TIMEOUTS
		; dnPg[k] = il
#endif
	:: else -> skip /* no room: lost */
	fi;
	k = 0
}

/* Engine.Grant for a report of boot bt, sequence e, sent age ticks ago */
inline grant(c, h, bt, e, age, ok, q) {
	x = c*H+h;
	if
	:: fenced[x] && fboot[x] == bt -> printf("t=%d c%d: refuses boot %d of h%d: counted as self-fenced\n", rt, c, bt, h) /* ErrBootFenced */
#ifdef TIMEOUTS
	/* tickets.pml's order, abstracted: a late report of a process older
	 * than the one the leader follows is stale (no grant), or placed anew
	 * (a grant, no watchdog counted until an echo); a newer process's
	 * first report is followed at once, as if its echo came with it
	 * (the earliest the leader could count it) */
	:: gboot[x] == bt && q < gpg[x] -> printf("t=%d c%d: a late report of process %d of h%d: stale\n", rt, c, q, h)
	:: gboot[x] == bt && q < gpg[x] -> gpg[x] = q; garmed[x] = false; since[x] = 0;
		if :: CANWRITE(c) -> persist(c, h) :: else -> writeFails(c) fi;
		sendDown(h, MGRANT, bt, 0, age, GUESTS(c, h), q, false);
		printf("t=%d c%d: a late report of process %d of h%d placed anew: not armed\n", rt, c, q, h)
#endif
#ifndef BOOT_UNORDERED
	:: bt < gboot[x] -> printf("t=%d c%d: refuses boot %d of h%d: it heard boot %d since\n", rt, c, bt, h, gboot[x])
#endif
	:: else ->
		b1 = ok; /* armed, and it counts: its timeouts are within the configuration */
#ifndef NO_SEQ
		if :: gboot[x] == bt && e < gep[x] -> b1 = garmed[x] :: else -> skip fi;
#endif
		j = ARMEDBOOT(x);
		if :: gboot[x] != bt || garmed[x] != b1 || e > gep[x] -> gep[x] = e :: else -> skip fi;
		since[x] = 0; gboot[x] = bt; garmed[x] = b1;
#ifdef TIMEOUTS
		gpg[x] = q;
#endif
		if
#ifdef DEVICE
		/* the record placing the boot, too (tickets.pml): its guests wait for it */
		:: ARMEDBOOT(x) != j || sBoot[h] != bt || sArmed[h] != b1 ->
#else
		:: ARMEDBOOT(x) != j ->
#endif
			if :: CANWRITE(c) -> persist(c, h) :: else -> writeFails(c) fi
		:: else -> skip
		fi;
		sendDown(h, MGRANT, bt, 0, age, GUESTS(c, h), q, false);
		printf("t=%d c%d: grants h%d boot %d (report sent %d ago, seq %d, armed %d, guests %d)\n", rt, c, h, bt, age, e, b1, GUESTS(c, h))
	fi;
	x = 0; j = 0; b1 = false
}

/* Engine.stopping, then the controller's apply: records first, then acks */
inline stopNotice(c, h, bt, e) {
	x = c*H+h;
	if
	:: gboot[x] == bt && e < gep[x] -> printf("t=%d c%d: ignores an old stop notice of h%d\n", rt, c, h) /* not the last word */
#ifndef BOOT_UNORDERED
	:: bt < gboot[x] -> printf("t=%d c%d: ignores a stop notice of an older boot of h%d\n", rt, c, h)
#endif
	:: else ->
		j = ARMEDBOOT(x);
		gboot[x] = bt; garmed[x] = false; gep[x] = e;
		if
		:: CANWRITE(c) ->
#ifdef STOP_NOT_RECORDED
			if :: j != 0 -> persist(c, h) :: else -> skip fi; /* grant.go: if was != "" */
#else
			persist(c, h); /* the notice's boot and sequence, even if nothing was armed */
#endif
			sendDown(h, MACK, bt, e, 0, false, false, false);
			printf("t=%d c%d: h%d boot %d stops: disarm written, ack sent\n", rt, c, h, bt)
		:: else ->
			writeFails(c);
			printf("t=%d c%d: h%d boot %d stops: cannot write, no ack\n", rt, c, h, bt);
#ifdef ACK_BEFORE_PERSIST
			sendDown(h, MACK, bt, e, 0, false, false, false);
#endif
			skip
		fi
	fi;
	x = 0; j = 0
}

/* a leading controller receives in-flight message s of host h */
inline deliverUp(c, h, s) {
	if
#ifdef TIMEOUTS
#ifdef NO_TIMEOUT_CHECK
	:: upKind[s] == MREPORT -> grant(c, h, upBoot[s], upEp[s], upAge[s], REPARMED(s), upPg[s])
#else
	:: upKind[s] == MREPORT -> grant(c, h, upBoot[s], upEp[s], upAge[s], REPARMED(s) && !upIsoL[s] && !upWdL[s], upPg[s])
#endif
#else
	:: upKind[s] == MREPORT -> grant(c, h, upBoot[s], upEp[s], upAge[s], REPARMED(s), 0)
#endif
	:: upKind[s] == MSTOP -> stopNotice(c, h, upBoot[s], upEp[s])
	fi;
	upKind[s] = 0; upBoot[s] = 0; upEp[s] = 0; upAge[s] = 0
#ifdef TIMEOUTS
	; upIsoL[s] = false; upWdL[s] = false; upPg[s] = 0
#endif
#ifdef DEVICE
	; upArm[s] = false
#endif
}

/* host h's agent receives in-flight message s */
inline deliverDown(h, s) {
	if
#ifdef TIMEOUTS
	:: dnKind[s] == MGRANT && on[h] && agent[h] && boot[h] == dnBoot[s] && dnPg[s] == pg[h] ->
#else
	:: dnKind[s] == MGRANT && on[h] && agent[h] && boot[h] == dnBoot[s] ->
#endif
#ifdef GRANT_FROM_RECEIPT
		j = STRETCH(D, offH[h]) + 1;
#else
#ifdef TIMEOUTS
		/* its own report's grant: t_s + its own isolation timeout, with
		 * DEVICE never longer than the leader's, which the grant carries
		 * (Grant.IsolationTimeout) */
		j = (STRETCH(ISOG(h), offH[h]) + 1 > dnAge[s] -> STRETCH(ISOG(h), offH[h]) + 1 - dnAge[s] : 0);
#else
		/* valid until t_s + D on the agent's clock, whenever it arrives */
		j = (STRETCH(D, offH[h]) + 1 > dnAge[s] -> STRETCH(D, offH[h]) + 1 - dnAge[s] : 0);
#endif
#endif
		if :: j > gl[h] -> gl[h] = j;
#ifdef TIMEOUTS
			gAge[h] = dnAge[s]; gWdL[h] = wdL[h];
#endif
			skip
		:: else -> skip fi;
		gguests[h] = dnGuests[s];
		printf("t=%d h%d: grant arrives (report sent %d ago): grant left %d, guests %d\n", rt, h, dnAge[s], gl[h], gguests[h]);
		feed(h);
		j = 0
	:: dnKind[s] == MACK && on[h] && agent[h] && stopping[h] && boot[h] == dnBoot[s] && ep[h] == dnEp[s] ->
		/* magic close: the watchdog stops; the agent exits */
#ifdef DEVICE
		/* only a process that holds the device can close it (Keeper.Acked) */
		if :: held[h] -> armed[h] = false; wd[h] = 0 :: else -> skip fi;
		held[h] = false; pend[h] = false;
#else
		armed[h] = false; wd[h] = 0;
#endif
		agent[h] = false; stopping[h] = false;
		printf("t=%d h%d: ack arrives: watchdog disarmed, agent exits\n", rt, h)
	:: else -> skip /* for another boot, or nobody listens */
	fi;
	dnKind[s] = 0; dnBoot[s] = 0; dnEp[s] = 0; dnAge[s] = 0; dnGuests[s] = false
#ifdef TIMEOUTS
	; dnPg[s] = 0
#endif
}

/* a leading controller c concludes h self-fenced */
inline conclude(c, h) {
	x = c*H+h;
	printf("t=%d c%d: CONCLUDES h%d boot %d self-fenced (%d ticks since max(grant, leaderSince)); h%d on %d, boot %d, guests %d\n",
		rt, c, h, gboot[x], since[x], h, on[h], boot[h], guests[h]);
	assert(!(on[h] && boot[h] == gboot[x]) && !guests[h]);
	fenced[x] = true; fboot[x] = gboot[x];
	if :: CANWRITE(c) -> persist(c, h) :: else -> writeFails(c) fi;
	x = 0
}

/* one tick of real time: every clock moves, the leader checks the safe
 * time, watchdogs that ran out reset their hosts, agents feed */
inline tick() {
	d_step {
		rt++;
		for (i : 0 .. H-1) {
			if :: gl[i] > 0 -> gl[i]-- :: else -> skip fi;
#ifdef TIMEOUTS
			if :: gl[i] > 0 && gAge[i] < AGEMAX -> gAge[i]++ :: else -> skip fi;
#endif
			if :: on[i] && armed[i] && wd[i] > 0 -> wd[i]-- :: else -> skip fi;
			for (k : 0 .. U-1) {
				if :: upKind[i*U+k] == MREPORT && upAge[i*U+k] < AGEMAX -> upAge[i*U+k]++ :: else -> skip fi
			}
			for (k : 0 .. DN-1) {
				if :: dnKind[i*DN+k] == MGRANT && dnAge[i*DN+k] < AGEMAX -> dnAge[i*DN+k]++ :: else -> skip fi
			}
#ifdef NO_ELECTION_FLOOR
			if :: sSince[i] < SINCEMAX -> sSince[i]++ :: else -> skip fi;
#endif
			k = 0
		}
		if
		:: lease > 0 -> lease--;
			if :: lease == 0 -> holder = NONE; printf("t=%d etcd: lease expired\n", rt) :: else -> skip fi
		:: else -> skip
		fi;
		for (j : 0 .. C-1) {
			if
			:: leading[j] ->
				for (i : 0 .. H-1) {
					if :: since[j*H+i] < SINCEMAX -> since[j*H+i]++ :: else -> skip fi
				}
				if :: view[j] > 0 -> view[j]-- :: else -> skip fi;
				if
				:: view[j] == 0 ->
					printf("t=%d c%d: its lease view ended: stops leading\n", rt, j);
#ifdef ZOMBIE_GRANTS
					lost[j] = true; zomb[j] = true
#else
					clearCtl(j)
#endif
				:: else -> skip
				fi
			:: else -> skip
			fi
		}
		/* conclusions (before this tick's resets: a tie counts against vigil) */
		for (j : 0 .. C-1) {
			for (i : 0 .. H-1) {
				if
				:: leading[j] && view[j] > 0 && garmed[j*H+i] && !fenced[j*H+i] &&
				   since[j*H+i] >= STRETCH(SS, offC[j]) -> conclude(j, i)
				:: else -> skip
				fi
			}
		}
		for (i : 0 .. H-1) {
			if
			:: on[i] && armed[i] && wd[i] == 0 -> clearHost(i); /* watchdog reset */
				printf("t=%d h%d: WATCHDOG RESET\n", rt, i)
			:: else -> skip
			fi;
			feed(i)
		}
		i = 0; j = 0
	}
}

/* ---- events of host h ---- */
inline hostEvent(h) {
	if
	:: on[h] -> clearHost(h); printf("t=%d h%d: power off\n", rt, h) /* PDU, operator, kernel crash */
	:: !on[h] && boot[h] < MAXBOOT -> on[h] = true; boot[h]++; /* a new boot: no grant */
		printf("t=%d h%d: power on, boot %d\n", rt, h, boot[h])
#ifdef TIMEOUTS
	:: on[h] && !agent[h] && pg[h] < MAXSTART -> pg[h]++;
#else
	:: on[h] && !agent[h] ->
#endif
		agent[h] = true; /* resumes from the grant persisted for this boot */
#ifdef TIMEOUTS
		/* its own timeouts: as configured, or one of them a tick longer */
		if :: isoL[h] = false; wdL[h] = false :: isoL[h] = true; wdL[h] = false :: isoL[h] = false; wdL[h] = true fi;
		/* NewContract: never past t_s + its own isolation timeout */
#ifndef RESUME_EXPIRY
		j = (STRETCH(ISO(h), offH[h]) + 1 > gAge[h] -> STRETCH(ISO(h), offH[h]) + 1 - gAge[h] : 0);
		if :: gl[h] > j -> gl[h] = j :: else -> skip fi;
#endif
		/* SetWatchdogTimeout: a longer device timeout than the grant was
		 * earned with feeds that much less of it */
#ifndef RESUME_LONGER_WD
#if defined(DEVICE) && !defined(RESUME_CUT_ONCE)
		/* one difference per touch the safe time allows after the grant */
		if :: wdL[h] && !gWdL[h] -> gl[h] = (gl[h] > NW -> gl[h] - NW : 0) :: else -> skip fi;
#else
		if :: wdL[h] && !gWdL[h] && gl[h] > 0 -> gl[h]-- :: else -> skip fi;
#endif
#endif
		gWdL[h] = wdL[h]; j = 0;
#endif
		printf("t=%d h%d: agent starts (grant left %d)\n", rt, h, gl[h]);
#ifdef DEVICE
#ifdef OPEN_AT_START
		/* the old rule: open (and set the timeout) at start, grant or not */
		held[h] = true; armed[h] = true;
#ifdef TIMEOUTS
		devL[h] = DEVSET(h);
#endif
		wd[h] = STRETCH(WDT(h), offW[h]);
#endif
#else
		if :: !armed[h] -> armed[h] = true; wd[h] = STRETCH(WDT(h), offW[h]) :: else -> skip fi;
#endif
#ifdef FRESH_CLOCK
		gl[h] = STRETCH(D, offH[h]) + 1;
#endif
		skip
	:: agent[h] -> agent[h] = false; stopping[h] = false; /* crash: the timer runs on */
		printf("t=%d h%d: agent crashes\n", rt, h);
		release(h)
	:: on[h] && agent[h] && !stopping[h] && (upKind[h*U] == 0 || upKind[h*U+U-1] == 0) ->
		/* the report, which asks for a grant, direct or through a peer */
		if :: upKind[h*U] == 0 -> k = h*U :: else -> k = h*U+U-1 fi;
		upKind[k] = MREPORT; upBoot[k] = boot[h]; upEp[k] = ep[h]; upAge[k] = 0;
#ifdef TIMEOUTS
		upIsoL[k] = isoL[h]; upWdL[k] = wdL[h]; upPg[k] = pg[h];
#endif
#ifdef DEVICE
		upArm[k] = held[h];
#endif
		k = 0;
		printf("t=%d h%d: report sent (boot %d seq %d)\n", rt, h, boot[h], ep[h])
	:: on[h] && agent[h] && !stopping[h] && ep[h] < MAXEP && (upKind[h*U] == 0 || upKind[h*U+U-1] == 0) ->
		/* a clean stop: tell the leader, wait for its ack */
		ep[h]++; stopping[h] = true;
		if :: upKind[h*U] == 0 -> k = h*U :: else -> k = h*U+U-1 fi;
		upKind[k] = MSTOP; upBoot[k] = boot[h]; upEp[k] = ep[h]; upAge[k] = 0; k = 0;
		printf("t=%d h%d: clean stop, notice sent (boot %d seq %d)\n", rt, h, boot[h], ep[h])
	:: stopping[h] ->
		/* no ack in time: exit with the watchdog running */
		agent[h] = false; stopping[h] = false;
		printf("t=%d h%d: agent exits without ack\n", rt, h);
		release(h);
#ifdef DISARM_WITHOUT_ACK
		armed[h] = false; wd[h] = 0;
#endif
		skip
#ifdef NO_START_GATE
	:: on[h] && !guests[h] -> guests[h] = true; printf("t=%d h%d: guests start (no gate)\n", rt, h)
#else
	:: on[h] && agent[h] && gl[h] >= 1 && gguests[h] && !guests[h] -> guests[h] = true;
		printf("t=%d h%d: guests start (grant left %d)\n", rt, h, gl[h])
#endif
#ifdef DEVICE
	:: on[h] && agent[h] && !held[h] && !stopping[h] && gl[h] >= 1 ->
		/* Keeper.arm: the first valid grant opens the device (a touch:
		 * it starts the timer, or pings it with older drivers) */
		held[h] = true; armed[h] = true;
#ifdef TIMEOUTS
		devL[h] = DEVSET(h); /* GETTIMEOUT, SETTIMEOUT if it differs: a touch */
#endif
		wd[h] = STRETCH(WDT(h), offW[h]);
		printf("t=%d h%d: opens the device on a grant (grant left %d)\n", rt, h, gl[h])
	:: on[h] && agent[h] && (held[h] || !stopping[h]) && gl[h] >= 1 && !pend[h] ->
		/* a check finds a valid grant; the process stalls before its touch */
		pend[h] = true;
		printf("t=%d h%d: a check passes (grant left %d); the touch stalls\n", rt, h, gl[h])
	:: on[h] && agent[h] && pend[h] ->
		/* the stalled touch lands: a feed, or the open */
		if :: !held[h] -> held[h] = true; armed[h] = true
#ifdef TIMEOUTS
			; devL[h] = DEVSET(h)
#endif
		:: else -> skip fi;
		wd[h] = STRETCH(WDT(h), offW[h]);
#ifndef MANY_LATE_TOUCHES
		pend[h] = false;
#endif
		printf("t=%d h%d: a late touch lands (grant left %d)\n", rt, h, gl[h])
#endif
#ifdef PEER_FEEDS
#if H == 1
	:: on[h] && agent[h] -> /* a peer of its rack, not modelled, answers */
#else
	:: on[h] && agent[h] && on[1-h] && agent[1-h] ->
#endif
		/* the peer answered: "not isolated" */
		gl[h] = STRETCH(D, offH[h]) + 1; feed(h);
		printf("t=%d h%d: a peer answers: fed\n", rt, h)
#endif
	fi
}

/* ---- the network around host h: deliver or lose any message ---- */
inline netEvent(h) {
	if
	:: upKind[h*U] != 0 && leading[0] -> deliverUp(0, h, h*U)
	:: upKind[h*U] != 0 && leading[1] -> deliverUp(1, h, h*U)
	:: U > 1 && upKind[h*U+U-1] != 0 && leading[0] -> deliverUp(0, h, h*U+U-1)
	:: U > 1 && upKind[h*U+U-1] != 0 && leading[1] -> deliverUp(1, h, h*U+U-1)
	:: upKind[h*U] != 0 -> upKind[h*U] = 0; upBoot[h*U] = 0; upEp[h*U] = 0; upAge[h*U] = 0
#ifdef TIMEOUTS
		; upIsoL[h*U] = false; upWdL[h*U] = false; upPg[h*U] = 0
#endif
#ifdef DEVICE
		; upArm[h*U] = false
#endif
	:: U > 1 && upKind[h*U+U-1] != 0 -> upKind[h*U+U-1] = 0; upBoot[h*U+U-1] = 0; upEp[h*U+U-1] = 0; upAge[h*U+U-1] = 0
#ifdef TIMEOUTS
		; upIsoL[h*U+U-1] = false; upWdL[h*U+U-1] = false; upPg[h*U+U-1] = 0
#endif
#ifdef DEVICE
		; upArm[h*U+U-1] = false
#endif
	:: dnKind[h*DN] != 0 -> deliverDown(h, h*DN)
	:: DN > 1 && dnKind[h*DN+DN-1] != 0 -> deliverDown(h, h*DN+DN-1)
	:: dnKind[h*DN] != 0 ->
		dnKind[h*DN] = 0; dnBoot[h*DN] = 0; dnEp[h*DN] = 0; dnAge[h*DN] = 0; dnGuests[h*DN] = false
#ifdef TIMEOUTS
		; dnPg[h*DN] = 0
#endif
	:: DN > 1 && dnKind[h*DN+DN-1] != 0 ->
		dnKind[h*DN+DN-1] = 0; dnBoot[h*DN+DN-1] = 0; dnEp[h*DN+DN-1] = 0; dnAge[h*DN+DN-1] = 0; dnGuests[h*DN+DN-1] = false
#ifdef TIMEOUTS
		; dnPg[h*DN+DN-1] = 0
#endif
	fi
}

/* in-flight slots are a set: keep each host's two in a canonical order */
#ifdef TIMEOUTS
#define UPKEY0(s) (((((upKind[s]*4 + upBoot[s])*4 + upEp[s])*16 + upAge[s])*4 + upIsoL[s]*2 + upWdL[s])*4 + upPg[s])
#else
#define UPKEY0(s) (((upKind[s]*4 + upBoot[s])*4 + upEp[s])*16 + upAge[s])
#endif
#ifdef DEVICE
#define UPKEY(s) (UPKEY0(s)*2 + upArm[s])
#else
#define UPKEY(s) UPKEY0(s)
#endif
#ifdef TIMEOUTS
#define DNKEY(s) (((((dnKind[s]*4 + dnBoot[s])*4 + dnEp[s])*16 + dnAge[s])*2 + dnGuests[s])*4 + dnPg[s])
#else
#define DNKEY(s) ((((dnKind[s]*4 + dnBoot[s])*4 + dnEp[s])*16 + dnAge[s])*2 + dnGuests[s])
#endif
inline canon(h) {
	d_step {
		if
		:: U > 1 && UPKEY(h*U) < UPKEY(h*U+U-1) ->
			x = upKind[h*U]; upKind[h*U] = upKind[h*U+U-1]; upKind[h*U+U-1] = x;
			x = upBoot[h*U]; upBoot[h*U] = upBoot[h*U+U-1]; upBoot[h*U+U-1] = x;
			x = upEp[h*U]; upEp[h*U] = upEp[h*U+U-1]; upEp[h*U+U-1] = x;
			x = upAge[h*U]; upAge[h*U] = upAge[h*U+U-1]; upAge[h*U+U-1] = x
#ifdef TIMEOUTS
			; x = upIsoL[h*U]; upIsoL[h*U] = upIsoL[h*U+U-1]; upIsoL[h*U+U-1] = x
			; x = upWdL[h*U]; upWdL[h*U] = upWdL[h*U+U-1]; upWdL[h*U+U-1] = x
			; x = upPg[h*U]; upPg[h*U] = upPg[h*U+U-1]; upPg[h*U+U-1] = x
#endif
#ifdef DEVICE
			; x = upArm[h*U]; upArm[h*U] = upArm[h*U+U-1]; upArm[h*U+U-1] = x
#endif
		:: else -> skip
		fi;
		if
		:: DN > 1 && DNKEY(h*DN) < DNKEY(h*DN+DN-1) ->
			x = dnKind[h*DN]; dnKind[h*DN] = dnKind[h*DN+DN-1]; dnKind[h*DN+DN-1] = x;
			x = dnBoot[h*DN]; dnBoot[h*DN] = dnBoot[h*DN+DN-1]; dnBoot[h*DN+DN-1] = x;
			x = dnEp[h*DN]; dnEp[h*DN] = dnEp[h*DN+DN-1]; dnEp[h*DN+DN-1] = x;
			x = dnAge[h*DN]; dnAge[h*DN] = dnAge[h*DN+DN-1]; dnAge[h*DN+DN-1] = x;
			x = dnGuests[h*DN]; dnGuests[h*DN] = dnGuests[h*DN+DN-1]; dnGuests[h*DN+DN-1] = x
#ifdef TIMEOUTS
			; x = dnPg[h*DN]; dnPg[h*DN] = dnPg[h*DN+DN-1]; dnPg[h*DN+DN-1] = x
#endif
		:: else -> skip
		fi;
		x = 0
	}
}

/* what no longer matters is forgotten, so equal futures are one state:
 * the silence counts only while a boot is believed armed and not concluded */
inline canonCtl() {
	d_step {
		for (x : 0 .. C*H-1) {
			if :: !garmed[x] || fenced[x] -> since[x] = 0 :: else -> skip fi;
			if :: gboot[x] == 0 -> gep[x] = 0 :: else -> skip fi
#ifdef TIMEOUTS
			; if :: gboot[x] == 0 -> gpg[x] = 0 :: else -> skip fi
#endif
		}
		for (x : 0 .. H-1) {
			if :: gl[x] == 0 -> gguests[x] = false :: else -> skip fi
#ifdef TIMEOUTS
			; if :: gl[x] == 0 -> gAge[x] = 0; gWdL[x] = false :: else -> skip fi
			; if :: !agent[x] -> isoL[x] = false; wdL[x] = false :: else -> skip fi
#endif
		}
#ifdef NO_ELECTION_FLOOR
		for (x : 0 .. H-1) {
			if :: !sArmed[x] || sFenced[x] -> sSince[x] = 0 :: else -> skip fi
		}
#endif
		x = 0
	}
}

/* ---- events of controller c ---- */
inline ctlEvent(c) {
	if
	:: holder == NONE && term < MAXTERM ->
		/* wins the election: a new token; Restore; leaderSince = now */
		term++; curTok++; holder = c; lease = L;
		clearCtl(c);
		leading[c] = true; tok[c] = curTok; view[c] = STRETCH(L - 1, offC[c]);
#ifdef ZOMBIE_GRANTS
		lost[c] = false;
#endif
		printf("t=%d c%d: elected, token %d\n", rt, c, curTok);
		for (x : 0 .. H-1) {
			garmed[c*H+x] = sArmed[x]; gboot[c*H+x] = sBoot[x]; gep[c*H+x] = sEp[x];
#ifdef TIMEOUTS
			gpg[c*H+x] = sPg[x];
#endif
			fenced[c*H+x] = sFenced[x]; fboot[c*H+x] = sFboot[x];
#ifdef NO_ELECTION_FLOOR
			since[c*H+x] = sSince[x];
#endif
			skip
		}
		x = 0
	:: holder == c && leading[c] && !zomb[c] ->
		/* keepalive: etcd counts from receipt, the leader from its send,
		 * one tick short, on its own clock */
		lease = L; view[c] = STRETCH(L - 1, offC[c])
	:: leading[c] && !zomb[c] -> zomb[c] = true; /* loses etcd: a zombie */
		printf("t=%d c%d: loses etcd (zombie until its lease view ends)\n", rt, c)
	fi
}

active proctype world() {
	atomic {
		/* every clock gets its own constant rate */
		for (i : 0 .. H-1) {
#ifdef ALL_RATES
			if :: offH[i] = 0 :: offH[i] = DRIFT :: offH[i] = 2*DRIFT fi;
			if :: offW[i] = 0 :: offW[i] = DRIFT :: offW[i] = 2*DRIFT fi;
#else
			/* slow: the longest grant, the latest reset; a faster host's
			 * behaviours are this one's with a power-off (README) */
			offH[i] = 2*DRIFT; offW[i] = 2*DRIFT;
#endif
			on[i] = true; boot[i] = 1; agent[i] = true;
#ifndef DEVICE
			armed[i] = true; /* the agent opened the watchdog when it started */
#endif
#ifdef TIMEOUTS
			if :: isoL[i] = false; wdL[i] = false :: isoL[i] = true; wdL[i] = false :: isoL[i] = false; wdL[i] = true fi;
			pg[i] = 1;
#endif
#ifndef DEVICE
			wd[i] = STRETCH(WDT(i), offW[i]);
#endif
			skip
		}
		/* the controllers are alike: offC[0] <= offC[1] covers every pair */
#ifdef ALL_RATES
		if :: offC[0] = 0 :: offC[0] = DRIFT :: offC[0] = 2*DRIFT fi;
		if :: offC[1] = offC[0] :: offC[0] < 2*DRIFT -> offC[1] = 2*DRIFT :: offC[0] == 0 -> offC[1] = DRIFT fi;
#else
		/* each fast or slow: both directions matter (a fast clock concludes
		 * early, a slow one leads longer) */
		if :: offC[0] = 0 :: offC[0] = 2*DRIFT fi;
		if :: offC[1] = offC[0] :: offC[0] == 0 -> offC[1] = 2*DRIFT fi;
#endif
		i = 0; j = 0
	}
	do
	:: atomic { tick(); canonCtl(); assert(INV) }
	:: atomic { hostEvent(0); canon(0); canonCtl(); assert(INV) }
	:: atomic { netEvent(0); canon(0); canonCtl(); assert(INV) }
#if H > 1
	:: atomic { hostEvent(1); canon(1); canonCtl(); assert(INV) }
	:: atomic { netEvent(1); canon(1); canonCtl(); assert(INV) }
#endif
	:: atomic { ctlEvent(0); canonCtl(); assert(INV) }
	:: atomic { ctlEvent(1); canonCtl(); assert(INV) }
	od
}
