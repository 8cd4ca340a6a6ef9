/**
 * The fund's money movements: deposits, orders (from cash or through the gateway), payment
 * callbacks, paid orders allocated later, and withdrawals. Each movement is ONE engine batch (all
 * or nothing) with its ledger lines. Pure planning is in planning.ts, tested without a database;
 * the services take the app explicitly.
 */
export { closeAccount, openAccount, type OpenAccountInput, transfer, type TransferInput } from './accounts';
export { addAllocation, Batch, boundRole, fundErrorOf, type LedgerLine, type Role } from './batch';
export { deposit, registerPayment, withdraw, type Withdrawal } from './movements';
export { reassignDeposit, type ReassignInput } from './corrections';
export { executeOrder, orderView, placeOrder, planCashOrder, type OrderPlan, type OrderView } from './orders';
export { allocatePaidOrder, type PaidOrderOutcome, type PaidOrderResult } from './paid-orders';
export { handleCallback, validSignature, type PaymentView } from './payments';
export { callerDerivedId, type CallerKey, derivedId, keyedOptions, type LoanLike, MAX_AMOUNT, type Part, planAllocation, roomOf, roundRobin, waterFill } from './planning';
export { schemas, type CallbackInput, type MovementInput, type OrderInput } from './schemas';
