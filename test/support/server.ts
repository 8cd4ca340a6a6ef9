/**
 * The app as `npm start` runs it (`node app.js`) in a child process, configured by its
 * environment only, on a free loopback port: for what needs a whole process — several instances,
 * production settings. Also a Redis for tests, under a key prefix of their own.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './app';

const APP = join(__dirname, '..', '..', '..', 'app.js');

export interface Server {
  port: number;
  /** http://127.0.0.1:<port> */
  base: string;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node app.js` with `env` (PORT chosen here); resolves once Sails reports it lifted. */
export async function startServer(env: Record<string, string>, timeoutMs = 60_000): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [APP], {
    cwd: join(__dirname, '..', '..', '..'),
    env: { PATH: process.env.PATH ?? '', HOME: mkdtempSync(join(tmpdir(), 'transact-home-')), ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the app did not lift within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (/Server lifted/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited (${String(code)}) before it lifted:\n${output}`));
    });
  });
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

const execFileAsync = promisify(execFile);

/** The tests' Redis (TEST_REDIS_URL, else the local one .ci/run makes sure of). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other run uses, so parallel runs on one Redis never meet. */
export function redisPrefix(): string {
  return `test-${randomBytes(6).toString('hex')}:`;
}

/** Keys under a prefix (bounded: a test makes a handful). */
export async function redisKeys(prefix: string): Promise<string[]> {
  const { stdout } = await execFileAsync('redis-cli', ['-u', TEST_REDIS_URL, '--scan', '--pattern', `${prefix}*`]);
  return stdout.split('\n').filter((line) => line !== '').slice(0, 10_000);
}

export async function dropRedisKeys(prefix: string): Promise<void> {
  const keys = await redisKeys(prefix);
  for (let i = 0; i < keys.length; i += 500) await execFileAsync('redis-cli', ['-u', TEST_REDIS_URL, 'del', ...keys.slice(i, i + 500)]);
}
