// Connections to the directory: at most `ldap.pool_size` per process, reused between logins,
// each set up with StartTLS (or ldaps://) before anything is sent and bound as the service
// account (or anonymous) before it searches. Every step is bounded (`connect_timeout` to connect,
// `timeout` for each operation, the TLS handshake and the wait for a free connection), so a
// directory that is down or hung costs a login a bounded wait and a DirectoryUnavailableError,
// never a hang. A connection that failed or timed out is destroyed and a fresh one made for the
// next login, which is how logins recover once the directory is back. Passwords are only ever
// handed to ldapts' bind, never to a log line or an error message.
import { readFileSync } from 'node:fs';
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError, type Entry, type SearchOptions } from 'ldapts';
import type { Config } from '../config/types.js';
import { DirectoryUnavailableError, INVALID_CREDENTIALS, NO_SUCH_OBJECT, connectionFailure, isTransient } from './unavailable.js';

export { DirectoryUnavailableError } from './unavailable.js';

export type LdapConfig = Config['ldap'];

interface Slot {
  client: Client;
  /** Every socket the client opened (TCP and TLS), so a stalled connection can be cut at once. */
  sockets: Set<Socket>;
  /** Whom the connection is bound as. */
  identity: 'none' | 'service' | 'user';
  /** StartTLS done (with start_tls, nothing but StartTLS is sent before). */
  secured: boolean;
  /** Whether the client has opened its one connection (see #newSlot). */
  opened(): boolean;
}

interface Waiter {
  resolve(slot: Slot): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class DirectoryConnections {
  readonly #config: LdapConfig;
  readonly #url: URL;
  readonly #tls: ConnectionOptions;
  readonly #idle: Slot[] = [];
  readonly #waiting: Waiter[] = [];
  #open = 0;
  #closed = false;

  constructor(config: LdapConfig) {
    if (!config.uri) throw new Error('ldap.uri is not set');
    this.#config = config;
    this.#url = new URL(config.uri);
    const host = this.#url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#tls = {
      host,
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: !config.insecure_skip_verify,
      ...(config.ca_file ? { ca: [readFileSync(config.ca_file, 'utf8')] } : {}),
    };
  }

