import type { Duplex } from 'node:stream';

/** Connections being watched now. */
const watched = new WeakSet<Duplex>();

/** What is still to go out on a connection: bytes its stream holds, and bytes the system has not taken yet. */
interface Unsent {
  buffered: number;
  queued: number;
}

function unsent(socket: Duplex): Unsent {
  // The stream's count drops only when a whole write is done, which can be megabytes; the
  // handle's queue drops as the system takes each piece, so a client that reads slowly but
  // reads is seen moving. (A socket without the handle's count is judged by the stream's.)
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: unknown } })._handle;
  const queued = typeof handle?.writeQueueSize === 'number' ? handle.writeQueueSize : 0;
  return { buffered: socket.writableLength, queued };
}

/**
 * Watches a connection that has output waiting: if its peer takes none of
 * it for `ms`, the connection is destroyed (`onStall` is told first), so
 * that whatever waits on the output (a response, the request's resources)
 * is let go. The watch ends by itself once everything has been handed to
 * the system, or the connection closes; calling it again while it watches
 * does nothing.
 *
 * @example
 * ```ts
 * if (!res.write(chunk)) watchSending(res.socket, 60_000);
 * ```
 */
export function watchSending(socket: Duplex | null | undefined, ms: number | undefined, onStall?: () => void): void {
  if (!socket || !ms || !(ms > 0) || socket.destroyed || watched.has(socket)) return;
  watched.add(socket);
  let last = unsent(socket);
  let movedAt = performance.now();
  const stop = () => {
    clearInterval(timer);
    watched.delete(socket);
    socket.off('close', stop);
  };
  const timer = setInterval(() => {
    const now = unsent(socket);
    if (socket.destroyed || now.buffered + now.queued === 0) return stop();
    if (now.buffered < last.buffered || now.queued < last.queued) movedAt = performance.now();
    last = now;
    if (performance.now() - movedAt < ms) return;
    stop();
    onStall?.();
    socket.destroy();
  }, Math.min(1000, Math.max(50, ms / 4)));
  timer.unref();
  socket.once('close', stop);
}
