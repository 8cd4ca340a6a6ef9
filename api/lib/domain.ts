/**
 * The fund's documents as the models declare them (api/models). Money is integer cents.
 */

export interface Investor {
  id: string;
  name: string;
  cash: number;
  invested: number;
  createdAt: number;
}

export interface Platform {
  id: string;
  name: string;
}

export type LoanStatus = 'open' | 'funded' | 'closed';

export interface Loan {
  id: string;
  platform: string;
  borrower: string;
  target: number;
  raised: number;
  status: LoanStatus;
  createdAt: number;
}

export type OrderStatus = 'allocated' | 'awaiting_payment' | 'paid' | 'cancelled' | 'needs_attention';

/** One check of an item by the dropped-orders job or an admin (the last 50 are kept). */
export interface Attempt {
  at: number;
  outcome: string;
  attempt?: number;
  answer?: string;
  error?: string;
  by?: string;
  admin?: boolean;
  note?: string;
}

export interface Order {
  id: string;
  investor: string;
  amount: number;
  maxPerLoan: number | null;
  funding: 'cash' | 'gateway';
  paymentId: string | null;
  status: OrderStatus;
  reason: string | null;
  attempts?: Attempt[] | null;
  createdAt: number;
}

export interface Allocation {
  id: string;
  order: string;
  loan: string;
  platform: string;
  amount: number;
  createdAt: number;
}

export type PaymentStatus = 'pending' | 'succeeded' | 'failed' | 'needs_attention';

export interface Anomaly {
  at: number;
  amount: number;
  status: string;
}

export interface Payment {
  id: string;
  paymentId: string;
  investor: string;
  order: string | null;
  amount: number;
  status: PaymentStatus;
  anomalies: Anomaly[];
  attempts?: Attempt[] | null;
  reason?: string | null;
  registeredAt: number | null;
  settlements: number;
  createdAt: number;
}

export type LedgerAccount = 'cash' | 'invested' | 'gateway' | 'loans' | 'withdrawals';

export interface LedgerEntry {
  id: string;
  entry: string;
  investor: string | null;
  account: LedgerAccount;
  amount: number;
  memo: string | null;
  paymentId: string | null;
  order: string | null;
  createdAt: number;
}

export interface Account {
  id: string;
  owner: string;
  currency: 'EUR' | 'CNY' | 'USD';
  balance: number;
  frozen: boolean;
  meta: unknown;
}

export interface AccountEntry {
  id: string;
  entry: string;
  account: string;
  kind: 'opening' | 'transfer';
  amount: number;
  status: 'done' | 'reversed';
}

export type Role = 'readonly' | 'monitor' | 'readwrite' | 'admin';

export interface User {
  id: string;
  username: string;
  passwordHash: string;
  role: Role;
}

export interface Token {
  id: string;
  user: string;
  role: Role;
  expiresAt: number;
}
