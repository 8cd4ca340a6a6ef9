/**
 * sails-hook-transact: crash-safe multi-document transactions for Sails on any Waterline datastore.
 * The export is the Sails hook (what Sails calls when it loads the package from `node_modules`);
 * its namespace carries the pieces an app may use directly and the public types:
 *
 *   import transact = require('sails-hook-transact');
 *   const run: transact.Transact = sails.transact;
 */
import type * as config from './config';
import * as drill from './drill';
import type * as engine from './engine';
import * as errors from './core/errors';
import * as hook from './hook';
import * as http from './http';
import type * as history from './engine/history';
import * as ids from './core/ids';
import type * as storeContract from './store/contract';
import * as indexes from './store/indexes';
import * as migrations from './store/migrations';
import * as queries from './operator';
import * as reads from './reads';
import type * as recovery from './protocol/recovery';
import type * as scheduler from './scheduler';
import type * as outcomeHooks from './engine/outcome-hooks';
import * as schema from './core/validation';
import type * as transaction from './engine/transaction';
import type * as types from './core/types';

function sailsHookTransact(sails: hook.SailsApp): hook.TransactHook {
  return hook.transactHook(sails);
}

// `export =` (the shape Sails requires of a hook) carries names only through a merged namespace.
// eslint-disable-next-line @typescript-eslint/no-namespace
namespace sailsHookTransact {
  export const transactHook = hook.transactHook;
  export const newId = ids.newId;
  export const TransactError = errors.TransactError;
  export type TransactError<C extends string = errors.TransactErrorCode> = errors.TransactError<C>;
  export const isTransactError = errors.isTransactError;
  export const TRANSACT_ERROR_CODES = errors.TRANSACT_ERROR_CODES;
  export type TransactErrorCode = errors.TransactErrorCode;
  export type HttpErrorCode = errors.HttpErrorCode;
  /** The error registry (lib/core/errors.ts): each code with its HTTP status and meaning. */
  export const ErrorRegistry = errors.ErrorRegistry;
  export type ErrorRegistry<C extends string = string> = errors.ErrorRegistry<C>;
  export type ErrorSpec = errors.ErrorSpec;
  export type ErrorOptions = errors.ErrorOptions;
  export const HOOK_ERRORS = errors.HOOK_ERRORS;
  export const ENGINE_ERRORS = errors.ENGINE_ERRORS;
  export const HTTP_ERRORS = errors.HTTP_ERRORS;
  export const LOG_OUTCOMES = errors.LOG_OUTCOMES;
  export type LogOutcomeCode = errors.LogOutcomeCode;

  export type SailsApp = hook.SailsApp;
  export type Transact = hook.Transact;
  export type TransactHook = hook.TransactHook;
  export type TransactConfig = config.TransactConfig;
  export type Transaction = transaction.Transaction;
  export type TransactionOptions = schema.TransactionOptions;
  /** `options.retry` (docs/api.md "Retries"): runs, the codes run again on, the time budget. */
  export type TransactionRetry = schema.TransactionRetry;
  export type RetryableCode = schema.RetryableCode;
  export const RETRYABLE_CODES = schema.RETRYABLE_CODES;
  /** What `tx.afterCommit` / `tx.afterRollback` take (docs/api.md "After-commit and after-rollback hooks"). */
  export type AfterCommit = outcomeHooks.AfterCommit;
  export type AfterRollback = outcomeHooks.AfterRollback;
  export type ReversalInput = schema.ReversalInput;
  export type Engine = engine.Engine;
  export type EngineOptions = engine.EngineOptions;
  export type TransactionResult = engine.TransactionResult;
  export type ReversalResult = engine.ReversalResult;
  export type Operation = types.Operation;
  export type CreateOperation = types.CreateOperation;
  export type UpdateOperation = types.UpdateOperation;
  export type IncrementOperation = types.IncrementOperation;
  export type DestroyOperation = types.DestroyOperation;
  export type Image = types.Image;
  export type Values = types.Values;
  export type LogDocument = types.LogDocument;
  export type Step = types.Step;
  export type TxState = types.TxState;
  export type TxError = types.TxError;
  export type Version = history.Version;
  export type RecoverySummary = recovery.RecoverySummary;
  export type TransactionStats = recovery.TransactionStats;
  export type JobContext<App = unknown> = scheduler.JobContext<App>;
  export type JobDefinition<App = unknown> = scheduler.JobDefinition<App>;
  export type JobStatus = scheduler.JobStatus;
  export type Scheduler = scheduler.Scheduler;

