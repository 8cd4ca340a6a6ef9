/**
 * Spawns the crash child (test/support/crash-child.ts) against a target and collects what it printed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Target } from './targets';

const CHILD = join(__dirname, 'crash-child.js');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Map<string, string>;
  stdout: string;
  stderr: string;
}

export function runChild(target: Target, args: string[], crashAt?: string, extraEnv: Record<string, string> = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...extraEnv, TARGET_ADAPTER: target.adapter, TARGET_LOCATION: target.location, TRANSACT_CRASH_AT: crashAt ?? '' };
    const child = spawn(process.execPath, [CHILD, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const space = line.indexOf(' ');
        lines.set(space === -1 ? line : line.slice(0, space), space === -1 ? '' : line.slice(space + 1));
      }
      resolve({ code, signal, lines, stdout, stderr });
    });
  });
}

