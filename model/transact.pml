/*
 * Log protocol v3 (docs/protocol-v3.md), its core, checked exhaustively by Spin.
 *
 *   spin -a -DONE_ATTEMPT transact.pml                        (configuration "faults")
 *   spin -a -DONE_RECOVERER -DNO_NETWORK_FAULTS transact.pml  (configuration "keyed")
 *   spin -a -DONE_ATTEMPT -DONE_RECOVERER -DGIVE_BACK transact.pml  (configuration "give-back")
 *   gcc -O2 -DSAFETY -DCOLLAPSE -o pan pan.c && ./pan -m100000
 *
 * must end with "errors: 0" and a complete search. The whole model at once (both attempts, both
 * recoverers, the network's faults) is more than this check's budget (2 GB, 2 minutes): each
 * configuration drops parts of it. Each -DMUTANT_* switch removes one rule; each must make Spin find
 * an assertion violation in the configuration test/model/spin.test.ts names for it.
 *
 * What is modelled (docs/protocol-v3.md "The model"):
 *   documents D0 (live, value 0) and D1 (absent), in one collection;
 *   transaction T (a batch, not keyed: writes D0, creates D1; log id 0, token 0.0);
 *   two attempts A and B of one keyed transaction K (log id 1): each writes D0 and destroys D1;
 *     whichever inserts the pending log first runs at epoch 0, the other may reopen the key once
 *     it is rolled back (R8), at the log's epoch + 1;
 *   two recoverers (one per instance), each making a bounded number of R7 moves, any of which
 *     may act on what it read earlier (a stalled recoverer);
 *   a network that may deliver one grant, one apply or one give-back again, late (a duplicated
 *   message), and one grant whose reply is lost (the caller gives up not knowing it holds the
 *   record); T may give D1 back while it waits and take it again (RecordLocks.acquire; only in
 *   configuration "give-back", with one recoverer: the state space);
 *   crashes of an owner before its commit point, after it, and between its applies.
 * Leases are not modelled as time: wherever R5 or R7 asks "is the lease over?", the model tries
 * both answers, so safety cannot depend on them.
 */

/* Record states */
#define ABSENT    0
#define LIVE      1
#define RESERVED  2
#define DESTROYED 3

/* Log states */
#define NOLOG      0
#define PENDING    1
#define COMMITTED  2
#define ROLLEDBACK 3

/* Step kinds */
#define CREATE  1
#define WRITE   2
#define DESTROY 3

/* Guarded write transitions */
#define W_FREE  1
#define W_TAKE  2
#define W_APPLY 3

/* Log ids: T's and the key K's */
#define LT 0
#define LK 1

/* A lock token txId.epoch as one byte: (log id + 1) * 8 + epoch; 0: free. */
#define TOKEN(lid, ep) (((lid) + 1) * 8 + (ep))
#define LIDOF(tok)     ((tok) / 8 - 1)
#define EPOF(tok)      ((tok) % 8)

/* Writers (a value is the id of the attempt that wrote it; 0: the initial value) */
#define WT 1
#define WA 2
#define WB 3

#ifndef MAXTRY
#define MAXTRY 1     /* settle attempts per document before lock_timeout */
#endif
#ifndef NRECMOVES
#define NRECMOVES 1  /* moves per recoverer */
#endif

/* ---- The records ---- */
byte rtok[2];        /* _transactLock (0: free) */
byte rver[2];        /* _transactVersion */
byte rst[2];         /* _transactState */
byte rval[2];        /* the document's value (meaningful when live) */

/* ---- The log documents (one per log id); steps: index lid * 2 + d ---- */
byte lst[2];
byte lep[2];
bool shas[4];        /* the log has a step on d */
byte sver[4];        /* the version the step recorded */
byte sval[4];        /* its after-value */
byte sst[4];         /* its after-state: LIVE or DESTROYED */
byte skind[4];

/* ---- Ghosts: what the committed logs say the documents must end as ---- */
bool expLive[2];
byte expVal[2];
byte kcommits;       /* commits of key K's attempts */

/* ---- The network: one late message (a grant or an apply sent again), one lost grant reply ---- */
bool lateUsed;
byte lgTok; byte lgDoc; bool lgCreate;
byte laTok; byte laDoc; byte laVer; byte laVal; byte laSt;
byte lfTok; byte lfDoc; byte lfVer;   /* a give-back whose reply was lost, still on its way */
bool lostUsed;
#ifdef NO_NETWORK_FAULTS
#define INITFAULTS lateUsed = 1; lostUsed = 1
#else
#define INITFAULTS skip
#endif