  /** Indexes declared by models (`indexes: [{fields, unique?, elements?, name?}]`), created natively. */
  export const createIndexes = indexes.createIndexes;
  export const declaredIndexes = indexes.declaredIndexes;
  export type IndexDeclaration = indexes.IndexDeclaration;
  export type IndexSpec = storeContract.IndexSpec;
  export type CreatedIndex = storeContract.CreatedIndex;

  /** The models' tables, created or given their missing columns, never dropped (what `npm run migrate` runs). */
  export const evolveTables = migrations.evolveTables;
  export type EvolvedTable = storeContract.EvolvedTable;

  /** The read side of the log (what the REST endpoints and the ops page show). */
  export const listTransactions = queries.listTransactions;
  export const stuckTransactions = queries.stuckTransactions;
  export const settleStuck = queries.settleStuck;
  /** The ops page's strip of counts, each an indexed query. */
  export const stateCounts = queries.stateCounts;
  /** A bulk settle: the dry run (recovery's own decision, nothing written), then each settled by settleStuck. */
  export const previewSettle = queries.previewSettle;
  export const settleMany = queries.settleMany;
  export const summaryOf = queries.summaryOf;
  export type TransactionQuery = queries.TransactionQuery;
  export type TransactionSummary = queries.TransactionSummary;
  export type TransactionPage = queries.TransactionPage;
  export type ListOptions = queries.ListOptions;
  export type StuckTransaction = queries.StuckTransaction;
  export type StuckPage = queries.StuckPage;
  export type TransactHealth = queries.TransactHealth;
  export type SettleNote = queries.SettleNote;
  export type SettleResult = queries.SettleResult;
  export type StateCounts = queries.StateCounts;
  export type SettlePreview = queries.SettlePreview;
  export type BulkSettleItem = queries.BulkSettleItem;
  export type ListCursor = queries.ListCursor;

  /** Committed reads (`engine.reads`) and the GET blueprint actions built on them. */
  export const CommittedReads = reads.CommittedReads;
  export type CommittedReads = reads.CommittedReads;
  export type ReadQuery = reads.ReadQuery;
  export type SumCheck = reads.SumCheck;
  export type SumCheckPage = reads.SumCheckPage;
  export type SumMismatch = reads.SumMismatch;
  export const findAction = http.findAction;
  export const findOneAction = http.findOneAction;

  /** The HTTP layer's pieces an app builds on (its own actions; its codes go in the registry, `config.transact.errors`). */
  export const errorBody = http.errorBody;
  export const sendError = http.sendError;
  export const sendEngineError = http.sendEngineError;
  export const restRoutes = http.restRoutes;
  export const transactionalModels = http.transactionalModels;
  export const valuesSchema = http.valuesSchema;
  /** The path of a `__proto__`/`constructor`/`prototype` key anywhere in parsed input, or null (a body parser refuses such input). */
  export const prototypeKeyPath = http.prototypeKeyPath;
  export type RoutesConfig = http.RoutesConfig;
  export type HttpAllowlist = http.HttpAllowlist;
  export type HttpRequest = http.HttpRequest;
  export type HttpResponse = http.HttpResponse;
  export type ErrorBody = http.ErrorBody;

  /** Recovery drills (state as of a time, rebuilt into a scratch datastore) and logical backups (docs/operations.md: Drills and backups). */
  export const rebuildAt = drill.rebuildAt;
  export const writeBackup = drill.writeBackup;
  export const verifyBackup = drill.verifyBackup;
  export const restoreBackup = drill.restoreBackup;
  export const scratchDatastore = drill.scratchDatastore;
  export const freshAdapter = drill.freshAdapter;
  export const protectScratch = drill.protectScratch;
  export const ADAPTER_PACKAGES = drill.ADAPTER_PACKAGES;
  export const BACKUP_FORMAT = drill.BACKUP_FORMAT;
  export const BACKUP_VERSION = drill.BACKUP_VERSION;
  export type DrillOptions = drill.DrillOptions;
  export type DrillReport = drill.DrillReport;
  export type DrillGap = drill.DrillGap;
  export type BackupHeader = drill.BackupHeader;
  export type BackupTrailer = drill.BackupTrailer;
  export type BackupSummary = drill.BackupSummary;
  export type RestoreOptions = drill.RestoreOptions;
  export type RestoreSummary = drill.RestoreSummary;
  export type ScratchDatastore = drill.ScratchDatastore;
}

export = sailsHookTransact;
