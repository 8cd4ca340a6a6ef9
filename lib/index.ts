/**
 * sails-hook-transact: crash-safe multi-document transactions for Sails on any Waterline datastore.
 * The default export is the Sails hook; the named exports are for typing and for use without Sails.
 */
import { transactHook } from './hook';

export = Object.assign(transactHook, { transactHook });