/* Asserted where an apply lands: the record is held by the committed log's token, at the
   version the log recorded, and takes that step's after-image (mutual exclusion, no stale fence,
   no resurrection). */
inline checkApply(d, t, aval, ast) {
  assert(t != 0 && rtok[d] == t);
  assert(lst[LIDOF(t)] == COMMITTED && lep[LIDOF(t)] == EPOF(t));
  assert(shas[LIDOF(t) * 2 + d] && sver[LIDOF(t) * 2 + d] == rver[d]);
  assert(sval[LIDOF(t) * 2 + d] == aval && sst[LIDOF(t) * 2 + d] == ast);
  /* no resurrection: a tombstone or a stub becomes live only by a committed create */
  assert(rst[d] == LIVE || ast != LIVE || skind[LIDOF(t) * 2 + d] == CREATE)
}

/* Asserted where a record is taken from a holder other than the writer: the holder's log says
   it can no longer write it (R5's "free"). */
inline checkTake(d, t) {
  assert(lst[LIDOF(t)] != NOLOG);
  assert(!(lst[LIDOF(t)] == PENDING && lep[LIDOF(t)] == EPOF(t)));
  assert(!(lst[LIDOF(t)] == COMMITTED && lep[LIDOF(t)] == EPOF(t) && shas[LIDOF(t) * 2 + d] && sver[LIDOF(t) * 2 + d] == rver[d]))
}

/* R2: a write lands only on a record held by token t at version v. owner: the holder frees its
   own record (a give-back, a failure before the commit point). */
inline guardedWrite(d, t, v, kind, aval, ast, newtok, owner) {
  d_step {
    if
#if defined(MUTANT_NO_VERSION_GUARD)
    :: rtok[d] == t ->
#elif defined(MUTANT_APPLY_WITHOUT_GUARD)
    :: (rtok[d] == t && rver[d] == v) || kind == W_APPLY ->
#else
    :: rtok[d] == t && rver[d] == v ->
#endif
      if
      :: kind == W_APPLY ->
        checkApply(d, t, aval, ast);
        rval[d] = aval; rst[d] = ast; rtok[d] = 0
      :: kind == W_FREE ->
        if :: !owner -> checkTake(d, t) :: else -> skip fi;
        rtok[d] = 0;
        if :: rst[d] == RESERVED -> rst[d] = DESTROYED :: else -> skip fi
      :: kind == W_TAKE ->
        if :: !owner -> checkTake(d, t) :: else -> skip fi; /* owner: the holder takes its own record again at a fresh version */
        rtok[d] = newtok
      fi;
      rver[d]++
    :: else -> skip
    fi
  }
}

/* R1: one grant (create: the stub's insert, or the grant of a tombstone it re-creates). */
inline grantNow(d, tok, create) {
#ifdef MUTANT_GRANT_UNCONDITIONAL
  if
  :: create && rst[d] == ABSENT -> rst[d] = RESERVED; rtok[d] = tok; rver[d] = 1
  :: !(create && rst[d] == ABSENT) && rst[d] != ABSENT && rtok[d] != tok -> rtok[d] = tok; rver[d]++
  :: else -> skip
  fi
#else
  if
  :: create && rst[d] == ABSENT -> rst[d] = RESERVED; rtok[d] = tok; rver[d] = 1
  :: rtok[d] == 0 && (rst[d] == LIVE || rst[d] == DESTROYED) -> rtok[d] = tok; rver[d]++
  :: else -> skip
  fi
#endif
}

/* R5 + R6: what the holder of record d is, by its log, and the move it calls for. `taker`: the
   caller's token (0: recovery, which frees); rt, rv: the record's lock and version as the caller
   read them. Sets `moved` (0: the holder may still commit). The record was read, the log is read,
   and the write lands, in steps of their own: anything may happen between them. */
