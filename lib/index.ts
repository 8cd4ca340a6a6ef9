/**
 * sails-hook-transact: crash-safe multi-document transactions for Sails on any Waterline datastore.
 * The export is the Sails hook; its properties are the pieces an app may use directly.
 */
import { TransactError, isTransactError } from './errors';
import { transactHook } from './hook';
import { newId } from './ids';
import { CommittedReads, findAction, findOneAction } from './reads';

export = Object.assign(transactHook, { transactHook, newId, TransactError, isTransactError, CommittedReads, findAction, findOneAction });
