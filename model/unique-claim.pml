/*
 * R9 on MongoDB (docs/protocol-v3.md, "R9 on MongoDB"; lib/store/mongo/records.ts claimUnique):
 * an update's claim of a unique value x by a claim document and a marker, against another claim
 * and a create's stub, with crashes, recovery and its sweep. One value, one unique index: `holder`
 * is the one document the index holds x for (an insert or replace that gives x to a document is
 * refused while another holds it). Every document operation is one atomic step; a find reads one
 * document at a time (no snapshot across documents); leases are nondeterministic (recovery may
 * declare a log-less holder dead at any time; its tombstone log races the holder's commit insert).
 *
 * Processes:
 *   Claimer(0), Claimer(1): each holds its record REC(i) (granted before) and renames it to x:
 *     insert its claim document CLAIM(i) (refused: already_exists), mark REC(i) (guarded by its
 *     token), read back (REC(i) held and marked, CLAIM(i) there, no marker elsewhere), commit
 *     (insert its log committed), apply (delete CLAIM(i), replace REC(i): guarded, refused by a
 *     duplicate, then left held for recovery). Before the commit point a refusal takes the claim
 *     and the marker back and frees the record.
 *   Reserver: a create of a new document with x: insert its stub STUB (refused: already_exists),
 *     read back the markers, commit, apply (the stub becomes the live document), or give it up
 *     (the stub becomes a tombstone: x freed).
 *   Recovery: NRECMOVES moves, each one of: settle a claimer's record or the stub by R5 (no log:
 *     tombstone log; rolled back: free — the claim document left dead; committed: apply, and when
 *     the apply meets the claim document on the index, delete it and apply again), or sweep a
 *     claimer's claim document (read: there, and its record not held by its token; later: delete).
 *   Any process may crash after any step (it stops; what it holds stays).
 *
 * Invariant (assertions): no two transactions commit x — at every commit point, no other
 * claimant of x has committed. Mutants (test/model/spin.test.ts asserts Spin finds a violation):
 *   -DMUTANT_NO_MARKER_CHECK: the read-backs ignore markers — a claim or a stub slips x onto the
 *     index between an apply's delete of its claim and its replace, and both commit;
 *   -DMUTANT_SWEEP_LIVE: the sweep deletes a claim document without checking its record's holder —
 *     a claimer's read-back finds its claim there, the sweep deletes it, the other (committed)
 *     claimer's apply lands in the hole and unsets its marker, then the read-back finds no marker:
 *     both commit.
 * -DMUTANT_NO_CLAIM_CHECK (a claimer's read-back does not check that its claim document is still
 * there) finds nothing: with the sweep correct only its owner deletes a live claim, so the check
 * is defence in depth.
 *
 * Abstracted away: late deliveries (a claim or stub landing late is as one landing early whose
 * sender then crashed), the contact cleanup of dead claims, several values and unique keys, the
 * version guards (transact.pml's subject), and liveness (an apply blocked by a stub lands later).
 */

#ifndef NRECMOVES
#define NRECMOVES 3
#endif

#define NONE 0
#define CLAIM(i) (1 + (i))
#define REC(i) (3 + (i))
#define STUB 5

#define L_NONE 0
#define L_COMMITTED 1
#define L_RB 2

/* Tokens: claimer i holds with i + 1, the reserver with 3; 0 is free. */
#define TOKEN(i) ((i) + 1)
#define RTOKEN 3

byte holder = NONE;
bool cExists[2];
byte lock[2];
bool marked[2];
byte txlog[2];
bool hasX[2];
byte lockS;
byte logR;
bool sLive;

#define CRASH if :: true :: true -> goto crashed fi

inline dropValue(doc) {
  if
  :: holder == doc -> holder = NONE
  :: else -> skip
  fi
}

/* The claimer's or recovery's delete of claimer i's claim document. */
inline deleteClaim(i) {
  atomic {
    if
    :: cExists[i] -> cExists[i] = false; dropValue(CLAIM(i))
    :: else -> skip
    fi
  }
}

/* The apply of claimer i's record: guarded by its token; x given only when nobody else holds it. */
inline applyRecord(i, landed) {
  atomic {
    if
    :: lock[i] == TOKEN(i) && (holder == NONE || holder == REC(i)) ->
       holder = REC(i); hasX[i] = true; lock[i] = 0; marked[i] = false; landed = true
    :: else -> landed = false
    fi
  }
}

