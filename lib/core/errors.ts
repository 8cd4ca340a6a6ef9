/**
 * The one registry of error codes, in the manner of Fastify's lib/core/errors.js: each code with its
 * HTTP status and its one-line meaning, next to each other. The engine's codes, the codes only
 * the HTTP layer answers, and — through `config.transact.errors` — the app's own codes make one
 * registry (`sails.hooks.transact.errors`); docs/errors.md's table lists every one (a test checks it).
 *
 * Every failure is a TransactError: a code, a message, where in the input (`path`), and
 * machine-readable `details`. The details are stored with a rolled-back transaction and come
 * back when an idempotency key replays it, so callers never parse a message.
 */

export interface ErrorSpec {
  readonly status: number;
  /** One line: what happened, and what a caller can do about it. */
  readonly meaning: string;
}

/** Every code the engine (lib/) throws. */
export const ENGINE_ERRORS = {
  validation_failed: { status: 400, meaning: 'The input breaks a rule (a schema, a type, a bound of the request); `path` names where.' },
  unknown_model: { status: 404, meaning: 'No model has this identity.' },
  unknown_attribute: { status: 400, meaning: 'The model declares no attribute of this name.' },
  not_found: { status: 404, meaning: 'The document (or transaction) does not exist, or is not committed.' },
  already_exists: { status: 409, meaning: 'A document with this id (or unique value) exists already.' },
  bound_violation: { status: 409, meaning: 'An increment would take a field past its `min`/`max`; `details` names the model, id and field.' },
  // A lock wait that timed out decided nothing: the client may retry.
  lock_timeout: { status: 409, meaning: 'Another transaction held a document past the lock timeout; nothing was decided: retry.' },
  // The datastore refused this owner's writes: the transaction was rolled back by recovery.
  lease_lost: { status: 503, meaning: 'This process lost its lease (it stalled or lost the network); recovery rolled the transaction back: retry.' },
  destroy_forbidden: { status: 405, meaning: 'The model is financial history (or the log): its documents are never destroyed; reverse instead.' },
  idempotency_conflict: { status: 409, meaning: 'The idempotency key was used for different work.' },
  in_progress: { status: 409, meaning: 'A transaction under this idempotency key is still running: retry later with the same key.' },
  not_committed: { status: 409, meaning: 'Only a committed transaction can be reversed.' },
  already_reversed: { status: 409, meaning: 'The transaction has been reversed already (`details.reversedBy`).' },
  conflict: { status: 409, meaning: 'The state changed in a way that refuses the request (a later write, another final status).' },
  irreversible: { status: 409, meaning: 'The transaction has no compensation (it was a reversal, or wrote nothing reversible).' },
  aborted: { status: 409, meaning: 'The transaction threw and was rolled back; nothing it wrote remains.' },
  // Committed or not is unknown: 503 so that clients retry with their idempotency key.
  outcome_unknown: { status: 503, meaning: 'The commit point was sent but not confirmed: retry with the same idempotency key to learn the outcome.' },
  unavailable: { status: 503, meaning: 'The datastore could not be reached after the transient-error retries: retry.' },
  not_stuck: { status: 409, meaning: 'Only a transaction whose owner is gone (lease expired) can be settled by hand.' },
  unsupported_query: { status: 400, meaning: "Waterline's API inside an engine transaction does not support this query (docs/api.md section 3)." },
  transaction_ended: { status: 409, meaning: 'The transaction this connection belonged to has ended.' },
  // config.transact.ambient: a transaction inside another would commit on its own, whatever the outer one does.
  nested_transaction: { status: 409, meaning: 'A transaction was started inside an ambient one (`config.transact.ambient`); nothing was run: do its work in the outer one, or start it in `sails.hooks.transact.outside(...)`.' },
  backup_invalid: { status: 422, meaning: 'The backup file fails its checks (format, counts, digest): nothing was restored.' },
  target_not_empty: { status: 409, meaning: 'Restores and drills write only into an empty datastore.' },
  hidden_attribute: { status: 400, meaning: 'Criteria over HTTP name an attribute the model hides (`protect`, `customToJSON`).' },
  // A conflict with the datastore's state, like not_found of an update's own document would be.
  reference_not_found: { status: 409, meaning: 'A `model:` attribute names a document that does not exist (or is not committed).' },
  referenced: { status: 409, meaning: 'Another document refers to this one: it cannot be destroyed.' },
  // Thrown at lift, never answered: a conflict between the configured `migrate` and the data.
  migration_refused: { status: 409, meaning: "Lift refused: `migrate: 'alter'`/`'drop'` would drop tables that hold rows (`details.tables`); nothing was dropped." },
  // Thrown at lift, never answered: two protocols on one datastore do not exclude each other.
  protocol_mismatch: { status: 409, meaning: 'Lift refused: the datastore holds live transactions of the other log protocol (an instance of it is running); nothing was changed.' },
  // R9: a RecordStore without claimUnique (optional in the contract; every bundled store has it) refuses an update that changes a unique value.
  unique_change_unsupported: { status: 409, meaning: 'On log protocol v3, on a datastore whose record store cannot claim unique values for updates (the bundled sails-disk, sails-mongo and sails-postgresql stores all can), an update cannot change the value of a unique attribute; nothing was written.' },
} as const satisfies Record<string, ErrorSpec>;