  get #timeoutMs(): number {
    return this.#config.timeout * 1000;
  }

  /** What ldap-check prints: the server and how the connection is protected. */
  describe(): string {
    const protection = this.#url.protocol === 'ldaps:' ? 'TLS' : this.#config.start_tls ? 'StartTLS' : 'no TLS';
    return `${this.#url.protocol}//${this.#url.host} (${protection})`;
  }

  /** Searches as the service account; a base DN that does not exist has no entries. */
  async search(base: string, options: SearchOptions, guard = true): Promise<Entry[]> {
    return this.#withSlot('service', async (slot) => {
      try {
        const run = slot.client.search(base, { timeLimit: Math.ceil(this.#config.timeout), ...options });
        const result = guard ? await this.#within(slot, 'search', run) : await run;
        return result.searchEntries;
      } catch (err) {
        if (err instanceof ResultCodeError && err.code === NO_SUCH_OBJECT) return [];
        if (err instanceof ResultCodeError) throw new DirectoryUnavailableError('error', `search under ${base} failed: ${err.message}`);
        throw err;
      }
    });
  }

  /**
   * Whether `password` is the password of `dn`: a bind as that entry. An empty password is never
   * sent (LDAP takes it for an anonymous bind, which succeeds). With `read`, the entry is then read
   * with the user's own rights (direct_bind, where no service account may exist).
   */
  async verifyPassword(dn: string, password: string, read?: { filter: SearchOptions['filter']; attributes: string[] }): Promise<{ ok: false } | { ok: true; entries: Entry[] }> {
    if (password === '' || dn === '') return { ok: false };
    return this.#withSlot('none', async (slot) => {
      try {
        await this.#within(slot, 'bind', slot.client.bind(dn, password));
      } catch (err) {
        if (err instanceof ResultCodeError && !isTransient(err)) {
          // Invalid credentials, or a DN the server refuses (bad syntax, unwilling): not this user.
          slot.identity = 'none';
          return { ok: false };
        }
        throw err;
      }
      slot.identity = 'user';
      if (!read) return { ok: true, entries: [] };
      try {
        const result = await this.#within(slot, 'search', slot.client.search(dn, { scope: 'base', filter: read.filter, attributes: read.attributes, timeLimit: Math.ceil(this.#config.timeout) }));
        return { ok: true, entries: result.searchEntries };
      } catch (err) {
        if (err instanceof ResultCodeError && !isTransient(err)) return { ok: true, entries: [] };
        throw err;
      }
    });
  }

  /** Connects and binds as the service account (ldap-check); throws DirectoryUnavailableError. */
  async probe(): Promise<void> {
    await this.#withSlot('service', async () => undefined);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new DirectoryUnavailableError('busy', 'the directory connections are closing'));
    }
    for (const slot of this.#idle.splice(0)) this.#destroy(slot);
  }

  async #withSlot<T>(want: 'none' | 'service', run: (slot: Slot) => Promise<T>, retried = false): Promise<T> {
    const slot = await this.#acquire();
    // A connection from the pool may have been closed by the server just now (restart, idle
    // timeout) without us having heard yet: such a failure is tried once more on a new one.
    const reused = slot.opened();
    let healthy = false;
    try {
      await this.#prepare(slot, want);
      const result = await run(slot);
      healthy = true;
      return result;
    } catch (err) {
      if (err instanceof ResultCodeError && !isTransient(err)) {
        healthy = slot.client.isConnected;
        throw err;
      }
      const failure = err instanceof ResultCodeError ? new DirectoryUnavailableError('busy', `the directory refused to serve: ${err.message}`) : connectionFailure(err, 'directory');
      if (failure.kind !== 'unreachable' || !reused || retried) throw failure;
    } finally {
      this.#release(slot, healthy);
    }
    return this.#withSlot(want, run, true);
  }

  #newSlot(): Slot {
    const sockets = new Set<Socket>();
    const track = <S extends Socket>(socket: S): S => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      return socket;
    };
    // One connection per client: ldapts reconnects on its own when a connection drops, which
    // would send the next bind unencrypted (before StartTLS) and unauthenticated. Refused here;
    // #prepare makes a new client instead.
    let opened = false;
    const once = () => {
      if (opened) throw new Error('the directory connection was lost');
      opened = true;
    };
    const client = new Client({
      url: `${this.#url.protocol}//${this.#url.host}`,
      timeout: this.#timeoutMs,
      connectTimeout: this.#config.connect_timeout * 1000,
      ...(this.#url.protocol === 'ldaps:' ? { tlsOptions: this.#tls } : {}),
      createConnection: ((port: number, host: string) => {
        once();
        return track(tcpConnect(port, host));
      }) as unknown as typeof tcpConnect,
      createSecureConnection: ((...args: Parameters<typeof tlsConnect>) => {
        // (port, host, options) opens an ldaps:// connection; (options) upgrades one with StartTLS.
        if (typeof args[0] === 'number') once();
        return track(tlsConnect(...args));
      }) as typeof tlsConnect,
    });
    return { client, sockets, identity: 'none', secured: false, opened: () => opened };
  }

  #acquire(): Promise<Slot> {
    if (this.#closed) return Promise.reject(new DirectoryUnavailableError('busy', 'the directory connections are closed'));
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#open < this.#config.pool_size) {
      this.#open += 1;
      return Promise.resolve(this.#newSlot());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          reject(new DirectoryUnavailableError('busy', `all ${this.#config.pool_size} directory connections stayed busy for ${this.#config.timeout} s`));
        }, this.#timeoutMs),
      };
      this.#waiting.push(waiter);
    });
  }

  #release(slot: Slot, healthy: boolean): void {
    let next: Slot | undefined = slot;
    if (!healthy || this.#closed) {
      this.#destroy(slot);
      this.#open -= 1;
      next = undefined;
    }
    const waiter = this.#waiting.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      if (!next) this.#open += 1;
      waiter.resolve(next ?? this.#newSlot());
    } else if (next) {
      this.#idle.push(next);
    }
  }

  #destroy(slot: Slot): void {
    for (const socket of slot.sockets) socket.destroy();
    slot.sockets.clear();
  }

  /** Connected (TLS first when configured) and, for `service`, bound as the service account. */
  async #prepare(slot: Slot, want: 'none' | 'service'): Promise<void> {
    if (!slot.client.isConnected && slot.opened()) {
      // The server closed the connection since (restart, idle timeout): start afresh.
      this.#destroy(slot);
      Object.assign(slot, this.#newSlot());
    }
    if (this.#config.start_tls && !slot.secured) {
      // A refused StartTLS leaves a plain connection open: it is never used (the slot is dropped).
      try {
        await this.#within(slot, 'StartTLS', slot.client.startTLS({ ...this.#tls }), this.#config.connect_timeout * 1000);
      } catch (err) {
        if (err instanceof ResultCodeError) throw new DirectoryUnavailableError('tls', `the directory refused StartTLS: ${err.message}`);
        throw err;
      }
      slot.secured = true;
    }
    if (want !== 'service' || slot.identity === 'service') return;
    const { bind_dn: bindDn, bind_password: bindPassword } = this.#config;
    try {
      // Anonymous: a fresh connection is anonymous already; one bound as a user goes back with an empty bind.
      if (bindDn !== undefined && bindPassword !== undefined) await this.#within(slot, 'service bind', slot.client.bind(bindDn, bindPassword));
      else if (slot.identity === 'user' || !slot.client.isConnected) await this.#within(slot, 'anonymous bind', slot.client.bind('', ''));
    } catch (err) {
      if (err instanceof ResultCodeError && !isTransient(err)) {
        const what = err.code === INVALID_CREDENTIALS ? 'wrong bind_dn or bind_password' : err.message;
        throw new DirectoryUnavailableError('service_bind', `the directory refused the service account (${what})`);
      }
      throw err;
    }
    slot.identity = 'service';
  }

  /** `operation`, or a DirectoryUnavailableError once it has taken `timeout` (plus `extraMs`): the connection is cut then. */
  async #within<T>(slot: Slot, what: string, operation: Promise<T>, extraMs = 0): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limitMs = this.#timeoutMs + extraMs;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.#destroy(slot);
        reject(new DirectoryUnavailableError('timeout', `the directory did not answer the ${what} within ${limitMs / 1000} s`));
      }, limitMs);
    });
    try {
      return await Promise.race([operation, late]);
    } catch (err) {
      if (err instanceof ResultCodeError || err instanceof DirectoryUnavailableError) throw err;
      throw connectionFailure(err, `${what} failed`);
    } finally {
      clearTimeout(timer);
    }
  }
}