inline settle(d, taker) {
  if
  :: rt == 0 -> moved = 1
  :: else ->
    atomic { lid = LIDOF(rt); ls = lst[lid]; le = lep[lid]; lh = shas[lid * 2 + d]; lv = sver[lid * 2 + d]; la = sval[lid * 2 + d]; lS = sst[lid * 2 + d] };
    if
    :: ls == NOLOG ->
      if
      :: true -> /* its lock lease is over: orphaned */
#ifdef MUTANT_TAKEOVER_WITHOUT_TOMBSTONE
        ls = ROLLEDBACK; le = 1
#else
        /* one insert of a rolled-back tombstone log against the owner's own commit insert */
        atomic {
          if
          :: lst[lid] == NOLOG -> lst[lid] = ROLLEDBACK; lep[lid] = 1; ls = ROLLEDBACK; le = 1
          :: else -> ls = lst[lid]; le = lep[lid]; lh = shas[lid * 2 + d]; lv = sver[lid * 2 + d]; la = sval[lid * 2 + d]; lS = sst[lid * 2 + d]
          fi
        }
#endif
      :: true -> skip /* lease running: live */
      fi
    :: else -> skip
    fi;
    if
    :: ls == NOLOG -> moved = 0
    :: ls == PENDING && le == EPOF(rt) ->
      if
      :: true -> /* the log's lease is over: R7's roll back, one CAS at the next epoch */
        atomic { if :: lst[lid] == PENDING && lep[lid] == le -> lst[lid] = ROLLEDBACK; lep[lid] = le + 1 :: else -> skip fi };
        moved = 1
      :: true -> moved = 0
      fi
    :: ls == COMMITTED && le == EPOF(rt) && lh && lv == rv ->
      guardedWrite(d, rt, rv, W_APPLY, la, lS, 0, 0); /* R4 by anyone */
      moved = 1
    :: else ->
      if
      :: taker == 0 -> guardedWrite(d, rt, rv, W_FREE, 0, 0, 0, 0)
      :: else -> guardedWrite(d, rt, rv, W_TAKE, 0, 0, taker, 0)
      fi;
      moved = 1
    fi
  fi
}

/* R1 + R2 + R5 for one document: held (held[d], hv[d], hs[d]: its state), decided without a lock
   (held[d] = 0), or given up (gaveUp). */
inline acquire(d, create) {
  tries = 0;
  do
  :: atomic {
       grantNow(d, tok, create);
       rt = rtok[d]; rv = rver[d]; hs[d] = rst[d]
     };
     /* the grant may be sent again, late (at most one such message in the run) */
     if
     :: atomic { !lateUsed -> lateUsed = 1; lgTok = tok; lgDoc = d; lgCreate = create }
     :: true -> skip
     fi;
     if
     :: atomic { !lostUsed && rt == tok && tok == TOKEN(LT, 0) -> lostUsed = 1; gaveUp = 1 }; break /* the reply was lost: it holds d, not knowing it */
#ifndef MUTANT_TRUST_GIVEN_BACK
     /* R2 within an attempt: held by its own token at the version it gave the record back at
        (that give-back may still land): taken again at a fresh version first */
     :: rt == tok && gb[d] && gbv[d] == rv -> guardedWrite(d, tok, rv, W_TAKE, 0, 0, tok, 1)
     :: rt == tok && !(gb[d] && gbv[d] == rv) -> held[d] = 1; hv[d] = rv; break
#else
     :: rt == tok -> held[d] = 1; hv[d] = rv; break
#endif
     :: rt == 0 && ((create && hs[d] == LIVE) || (!create && hs[d] == ABSENT)) -> break /* decided: already_exists, not_found */
     :: else ->
       if
       :: tries >= MAXTRY -> gaveUp = 1; break /* lock_timeout */
       :: else -> tries++; settle(d, tok)
       fi
     fi
  od;
  tries = 0; rt = 0; rv = 0; lid = 0; ls = 0; le = 0; lh = 0; lv = 0; la = 0; lS = 0; moved = 0
}

/* Gives back what the caller holds (a failure before its commit point). */
inline freeHeld() {
  if :: held[0] -> guardedWrite(0, tok, hv[0], W_FREE, 0, 0, 0, 1) :: else -> skip fi;
  if :: held[1] -> guardedWrite(1, tok, hv[1], W_FREE, 0, 0, 0, 1) :: else -> skip fi
}

/* R4 by the owner: one guarded write per document; may be lost, or sent again late. */
inline applyOwn(d, aval, ast) {
  if
  :: guardedWrite(d, tok, hv[d], W_APPLY, aval, ast, 0, 0);
     if
     :: atomic { !lateUsed -> lateUsed = 1; laTok = tok; laDoc = d; laVer = hv[d]; laVal = aval; laSt = ast }
     :: true -> skip
     fi
  :: true -> skip /* lost */
  fi
}

