/**
 * Spawns the crash child (test/support/crash-child.ts) against a target and collects what it printed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { Target } from './targets';

/** The crash child's script; a suite with a child of its own passes another. */
export const CRASH_CHILD = join(__dirname, 'crash-child.js');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Map<string, string>;
  stdout: string;
  stderr: string;
}

export function runChild(target: Target, args: string[], crashAt?: string, extraEnv: Record<string, string> = {}, script = CRASH_CHILD): Promise<ChildResult> {
  return startChild(target, args, crashAt, extraEnv, 60_000, script).done;
}

/** A child that runs while the test acts on it (SIGSTOP/SIGCONT, faults); `done` resolves when it ends. */
export interface RunningChild {
  process: ChildProcess;
  done: Promise<ChildResult>;
}

export function startChild(target: Target, args: string[], crashAt?: string, extraEnv: Record<string, string> = {}, timeoutMs = 60_000, script = CRASH_CHILD): RunningChild {
  const env = { ...process.env, ...extraEnv, TARGET_ADAPTER: target.adapter, TARGET_LOCATION: target.location, TRANSACT_CRASH_AT: crashAt ?? '' };
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<ChildResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }, timeoutMs);
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
  return { process: child, done };
}

/** Waits (bounded) until the process is stopped (SIGSTOP): its state in /proc is `T`. */
export async function waitStopped(pid: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let state: string | undefined;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    } catch {
      throw new Error(`process ${pid} ended before it stopped`);
    }
    if (state === 'T' || state === 't') return;
    await sleep(20);
  }
  throw new Error(`process ${pid} did not stop within ${timeoutMs} ms`);
}
