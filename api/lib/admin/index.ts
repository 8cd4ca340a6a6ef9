/**
 * The admin page's services (its actions are api/lib/actions/admin.ts): the session (login, CSRF,
 * rights), the dashboard, what needs attention and the actions on it, the page wrapper.
 */
export { attention, attentionSkip, ATTENTION_PAGE, type AttentionItem, type AttentionPage, ITEM_KINDS, type ItemKind, resolveItem, retryItem, type RetryOutcome, type StuckItem } from './attention';
export { type Chart, type CountRow, type Counters, dashboard, type Dashboard, DAY, HOUR, STATES } from './dashboard';
export { age, fail, FORMATS, money, page, type PageHandler, type PageOptions, type PageTools, when } from './page';
export { login, newCsrfToken, opsActor, opsMayReadHistory, type Rights, rightsOf, validCsrf } from './session';