/* Records a step of the committing log, and what the document must end as. */
inline step(lid, d, kind, aval, ast) {
  shas[lid * 2 + d] = 1; sver[lid * 2 + d] = hv[d]; sval[lid * 2 + d] = aval; sst[lid * 2 + d] = ast; skind[lid * 2 + d] = kind;
  expLive[d] = (ast == LIVE); expVal[d] = aval
}

/* T: a batch, not keyed: writes D0, creates D1. */
proctype Batch() {
  byte tok = TOKEN(LT, 0);
  bool held[2]; byte hv[2]; byte hs[2]; bool gb[2]; byte gbv[2];
  byte tries, rt, rv, lid, ls, le, lv, la, lS; bool lh, moved, gaveUp;
  acquire(0, 0);
  if :: gaveUp || !held[0] -> goto abort :: else -> skip fi;
  acquire(1, 1);
  if :: gaveUp || !held[1] -> goto abort :: else -> skip fi;
#ifdef GIVE_BACK
  /* a give-back while it waits (RecordLocks.acquire gives back what it holds past a record it
     must wait for), then D1 again: the give-back lands now, or its reply is lost and it lands late */
  if
  :: gb[1] = 1; gbv[1] = hv[1]; held[1] = 0;
     if
     :: guardedWrite(1, tok, gbv[1], W_FREE, 0, 0, 0, 1)
     :: atomic { !lateUsed -> lateUsed = 1; lfTok = tok; lfDoc = 1; lfVer = gbv[1] }
     fi;
     acquire(1, 1);
     if :: gaveUp || !held[1] -> goto abort :: else -> skip fi
  :: skip
  fi;
#endif
  /* plan: D0 must be live (R9 and uniqueness are not modelled) */
  if :: hs[0] != LIVE -> goto abort :: else -> skip fi;
  if :: goto done :: skip fi; /* crash before the commit point */
  /* R3: the log inserted committed; the one insert against an orphan tombstone (R5) */
  atomic {
    if
    :: lst[LT] == NOLOG ->
      lst[LT] = COMMITTED; lep[LT] = 0;
      step(LT, 0, WRITE, WT, LIVE); step(LT, 1, CREATE, WT, LIVE)
    :: else -> goto abort /* lease_lost: declared dead first */
    fi
  };
  /* a crash after the commit point, or between the applies: an apply lost */
  applyOwn(0, WT, LIVE);
  applyOwn(1, WT, LIVE);
  goto done;
abort:
  freeHeld();
done:
  skip
}

/* An attempt of the keyed transaction K: writes D0 (its value: me), destroys D1. */
proctype Keyed(byte me) {
  byte tok, myep;
  bool held[2]; byte hv[2]; byte hs[2]; bool gb[2]; byte gbv[2];
  byte tries, rt, rv, lid, ls, le, lv, la, lS; bool lh, moved, gaveUp;
  /* R8: the pending insert decides who runs; a rolled-back key is reopened at epoch + 1 (its
     failure decided nothing: the model reopens whatever rolled back). B comes second (A's
     insert is A's first step, and the two are symmetric). */
  if
  :: me == WA ->
    atomic { if :: lst[LK] == NOLOG -> lst[LK] = PENDING; lep[LK] = 0; myep = 0 :: else -> goto done fi }
  :: else ->
    /* its insert finds A's log (pending: it waits, committed: replayed; both end it here) */
    atomic { lst[LK] != NOLOG -> ls = lst[LK]; le = lep[LK]; if :: ls != ROLLEDBACK -> goto done :: else -> skip fi };
    ls = 0;
    atomic {
      if
      :: lst[LK] == ROLLEDBACK && lep[LK] == le ->
        lst[LK] = PENDING; lep[LK] = le + 1; myep = le + 1;
        shas[LK * 2] = 0; shas[LK * 2 + 1] = 0
      :: else -> goto done
      fi
    }
  fi;
  le = 0;
  tok = TOKEN(LK, myep);
  acquire(0, 0);
  if :: gaveUp || !held[0] -> goto abort :: else -> skip fi;
  if
  :: me == WA ->
    acquire(1, 0);
    if :: gaveUp -> goto abort :: else -> skip fi;
    /* plan: both must be live (a destroy of a missing document is not_found) */
    if :: !held[1] || hs[1] != LIVE -> goto abort :: else -> skip fi
  :: else -> skip /* B, the reopened attempt, writes D0 only (the bound on the state space) */
  fi;
  if :: hs[0] != LIVE -> goto abort :: else -> skip fi;
  if :: goto done :: skip fi; /* crash before the commit point */
  /* R3: CAS pending -> committed, guarded by epoch (R8) */
  atomic {
    if
#ifdef MUTANT_NO_EPOCH_GUARD
    :: lst[LK] == PENDING ->
#else
    :: lst[LK] == PENDING && lep[LK] == myep ->
#endif
      lst[LK] = COMMITTED;
      kcommits++;
      /* one outcome per key: one commit, the attempt the log's epoch names */
      assert(kcommits == 1 && lep[LK] == myep);
      step(LK, 0, WRITE, me, LIVE);
      if :: held[1] -> step(LK, 1, DESTROY, me, DESTROYED) :: else -> skip fi
    :: else -> goto abort
    fi
  };
  /* a crash after the commit point, or between the applies: an apply lost */
  applyOwn(0, me, LIVE);
  if :: held[1] -> applyOwn(1, me, DESTROYED) :: else -> skip fi;
  goto done;
abort:
  freeHeld();
  /* its failure recorded: CAS pending -> rolled-back at the next epoch */
  atomic { if :: lst[LK] == PENDING && lep[LK] == myep -> lst[LK] = ROLLEDBACK; lep[LK] = myep + 1 :: else -> skip fi };
done:
  skip
}

