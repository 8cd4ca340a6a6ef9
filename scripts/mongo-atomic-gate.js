// @ts-check
'use strict';
/**
 * A MongoDB wire-protocol gate in front of FerretDB, for the test suites and benches only.
 *
 *   node scripts/mongo-atomic-gate.js <listen port> <FerretDB port>
 *
 * Why: every rule of log protocol v3 rests on one property of MongoDB — a conditional update
 * (`updateOne`/`updateMany`/`findOneAndUpdate`/`deleteOne` with a filter) tests its filter and
 * writes the document as one atomic step (docs/protocol-v3.md "What the datastore must
 * guarantee"). FerretDB 1.24 does not: it reads the matching documents, modifies them in Go and
 * writes them back, so two concurrent grants of one free record both match. The gate lets one
 * write command at a time reach FerretDB (insert, update, delete, findAndModify), waiting for its
 * reply before the next; reads pass at once. A write is then atomic against every other write, as
 * on MongoDB per document, and a read sees each document before or after a write, never a mix.
 * What it gives beyond MongoDB: a multi-document write is also atomic against other writes (on
 * MongoDB only each document is); the simulation's MongoDB (test/sim/mongo-driver.ts) interleaves
 * those per document.
 *
 * It also renames `ferretdbVersion` in buildInfo's reply to `ferretdbGated__` (same length, so
 * the message is patched in place): the hook then treats the server as the MongoDB the gate makes
 * it (lib/store/mongo/records.ts recordsUnsafeOn), while a test can still tell FerretDB's other
 * differences apart (test/support/records.ts isFerretDb).
 *
 * A write held by the gate waits for FerretDB's reply, never for its client: a client stalled by
 * a fault proxy (Toxiproxy sits between the clients and the gate) holds nothing until its whole
 * message has arrived, and a client that dies mid-write frees the gate when FerretDB answers or
 * either socket closes.
 */
const net = require('net');

const OP_MSG = 2013;
const OP_COMPRESSED = 2012;
const MORE_TO_COME = 1 << 1;
const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify']);
const HIDDEN_KEY = Buffer.from('ferretdbVersion\0', 'latin1');
const SHOWN_KEY = Buffer.from('ferretdbGated__\0', 'latin1');

/** One write at a time, in arrival order. */
class Gate {
  constructor() {
    /** @type {Array<() => void>} */
    this.waiting = [];
    this.held = false;
  }

  /** @returns {Promise<() => void>} the release, which only the first call performs */
  acquire() {
    return new Promise((resolve) => {
      const grant = () => {
        this.held = true;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          const next = this.waiting.shift();
          if (next === undefined) this.held = false;
          else next();
        });
      };
      if (this.held) this.waiting.push(grant);
      else grant();
    });
  }
}

/**
 * The command an OP_MSG names: the first key of its body (section kind 0). null for anything else.
 * @param {Buffer} message
 */
function commandOf(message) {
  if (message.readInt32LE(12) !== OP_MSG) return null;
  let at = 20; // header (16) + flagBits (4)
  while (at < message.length) {
    const kind = message[at];
    if (kind === 0) {
      const keyStart = at + 1 + 4 + 1; // kind, document length, first element's type
      const keyEnd = message.indexOf(0, keyStart);
      return keyEnd < 0 ? null : message.toString('latin1', keyStart, keyEnd);
    }
    if (kind !== 1) return null;
    at += 1 + message.readInt32LE(at + 1);
  }
  return null;
}

/** @param {Buffer} message */
function printable(message) {
  return message.toString('latin1', 20, Math.min(message.length, 400)).replace(/[^\x20-\x7e]+/g, ' ');
}

/**
 * Splits a stream into whole wire messages (each starts with its int32 length).
 * @param {(message: Buffer) => void} onMessage
 */
function messageReader(onMessage) {
  let pending = Buffer.alloc(0);
  return (/** @type {Buffer} */ chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readInt32LE(0);
      if (pending.length < length) break;
      onMessage(pending.subarray(0, length));
      pending = pending.subarray(length);
    }
  };
}

