import type { AdapterKind } from '../core/types';

/** Identities of the hook's own models; apps must not define models with these names. */
export const LOG_IDENTITY = 'transactlog';
export const LOCK_IDENTITY = 'transactlock';
/** Log protocol v3's record of each document on sails-disk and sails-postgresql (docs/protocol-v3.md); MongoDB keeps it in the documents. */
export const RECORD_IDENTITY = 'transactrecord';

/** The hook's own models: never dropped, never rebuilt, never an app's blueprint or history. */
export function isHookModel(identity: string): boolean {
  return identity === LOG_IDENTITY || identity === LOCK_IDENTITY || identity === RECORD_IDENTITY;
}

type ModelDefinition = Record<string, unknown>;

/**
 * Integers that must stay exact: sails-postgresql maps `number` to REAL (float4) by default and
 * refuses BIGINT for numbers, so these are DOUBLE PRECISION (exact for integers below 2^53).
 */
const exactNumber = { type: 'number', autoMigrations: { columnType: 'double precision' } };

function idAttribute(kind: AdapterKind): Record<string, unknown> {
  return kind === 'mongo' ? { type: 'string', required: true, columnName: '_id' } : { type: 'string', required: true };
}

/**
 * The log and lock model definitions, registered into the ORM by the hook, and the record model
 * where log protocol v3 keeps records beside the documents: always on sails-disk, on
 * sails-postgresql only with `protocol: 'redo'` (the other protocols there get no extra table).
 */
export function internalModels(kind: AdapterKind, datastore: string, protocol?: string): Record<string, ModelDefinition> {
  const common = { datastore, dontUseObjectIds: true, transactInternal: true };
  return {
    [LOG_IDENTITY]: {
      ...common,
      // Recovery finds expired logs by state and lease; history finds committed logs by document;
      // the transaction browser pages newest first, with or without a state filter (without these
      // every first page sorts the whole log: 0.85 s at 1M logs, measured); drills and backups page
      // by end time.
      indexes: [
        { fields: ['state', 'leaseUntil'], name: 'state_lease' },
        { fields: ['documents'], elements: true, name: 'documents' },
        { fields: ['startedAt', 'id'], name: 'started' },
        { fields: ['state', 'startedAt', 'id'], name: 'state_started' },
        { fields: ['endedAt', 'id'], name: 'ended' },
        // The ops page's label search (case-insensitive substring, lib/operator/transactions.ts):
        // ILIKE '%x%' through pg_trgm on PostgreSQL (without it a search no log matches read the
        // whole log: 1.1 s at 1M logs, measured); MongoDB and sails-disk get no index for it.
        { fields: ['label'], trigram: true, name: 'label_trgm' },
      ],
      attributes: {
        id: idAttribute(kind),
        createdAt: false,
        updatedAt: false,
        state: { type: 'string', required: true },
        mode: { type: 'string', required: true },
        onCrash: { type: 'string', required: true },
        label: { type: 'string', allowNull: true },
        idempotencyKey: { type: 'string', allowNull: true },
        // Nullable, no default: logs from before scopes read as unscoped (lib/store toLogDocument).
        idempotencyScope: { type: 'string', allowNull: true },
        owner: { type: 'string', required: true },
        leaseUntil: { ...exactNumber, required: true },
        steps: { type: 'json' },
        error: { type: 'json' },
        startedAt: { ...exactNumber, required: true },
        endedAt: { ...exactNumber, allowNull: true },
        recoveries: { ...exactNumber, defaultsTo: 0 },
        epoch: { ...exactNumber, defaultsTo: 0 },
        documents: { type: 'json' },
        result: { type: 'json' },
        fingerprint: { type: 'string', allowNull: true },
        reverses: { type: 'string', allowNull: true },
        reversedBy: { type: 'string', allowNull: true },
        reason: { type: 'string', allowNull: true },
        attention: { type: 'json' },
      },
    },
    [LOCK_IDENTITY]: {
      ...common,
      indexes: [{ fields: ['leaseUntil'], name: 'lease' }],
      attributes: {
        id: idAttribute(kind),
        createdAt: false,
        updatedAt: false,
        owner: { type: 'string', required: true },
        leaseUntil: { ...exactNumber, required: true },
        epoch: { ...exactNumber, defaultsTo: 0 },
        // Nullable, no default: locks from before grants, and those written without one, have none (LockDocument.grant).
        grant: { type: 'string', allowNull: true },
      },
    },
    ...(kind === 'disk' || (kind === 'postgresql' && protocol === 'redo') ? { [RECORD_IDENTITY]: recordModel(common, kind) } : {}),
  };
}

/**
 * A document's lock, version and state (lib/store/records.ts), one row per `model:id` ever locked:
 * rows are never deleted (a tombstone keeps its id taken).
 */
function recordModel(common: ModelDefinition, kind: AdapterKind): ModelDefinition {
  return {
    ...common,
    indexes: [{ fields: ['lockUntil'], name: 'lock_until' }],
    attributes: {
      id: idAttribute(kind),
      createdAt: false,
      updatedAt: false,
      lock: { type: 'string', allowNull: true },
      lockUntil: { ...exactNumber, allowNull: true },
      version: { ...exactNumber, defaultsTo: 0 },
      state: { type: 'string', required: true },
      // A stub's values of the model's unique keys (R9): taken until the stub is applied or freed.
      unique: { type: 'json' },
    },
  };
}
