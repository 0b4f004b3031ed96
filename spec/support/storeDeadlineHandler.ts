// A handler run as a real CGI process: its session lives in a store of this module, which either
// answers (and, once it has written, reports on stderr which resources still keep the process
// alive) or never answers (hang:), to check the deadline timer of store operations.
import { MemoryStore, ServiceHandler, isMain, registerStore, type ServiceRequest, type SessionRecord, type SessionStore } from '../../src/index.js';

class ReportingStore implements SessionStore {
  readonly inner = new MemoryStore({ sweepIntervalMs: 0 });
  constructor(readonly name: string, private readonly hang: boolean) {}
  async get(key: string) {
    if (this.hang) await new Promise(() => {});
    return this.inner.get(key);
  }
  async set(key: string, record: SessionRecord) {
    await this.inner.set(key, record);
    // Once pso has taken this answer (its microtasks run before the immediate).
    setImmediate(() => process.stderr.write(`alive after the write: ${JSON.stringify(process.getActiveResourcesInfo())}\n`));
  }
  async destroy(key: string) {
    await this.inner.destroy(key);
  }
}

registerStore('answers:', (url) => new ReportingStore(url.href, false));
registerStore('hang:', (url) => new ReportingStore(url.href, true));

export function handler(request: ServiceRequest): void {
  request.pso().sendHttpHeaders('text/plain');
  request.pso().write(String(request.pso().session.increment('n')));
}

if (isMain(import.meta.url)) void new ServiceHandler().run(handler);
