/**
 * A real browser for the admin page tests: Debian's chromium driven by playwright-core (never a
 * downloaded browser), headless, a fresh user-data dir per context, loopback only.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(__dirname, '..', '..', '..', 'artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A fresh browser context (its own profile, so its own cookies); every confirm() is accepted. */
export async function openContext(): Promise<BrowserContext> {
  const dir = mkdtempSync(join(tmpdir(), 'transact-chromium-'));
  const context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(20_000);
  context.on('page', (page) => page.on('dialog', (dialog) => void dialog.accept()));
  return context;
}

export async function newPage(context: BrowserContext): Promise<Page> {
  const existing = context.pages();
  const page = existing.length > 0 ? existing[0] : await context.newPage();
  if (existing.length > 0) page.on('dialog', (dialog) => void dialog.accept());
  return page;
}

/** Signs in through the login form. */
export async function signIn(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/admin/login`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);
}

/** Saves a full-page screenshot as artifacts/<name>.png (git-ignored). */
export async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