/* R7: a recoverer (one per instance): rolls back an expired pending log, or settles a record
   whose lease is over by R5. What it read may be stale when it writes. */
proctype Recoverer() {
  byte n, rt, rv, lid, ls, le, lv, la, lS; bool lh, moved;
  n = 0;
  do
  :: n < NRECMOVES ->
    n++;
    if
    :: atomic { ls = lst[LK]; le = lep[LK] };
       if
       :: ls == PENDING -> atomic { if :: lst[LK] == PENDING && lep[LK] == le -> lst[LK] = ROLLEDBACK; lep[LK] = le + 1 :: else -> skip fi }
       :: else -> skip
       fi
    :: atomic { rt = rtok[0]; rv = rver[0] }; settle(0, 0)
    :: atomic { rt = rtok[1]; rv = rver[1] }; settle(1, 0)
    fi;
    rt = 0; rv = 0; lid = 0; ls = 0; le = 0; lh = 0; lv = 0; la = 0; lS = 0; moved = 0
  :: break
  od
}

/* The network: delivers the duplicated grant and apply, late, or never. */
proctype Network() {
  do
  :: lgTok != 0 -> atomic { grantNow(lgDoc, lgTok, lgCreate); lgTok = 0; lgDoc = 0; lgCreate = 0 }
  :: laTok != 0 ->
    guardedWrite(laDoc, laTok, laVer, W_APPLY, laVal, laSt, 0, 0);
    atomic { laTok = 0; laDoc = 0; laVer = 0; laVal = 0; laSt = 0 }
  :: lfTok != 0 ->
    guardedWrite(lfDoc, lfTok, lfVer, W_FREE, 0, 0, 0, 1);
    atomic { lfTok = 0; lfDoc = 0; lfVer = 0 }
  :: break
  od
}

init {
  byte d, t;
  bool live; byte val;
  atomic {
    rst[0] = LIVE; rval[0] = 0; rst[1] = ABSENT; INITFAULTS;
    expLive[0] = 1; expVal[0] = 0; expLive[1] = 0;
    run Batch(); run Keyed(WA);
#ifndef ONE_ATTEMPT
    run Keyed(WB);
#endif

#ifndef NO_RECOVERER
    run Recoverer();
#ifndef ONE_RECOVERER
    run Recoverer();
#endif
#endif
    run Network()
  };
  (_nr_pr == 1);
  /* All-or-nothing, at the end: each document shows (once resolved as a committed read does,
     through its holder's committed log) what the last committed log wrote on it, and nothing
     that no committed log wrote. */
  d = 0;
  do
  :: d < 2 ->
    t = rtok[d];
    if
    :: t != 0 && lst[LIDOF(t)] == COMMITTED && lep[LIDOF(t)] == EPOF(t) && shas[LIDOF(t) * 2 + d] && sver[LIDOF(t) * 2 + d] == rver[d] ->
      live = (sst[LIDOF(t) * 2 + d] == LIVE); val = sval[LIDOF(t) * 2 + d]
    :: else -> live = (rst[d] == LIVE); val = rval[d]
    fi;
    assert(live == expLive[d]);
    assert(!live || val == expVal[d]);
    d++
  :: else -> break
  od
}
