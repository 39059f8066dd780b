// Graceful stop of the HTTP servers: stop accepting, let the requests in flight finish within a
// grace period (their connections close after the answer), close idle keep-alive connections at
// once, and cut whatever is still open when the grace runs out.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export class Drain {
  readonly #servers: Server[] = [];
  readonly #inFlight = new Set<ServerResponse>();
  #draining = false;

  add(server: Server): void {
    this.#servers.push(server);
  }

  /** Call first for every request, before any handler can write. */
  track(_req: IncomingMessage, res: ServerResponse): void {
    // A request on a kept-alive connection during the drain is served, then its connection closes.
    if (this.#draining) res.setHeader('Connection', 'close');
    this.#inFlight.add(res);
    res.once('close', () => {
      this.#inFlight.delete(res);
      // A response whose headers went out before the drain left its connection kept alive.
      if (this.#draining) setImmediate(() => this.#servers.forEach((server) => server.closeIdleConnections()));
    });
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Resolves once every connection is closed; returns how many requests the grace cut short. */
  async drain(graceMs: number): Promise<number> {
    this.#draining = true;
    for (const res of this.#inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    const closed = Promise.all(this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const server of this.#servers) server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace over'>((resolve) => {
      timer = setTimeout(() => resolve('grace over'), Math.max(0, graceMs));
    });
    const outcome = await Promise.race([closed, graceOver]);
    clearTimeout(timer);
    if (outcome !== 'grace over') return 0;
    const cut = this.#inFlight.size;
    for (const server of this.#servers) server.closeAllConnections();
    await closed;
    return cut;
  }
}