/** Codes only the HTTP layer answers (the engine never throws them): the hook's, and the app's policies' and parsers'. */
export const HTTP_ERRORS = {
  malformed_json: { status: 400, meaning: 'The body is not valid JSON.' },
  unauthorized: { status: 401, meaning: 'No valid credentials (a bearer token, a signature).' },
  forbidden: { status: 403, meaning: "The caller's role may not do this." },
  // The ops page's forms: refused before anything is read or written.
  csrf_failed: { status: 403, meaning: "A form's token is missing or not this session's, or the browser says the form came from another site (`Origin`, `Sec-Fetch-Site`): nothing was done." },
  // Sails' notFound: not_found is a document that does not exist.
  no_route: { status: 404, meaning: 'No route serves this method and path.' },
  method_not_allowed: { status: 405, meaning: "The model's `http` allowlist does not permit this write." },
  payload_too_large: { status: 413, meaning: 'The body exceeds the configured limit.' },
  rate_limited: { status: 429, meaning: 'Too many attempts: retry after `Retry-After` seconds.' },
  // Anything unexpected: the detail is logged, never answered (no stack trace, no path).
  internal: { status: 500, meaning: 'Anything unexpected: the detail is logged, never answered.' },
} as const satisfies Record<string, ErrorSpec>;

/**
 * Why a log says a transaction rolled back when no error of the request's own ended it: written
 * by recovery and operators, shown on the log (REST, ops page), never thrown or answered — a replay
 * under the transaction's key answers `aborted` with the outcome in `details.outcome`.
 */
export const LOG_OUTCOMES = {
  owner_died: 'The process running it stopped or stalled before it committed; recovery rolled it back.',
  orphan_locks: 'Its process held locks but never wrote its log (it died before its first write); a waiter rolled it back.',
  recovery_failed: 'Recovery could not finish compensating it (it retries; marked for attention after repeated failures).',
  rollforward_failed: 'Recovery could not redo it under `onCrash: rollforward`, and rolled it back.',
  rolled_back_by_operator: 'An operator settled it by hand (the ops page, `settleStuck`).',
} as const satisfies Record<string, string>;

export type LogOutcomeCode = keyof typeof LOG_OUTCOMES;

export function isLogOutcome(code: string): code is LogOutcomeCode {
  return Object.prototype.hasOwnProperty.call(LOG_OUTCOMES, code);
}

export type TransactErrorCode = keyof typeof ENGINE_ERRORS;
export type HttpErrorCode = TransactErrorCode | keyof typeof HTTP_ERRORS;

export const TRANSACT_ERROR_CODES = Object.freeze(Object.keys(ENGINE_ERRORS)) as readonly TransactErrorCode[];

/** A registry of codes, each with its status and meaning; `with` adds an app's codes. */
export class ErrorRegistry<C extends string = string> {
  private readonly specs: ReadonlyMap<string, ErrorSpec>;

  constructor(specs: Readonly<Record<C, ErrorSpec>>) {
    const map = new Map<string, ErrorSpec>();
    for (const [code, spec] of Object.entries(specs) as [string, ErrorSpec][]) {
      if (!/^[a-z][a-z0-9_]*$/.test(code)) throw new Error(`error code "${code}" is not snake_case`);
      if (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599) throw new Error(`error code "${code}" has no 4xx/5xx status`);
      if (typeof spec.meaning !== 'string' || spec.meaning.trim() === '') throw new Error(`error code "${code}" has no meaning`);
      map.set(code, Object.freeze({ status: spec.status, meaning: spec.meaning }));
    }
    this.specs = map;
  }

  /** This registry plus `more`; a code defined twice is refused (one code, one meaning). */
  with<D extends string>(more: Readonly<Record<D, ErrorSpec>>): ErrorRegistry<C | D> {
    const both: Record<string, ErrorSpec> = Object.fromEntries(this.specs);
    for (const [code, spec] of Object.entries(more) as [string, ErrorSpec][]) {
      if (this.specs.has(code)) throw new Error(`error code "${code}" is defined already`);
      both[code] = spec;
    }
    return new ErrorRegistry<C | D>(both as Record<C | D, ErrorSpec>);
  }

  has(code: unknown): code is C {
    return typeof code === 'string' && this.specs.has(code);
  }

  /** The status of a code, or undefined for a code this registry does not know. */
  statusOf(code: string): number | undefined {
    return this.specs.get(code)?.status;
  }

  meaningOf(code: string): string | undefined {
    return this.specs.get(code)?.meaning;
  }

  /** Every code with its spec, in definition order. */
  entries(): [C, ErrorSpec][] {
    return [...this.specs] as [C, ErrorSpec][];
  }
}

/** The hook's own codes: the engine's and the HTTP layer's. */
export const HOOK_ERRORS = new ErrorRegistry<HttpErrorCode>({ ...ENGINE_ERRORS, ...HTTP_ERRORS });

export interface ErrorOptions {
  /** Where in the input the problem is, e.g. `ops.1.by` or `body.amount`. */
  path?: string;
  /** Machine-readable facts (JSON values only: they are stored with the transaction's log). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** An error with a registry code. `C` is the hook's codes by default; an app names its own. */
export class TransactError<C extends string = TransactErrorCode> extends Error {
  readonly code: C;
  /** Where in the input the problem is, e.g. `ops.1.by`. */
  readonly path: string | undefined;
  /** Extra machine-readable facts, e.g. the documents a lock wait was blocked on. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: C, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransactError';
    this.code = code;
    this.path = options.path;
    this.details = options.details;
  }

  toJSON(): { code: C; message: string; path?: string } {
    return this.path === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, path: this.path };
  }
}

/**
 * Recognizes a TransactError by shape, not by class: Sails may load the hook's modules more than
 * once (it clears the require cache of user hooks), and two copies have two classes.
 */
export function isTransactError<C extends string = string>(err: unknown, code?: C): err is TransactError<C> {
  if (!(err instanceof Error) || err.name !== 'TransactError') return false;
  const actual = (err as { code?: unknown }).code;
  return typeof actual === 'string' && (code === undefined || actual === code);
}
