// A TCP relay to the test PostgreSQL whose behaviour can be changed while connections are open:
// it passes bytes, goes silent (passes nothing and closes nothing: a half-open TCP connection, a
// stuck middlebox), drops every notification (a LISTEN that "succeeds" and hears nothing, as
// behind a transaction-pooling PgBouncer), or holds notifications back until released (an
// invalidation that has not arrived yet, for as long as a test needs to look).
import net from 'node:net';

export type RelayMode = 'pass' | 'silent' | 'drop-notifications' | 'hold-notifications';

export interface PgRelay {
  port: number;
  /** The target URL with the relay's host and port. */
  url: string;
  mode: RelayMode;
  /** Passes on the notifications held back, in order, and returns to `pass`. */
  release(): void;
  close(): Promise<void>;
}

/** NotificationResponse, the only server message PostgreSQL sends on its own. */
const NOTIFICATION = 0x41;

export async function startPgRelay(target: URL): Promise<PgRelay> {
  let mode: RelayMode = 'pass';
  const sockets = new Set<net.Socket>();
  /** Per connection: messages held back since its first held notification (order is kept). */
  const held = new Map<net.Socket, Buffer[]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        held.delete(client);
        // In silent mode nothing is passed on, a close neither.
        if (mode !== 'silent') (s === client ? upstream : client).destroy();
      });
    }
    // An SSLRequest or GSSENCRequest (8 bytes: length, then code) is answered by one untyped
    // byte ('N' here: the test server has no TLS); the typed messages come after it.
    let untyped = 0;
    client.on('data', (chunk: Buffer) => {
      if (chunk.length === 8 && chunk.readUInt32BE(0) === 8 && [80877103, 80877104].includes(chunk.readUInt32BE(4))) untyped++;
      if (mode !== 'silent') upstream.write(chunk);
    });
    // Server messages are typed (1 byte) and sized (4 bytes, counting themselves): whole ones are
    // passed on, notifications dropped or held back in those modes. Once a connection holds a
    // notification, what follows it waits too, so that nothing overtakes it.
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'silent') return;
      pending = Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      while (untyped > 0 && pending.length > 0) {
        out.push(pending.subarray(0, 1));
        pending = pending.subarray(1);
        untyped--;
      }
      while (pending.length >= 5) {
        const size = 1 + pending.readUInt32BE(1);
        if (pending.length < size) break;
        const message = pending.subarray(0, size);
        pending = pending.subarray(size);
        const queue = held.get(client);
        if (queue) queue.push(message);
        else if (mode === 'hold-notifications' && message[0] === NOTIFICATION) held.set(client, [message]);
        else if (!(mode === 'drop-notifications' && message[0] === NOTIFICATION)) out.push(message);
      }
      if (out.length) client.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(target.href);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    port,
    url: url.href,
    get mode() {
      return mode;
    },
    set mode(value: RelayMode) {
      mode = value;
    },
    release() {
      mode = 'pass';
      for (const [client, messages] of held) if (!client.destroyed) client.write(Buffer.concat(messages));
      held.clear();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
