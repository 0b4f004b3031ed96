import { Server as NetServer, type Socket } from 'node:net';
import type { Server, ServerResponse } from 'node:http';

/** How long a connection with no request in progress is kept open once a drain starts. */
const LINGER_MS = 1000;

/**
 * Stops a node:http server the way a reload needs: no connection is refused
 * while another process takes over, and no request fails.
 *
 * node:http's own `close()` drops idle keep-alive connections at once, but a
 * client may be sending its next request on one at that very moment, and
 * that request then fails. A drain instead stops accepting connections and
 * answers every request still to come on an open connection, marking the
 * answer `Connection: close` so the client goes elsewhere for the next one. A
 * connection that stays idle for a second is closed then (its client is not
 * in the middle of anything), and at the end of the grace period whatever is
 * left is cut off.
 *
 * @example
 * ```ts
 * const drain = new HttpDrain(server);   // before the server has connections
 * process.once('SIGTERM', async () => { await drain.drain(10_000); process.exit(0); });
 * ```
 */
export class HttpDrain {
  readonly #server: Server;
  /** Open connections, with the number of requests in progress on each. */
  readonly #sockets = new Map<Socket, number>();
  /** Responses in progress. */
  readonly #responses = new Set<ServerResponse>();
  #lingerMs = LINGER_MS;
  #draining: Promise<number> | undefined;
  #settle: (() => void) | undefined;

  constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#sockets.set(socket, 0);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.#settleIfDone();
      });
    });
    // First, so that the header is set before a listener can answer.
    server.prependListener('request', (req, res) => {
      const socket = req.socket;
      this.#sockets.set(socket, (this.#sockets.get(socket) ?? 0) + 1);
      if (this.#draining) res.setHeader('Connection', 'close');
      this.#responses.add(res);
      res.once('close', () => {
        this.#responses.delete(res);
        const left = (this.#sockets.get(socket) ?? 1) - 1;
        if (!this.#sockets.has(socket)) return;
        this.#sockets.set(socket, left);
        if (this.#draining && left === 0) this.#linger(socket);
      });
    });
  }

  /**
   * Whether a drain has started.
   *
   * @example
   * ```ts
   * if (!drain.draining) await drain.drain(10_000);
   * ```
   */
  get draining(): boolean {
    return this.#draining !== undefined;
  }

  /**
   * Stops accepting connections, lets the requests in progress and those
   * already on their way finish, and resolves once every connection is closed,
   * with the number of connections that were still busy after `graceMs` and
   * were cut off.
   *
   * @example
   * ```ts
   * const cut = await drain.drain(10_000);
   * if (cut) console.error(`${cut} connection(s) cut off`);
   * ```
   */
  drain(graceMs: number): Promise<number> {
    this.#draining ??= this.#run(Math.max(0, graceMs));
    return this.#draining;
  }

  async #run(graceMs: number): Promise<number> {
    this.#lingerMs = Math.min(LINGER_MS, graceMs);
    const closed = new Promise<void>((resolve) => {
      // net.Server's close, not http.Server's, which would drop idle keep-alive connections now.
      if (this.#server.listening) NetServer.prototype.close.call(this.#server, () => resolve());
      else resolve();
    });
    for (const res of this.#responses) if (!res.headersSent) res.setHeader('Connection', 'close');
    for (const [socket, busy] of this.#sockets) if (busy === 0) this.#linger(socket);
    let cut = 0;
    const done = new Promise<void>((resolve) => {
      this.#settle = resolve;
      this.#settleIfDone();
    });
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([done, deadline]);
    for (const [socket, busy] of this.#sockets) {
      if (busy > 0) cut++;
      socket.destroy();
    }
    await closed;
    // Clears node:http's timers; it has no connections left to close.
    this.#server.close();
    return cut;
  }

  /** Closes `socket` if it is still idle after the linger time. */
  #linger(socket: Socket): void {
    setTimeout(() => {
      if (this.#sockets.get(socket) === 0) socket.destroy();
    }, this.#lingerMs).unref();
  }

  #settleIfDone(): void {
    if (this.#settle && this.#sockets.size === 0) this.#settle();
  }
}