proctype Claimer(byte i) {
  bool ok;
  byte other = 1 - i;
  atomic {
    if
    :: holder == NONE -> holder = CLAIM(i); cExists[i] = true; ok = true
    :: else -> ok = false
    fi
  }
  if
  :: !ok -> goto release
  :: else -> skip
  fi;
  CRASH;
  atomic {
    if
    :: lock[i] == TOKEN(i) -> marked[i] = true
    :: else -> skip
    fi
  }
  CRASH;
  /* The read-back: one find, document by document. */
  if
  :: !(lock[i] == TOKEN(i) && marked[i]) -> goto unclaim
  :: else -> skip
  fi;
#ifndef MUTANT_NO_CLAIM_CHECK
  if
  :: !cExists[i] -> goto unclaim
  :: else -> skip
  fi;
#endif
#ifndef MUTANT_NO_MARKER_CHECK
  if
  :: marked[other] -> goto unclaim
  :: else -> skip
  fi;
#endif
  CRASH;
  atomic {
    if
    :: txlog[i] == L_NONE -> txlog[i] = L_COMMITTED; assert(txlog[other] != L_COMMITTED && logR != L_COMMITTED)
    :: else -> ok = false
    fi
  }
  if
  :: !ok -> goto unclaim
  :: else -> skip
  fi;
  CRASH;
  deleteClaim(i);
  CRASH;
  applyRecord(i, ok);
  goto crashed;
unclaim:
  deleteClaim(i);
  atomic {
    if
    :: lock[i] == TOKEN(i) -> marked[i] = false
    :: else -> skip
    fi
  }
release:
  /* The free: this store knows its claim, deleted first; then the record (its marker unset). */
  deleteClaim(i);
  atomic {
    if
    :: lock[i] == TOKEN(i) -> lock[i] = 0; marked[i] = false
    :: else -> skip
    fi
  }
crashed:
  skip
}

proctype Reserver() {
  bool ok;
  atomic {
    if
    :: holder == NONE -> holder = STUB; lockS = RTOKEN; ok = true
    :: else -> ok = false
    fi
  }
  if
  :: !ok -> goto crashed
  :: else -> skip
  fi;
  CRASH;
#ifndef MUTANT_NO_MARKER_CHECK
  if
  :: marked[0] -> goto refuse
  :: else -> skip
  fi;
  if
  :: marked[1] -> goto refuse
  :: else -> skip
  fi;
#endif
  CRASH;
  atomic {
    if
    :: logR == L_NONE -> logR = L_COMMITTED; assert(txlog[0] != L_COMMITTED && txlog[1] != L_COMMITTED)
    :: else -> ok = false
    fi
  }
  if
  :: !ok -> goto refuse
  :: else -> skip
  fi;
  CRASH;
  atomic {
    if
    :: lockS == RTOKEN -> lockS = 0; sLive = true
    :: else -> skip
    fi
  }
  goto crashed;
refuse:
  atomic {
    if
    :: lockS == RTOKEN -> lockS = 0; dropValue(STUB)
    :: else -> skip
    fi
  }
crashed:
  skip
}

active proctype Recovery() {
  byte moves = 0;
  byte i;
  byte seen;
  bool landed;
  do
  :: moves < NRECMOVES ->
     moves++;
     if
     :: i = 0
     :: i = 1
     fi;
     if
     :: true -> /* R5 on claimer i's record, its holder's log read apart from the write. */
        if
        :: lock[i] == TOKEN(i) ->
           seen = txlog[i];
           if
           :: seen == L_NONE ->
              /* its lease over (or not: the move may also do nothing) */
              atomic { if :: txlog[i] == L_NONE -> txlog[i] = L_RB :: else -> skip fi }
           :: seen == L_RB ->
              atomic { if :: lock[i] == TOKEN(i) -> lock[i] = 0; marked[i] = false :: else -> skip fi }
           :: seen == L_COMMITTED ->
              applyRecord(i, landed);
              if
              :: !landed && lock[i] == TOKEN(i) ->
                 /* met a document holding x on the index: the claims of the apply go, and the apply again */
                 deleteClaim(i);
                 applyRecord(i, landed)
              :: else -> skip
              fi
           :: true -> skip
           fi
        :: else -> skip
        fi
     :: true -> /* R5 on the stub */
        if
        :: lockS == RTOKEN ->
           seen = logR;
           if
           :: seen == L_NONE -> atomic { if :: logR == L_NONE -> logR = L_RB :: else -> skip fi }
           :: seen == L_RB -> atomic { if :: lockS == RTOKEN -> lockS = 0; dropValue(STUB) :: else -> skip fi }
           :: seen == L_COMMITTED -> atomic { if :: lockS == RTOKEN -> lockS = 0; sLive = true :: else -> skip fi }
           :: true -> skip
           fi
        :: else -> skip
        fi
     :: true -> /* the sweep of claimer i's claim document: read it and its record, then delete it */
        if
#ifndef MUTANT_SWEEP_LIVE
        :: cExists[i] && lock[i] != TOKEN(i) -> deleteClaim(i)
#else
        :: cExists[i] -> deleteClaim(i)
#endif
        :: else -> skip
        fi
     fi
  :: else -> break
  od
}

init {
  atomic {
    lock[0] = TOKEN(0);
    lock[1] = TOKEN(1);
    run Claimer(0);
    run Claimer(1);
    run Reserver()
  }
}