/**
 * @param {net.Socket} client
 * @param {number} upstreamPort
 * @param {Gate} gate
 */
function relay(client, upstreamPort, gate) {
  const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  /** requestID -> what its reply needs: a release of the gate, a buildInfo to patch */
  /** @type {Map<number, { release?: () => void, buildInfo: boolean }>} */
  const awaiting = new Map();
  // A connection's messages reach FerretDB in the order its client sent them.
  let chain = Promise.resolve();
  let closed = false;

  const writeInFlight = () => [...awaiting.values()].some((entry) => entry.release !== undefined);
  const releaseAll = () => {
    for (const entry of awaiting.values()) entry.release?.();
    awaiting.clear();
  };
  // A client gone mid-write (killed, reset by a fault) leaves its write running in FerretDB: the
  // gate stays held until FerretDB answers it or its socket closes, so no write overlaps it.
  const closeClient = () => {
    if (closed) return;
    closed = true;
    client.destroy();
    if (!writeInFlight()) closeUpstream();
  };
  const closeUpstream = () => {
    closed = true;
    releaseAll();
    client.destroy();
    upstream.destroy();
  };

  client.on('data', messageReader((message) => {
    const copy = Buffer.from(message);
    chain = chain.then(async () => {
      if (closed) return;
      const command = commandOf(copy);
      const opCode = copy.readInt32LE(12);
      const requestId = copy.readInt32LE(4);
      const expectsReply = !(opCode === OP_MSG && (copy.readUInt32LE(16) & MORE_TO_COME) !== 0);
      // A compressed message cannot be read without its codec: held as a write, to be safe.
      const isWrite = (command !== null && WRITES.has(command)) || opCode === OP_COMPRESSED;
      if (!isWrite) {
        if (expectsReply && command === 'buildInfo') awaiting.set(requestId, { buildInfo: true });
        upstream.write(copy);
        return;
      }
      const release = await gate.acquire();
      if (closed) {
        release();
        return;
      }
      if (!expectsReply) {
        upstream.write(copy, () => release());
        return;
      }
      const replied = new Promise((resolve) => awaiting.set(requestId, { release: () => { release(); resolve(undefined); }, buildInfo: false }));
      upstream.write(copy);
      // A write FerretDB has not answered for long holds every other: say which, for the log.
      const sentAt = Date.now();
      const watchdog = setInterval(() => process.stderr.write(`mongo-atomic-gate: ${command ?? `opCode ${opCode}`} (request ${requestId}) unanswered for ${Math.round((Date.now() - sentAt) / 1000)} s: ${printable(copy)}\n`), 10_000);
      await replied;
      clearInterval(watchdog);
    });
  }));

  upstream.on('data', messageReader((message) => {
    const responseTo = message.readInt32LE(8);
    const entry = awaiting.get(responseTo);
    let out = message;
    if (entry !== undefined) {
      awaiting.delete(responseTo);
      if (entry.buildInfo) {
        const at = message.indexOf(HIDDEN_KEY);
        if (at >= 0) {
          out = Buffer.from(message);
          SHOWN_KEY.copy(out, at);
        }
      }
    }
    if (!closed) client.write(out);
    entry?.release?.();
    if (closed && !writeInFlight()) closeUpstream();
  }));

  client.on('close', closeClient);
  client.on('error', closeClient);
  upstream.on('close', closeUpstream);
  upstream.on('error', closeUpstream);
}

function main() {
  const listenPort = Number(process.argv[2]);
  const upstreamPort = Number(process.argv[3]);
  if (!Number.isInteger(listenPort) || !Number.isInteger(upstreamPort)) {
    process.stderr.write('usage: node scripts/mongo-atomic-gate.js <listen port> <FerretDB port>\n');
    process.exit(2);
  }
  const gate = new Gate();
  const server = net.createServer((client) => relay(client, upstreamPort, gate));
  server.listen(listenPort, '127.0.0.1', () => process.stderr.write(`mongo-atomic-gate: 127.0.0.1:${listenPort} -> 127.0.0.1:${upstreamPort}\n`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { commandOf, Gate };
