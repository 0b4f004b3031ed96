import cluster, { type Worker } from 'node:cluster';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileWatcher } from './FileWatcher.js';
import { findModuleFiles } from './findModuleFiles.js';
import { HandlerSource } from './HandlerSource.js';
import { prepareUnixSocket } from './prepareUnixSocket.js';
import { fromSent, type FromWorker, type SentError, type ToWorker } from './messages.js';
import { servingText } from './listeners.js';
import type { ServeConfig } from './ServeConfig.js';
import { WorkerFailure, describeExit } from './WorkerFailure.js';

const WORKER_PROGRAM = fileURLToPath(new URL('./workerMain.js', import.meta.url));
/** A worker that dies sooner than this after it was started died "quickly". */
const QUICK_MS = 5000;
/** Quick deaths in a row after which the primary gives up rather than fork in a loop. */
const MAX_QUICK_DEATHS = 5;
/** The longest wait before replacing a worker (the wait doubles with each quick death from 100 ms). */
const MAX_BACKOFF_MS = 5000;
/** How long new workers get to load the module and listen. */
const START_TIMEOUT_MS = 60_000;
/** How long past the grace period a stopping worker gets before it is killed. */
const KILL_MARGIN_MS = 5000;

/** One version of the module, and the workers that run it. */
interface Generation {
  readonly id: number;
  readonly importPath: string;
}

/** One worker process. */
interface Slot {
  readonly worker: Worker;
  readonly generation: Generation;
  readonly forkedAt: number;
  /** Whether it listens for the primary's messages (one sent before would be lost). */
  ready: boolean;
  listening: boolean;
  retiring: boolean;
  url?: string;
  failure?: SentError;
}

/** Workers being started together, and what to do when they all listen or one fails. */
interface Start {
  readonly generation: Generation;
  listened(slot: Slot): void;
  failed(error: Error): void;
}

/**
 * The primary process of `pso serve --workers N`: forks N workers (node:cluster,
 * which shares one listening socket between them), replaces a worker that
 * dies (waiting longer after each quick death, and giving up after five in a
 * row), reloads on SIGHUP (or, with `--watch`, on a change of the module or
 * what it imports) by starting new workers and retiring the old ones only
 * once the new ones listen, and stops on SIGTERM or SIGINT by letting every
 * worker drain.
 *
 * @example
 * ```ts
 * await new Supervisor({ module: 'handler.ts', address, listener: 'http', directives: {}, workers: 4, graceMs: 10_000, watch: false }).run();
 * ```
 */
export class Supervisor {
  readonly #config: ServeConfig;
  readonly #source: HandlerSource;
  readonly #slots = new Set<Slot>();
  #active: Generation | undefined;
  #generations = 0;
  #start: Start | undefined;
  #quickDeaths = 0;
  #reloading = false;
  #reloadAgain = false;
  #stopping = false;
  /** Whether the first workers listen (a reload before that has nothing to replace). */
  #serving = false;
  #watcher: FileWatcher | undefined;
  /** The umask workers get back (the primary's may be narrowed for a unix socket). */
  #umask = process.umask();
  #allGone: (() => void) | undefined;

  constructor(config: ServeConfig) {
    this.#config = config;
    this.#source = new HandlerSource(config.module);
  }

  /**
   * Starts the workers and resolves once they all listen. A module that
   * cannot be loaded is a `ModuleLoadError`; an address that cannot be
   * listened on, a `ListenError`; workers that die before they listen, a
   * {@link WorkerFailure}.
   *
   * @example
   * ```ts
   * await supervisor.run();
   * ```
   */
  async run(): Promise<void> {
    const { address } = this.#config;
    cluster.setupPrimary({ exec: WORKER_PROGRAM, args: [] });
    this.#handleSignals();
    process.once('exit', () => this.#source.dispose());
    const importPath = await this.#source.prepare();
    if (address.kind === 'unix') {
      await prepareUnixSocket(address.path);
      // node:cluster binds the socket in this process: bound with this umask, it is never wider than asked.
      process.umask(~address.mode & 0o777);
    }
    const generation = this.#newGeneration(importPath);
    this.#active = generation;
    let url: string;
    try {
      url = await this.#startWorkers(generation);
    } catch (e) {
      this.#stopping = true;
      for (const slot of this.#slots) this.#retire(slot, 0);
      await this.#whenAllGone();
      this.#source.dispose();
      throw e;
    }
    this.#serving = true;
    const workers = `${this.#config.workers} worker${this.#config.workers === 1 ? '' : 's'}`;
    process.stdout.write(`pso: serving ${this.#config.module} ${servingText(this.#config.listener, url)} with ${workers}${this.#config.watch ? ', watching for changes' : ''}\n`);
    if (this.#config.watch) {
      this.#watcher = new FileWatcher((file) => {
        process.stdout.write(`pso: ${relative(process.cwd(), file) || file} changed: reloading\n`);
        void this.reload();
      });
      await this.#watchModuleFiles();
    }
  }

  /**
   * Serves a fresh load of the module (compiled again if it is TypeScript)
   * with new workers, then retires the old ones, letting their requests
   * finish. Until the new workers listen, the old ones serve; if the new
   * ones fail, the old ones go on serving and the failure is reported.
   *
   * @example
   * ```ts
   * process.on('SIGHUP', () => void supervisor.reload());
   * ```
   */
  async reload(): Promise<void> {
    if (this.#stopping) return;
    if (this.#reloading) {
      this.#reloadAgain = true;
      return;
    }
    this.#reloading = true;
    try {
      do {
        this.#reloadAgain = false;
        try {
          await this.#reloadOnce();
        } catch (e) {
          process.stderr.write(`pso: reload failed, the previous version goes on serving: ${(e as Error).message}\n`);
        }
        if (this.#watcher) await this.#watchModuleFiles();
      } while (this.#reloadAgain && !this.#stopping);
    } finally {
      this.#reloading = false;
    }
  }

  async #reloadOnce(): Promise<void> {
    const generation = this.#newGeneration(await this.#source.prepare());
    try {
      await this.#startWorkers(generation);
    } catch (e) {
      for (const slot of this.#slots) if (slot.generation === generation) this.#retire(slot, 0);
      throw e;
    }
    if (this.#stopping) return;
    this.#active = generation;
    this.#quickDeaths = 0;
    for (const slot of this.#slots) if (slot.generation !== generation) this.#retire(slot, this.#config.graceMs);
    const pids = [...this.#slots].filter((s) => s.generation === generation).map((s) => s.worker.process.pid);
    process.stdout.write(`pso: reloaded ${this.#config.module}: new workers ${pids.join(', ')}\n`);
  }

  /** Stops every worker, letting requests in progress finish, then exits with `code`. */
  async #shutdown(code: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#watcher?.close();
    for (const slot of this.#slots) this.#retire(slot, this.#config.graceMs);
    await this.#whenAllGone();
    this.#source.dispose();
    process.exit(code);
  }

  #handleSignals(): void {
    const stop = (signal: NodeJS.Signals) => {
      if (!this.#stopping) {
        process.stderr.write(`pso: ${signal}: stopping, requests in progress get up to ${this.#config.graceMs / 1000} s\n`);
        void this.#shutdown(0);
        return;
      }
      process.stderr.write(`pso: ${signal} again: stopping now\n`);
      for (const slot of this.#slots) slot.worker.process.kill('SIGKILL');
      process.exit(1);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      if (!this.#serving || this.#stopping) return;
      process.stdout.write(`pso: SIGHUP: reloading ${this.#config.module}\n`);
      void this.reload();
    });
  }

  #newGeneration(importPath: string): Generation {
    return { id: ++this.#generations, importPath };
  }

  /** Forks the workers of `generation`; resolves with the address once they all listen, rejects at the first failure. */
  #startWorkers(generation: Generation): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      let listening = 0;
      const timer = setTimeout(() => start.failed(new WorkerFailure(`the workers did not listen within ${START_TIMEOUT_MS / 1000} s`, 'see what the module does while it loads')), START_TIMEOUT_MS);
      const start: Start = {
        generation,
        listened: (slot) => {
          if (++listening < this.#config.workers) return;
          clearTimeout(timer);
          this.#start = undefined;
          resolve(slot.url!);
        },
        failed: (error) => {
          clearTimeout(timer);
          this.#start = undefined;
          reject(error);
        },
      };
      this.#start = start;
      for (let i = 0; i < this.#config.workers; i++) this.#fork(generation);
    });
  }

  #fork(generation: Generation): void {
    const worker = cluster.fork();
    const slot: Slot = { worker, generation, forkedAt: Date.now(), ready: false, listening: false, retiring: false };
    this.#slots.add(slot);
    worker.on('message', (message: FromWorker) => this.#onMessage(slot, message));
    worker.on('error', () => undefined);
    worker.once('exit', (code, signal) => {
      // A worker's last message can arrive after its exit: its channel closing comes after it.
      if (!worker.isConnected()) return this.#onGone(slot, code, signal);
      const timer = setTimeout(() => this.#onGone(slot, code, signal), 1000);
      worker.once('disconnect', () => {
        clearTimeout(timer);
        this.#onGone(slot, code, signal);
      });
    });
  }

  #onMessage(slot: Slot, message: FromWorker): void {
    if (message?.pso === 'ready') {
      slot.ready = true;
      const config = { ...this.#config, importPath: slot.generation.importPath, source: this.#source.file, moduleName: this.#source.moduleName };
      if (slot.retiring) slot.worker.send({ pso: 'stop', graceMs: 0 } satisfies ToWorker, () => undefined);
      else slot.worker.send({ pso: 'start', config, umask: this.#umask } satisfies ToWorker, () => undefined);
    } else if (message?.pso === 'listening') {
      slot.listening = true;
      slot.url = message.url;
      if (this.#start?.generation === slot.generation) this.#start.listened(slot);
      // A worker that has lived a while ends a run of quick deaths.
      setTimeout(() => {
        if (this.#slots.has(slot)) this.#quickDeaths = 0;
      }, QUICK_MS).unref();
    } else if (message?.pso === 'failed') {
      slot.failure = message.error;
    } else if (message?.pso === 'closed') {
      // node:cluster has taken the worker's listener out of its rotation by now (see workerMain).
      if (slot.worker.isConnected()) slot.worker.send({ pso: 'exit-ok' } satisfies ToWorker, () => undefined);
    }
  }

  #onGone(slot: Slot, code: number | null, signal: string | null): void {
    if (!this.#slots.delete(slot)) return;
    this.#releaseUnused(slot.generation);
    if (this.#slots.size === 0) this.#allGone?.();
    if (this.#stopping || slot.retiring) return;
    // New workers of a reload that fail leave the old ones serving. At the first start, a module
    // that cannot load or an address that cannot be had ends it; a crash is retried, with backoff.
    if (this.#start?.generation === slot.generation && (this.#serving || slot.failure)) {
      const when = slot.listening ? 'before all the new workers listened' : 'before it listened';
      this.#start.failed(slot.failure ? fromSent(slot.failure) : new WorkerFailure(`a new worker ${describeExit(code, signal)} ${when}`, 'see its error above'));
      return;
    }
    if (slot.generation !== this.#active) return;
    this.#replace(slot, code, signal);
  }

  /** Starts a worker in place of one that died, after a wait that grows with each quick death. */
  #replace(slot: Slot, code: number | null, signal: string | null): void {
    const quick = Date.now() - slot.forkedAt < QUICK_MS;
    this.#quickDeaths = quick ? this.#quickDeaths + 1 : 0;
    const pid = slot.worker.process.pid;
    const how = slot.failure ? `could not start (${fromSent(slot.failure).message})` : describeExit(code, signal);
    if (this.#quickDeaths >= MAX_QUICK_DEATHS) {
      process.stderr.write(`pso: workers keep dying within ${QUICK_MS / 1000} s of starting (${this.#quickDeaths} in a row; the last, ${pid}, ${how}): stopping; fix: see the errors above, correct the handler, then start pso again\n`);
      void this.#shutdown(1);
      return;
    }
    const wait = quick ? Math.min(100 * 2 ** (this.#quickDeaths - 1), MAX_BACKOFF_MS) : 0;
    process.stderr.write(`pso: worker ${pid} ${how}; starting another${wait ? ` in ${wait} ms` : ''}\n`);
    setTimeout(() => {
      if (!this.#stopping && this.#active === slot.generation) this.#fork(slot.generation);
    }, wait);
  }

  /** Asks a worker to stop (drain for `graceMs`), and kills it if it is still there well after. */
  #retire(slot: Slot, graceMs: number): void {
    if (slot.retiring) return;
    slot.retiring = true;
    // One not ready yet is told when it is (it serves nothing meanwhile).
    if (slot.ready && slot.worker.isConnected()) slot.worker.send({ pso: 'stop', graceMs } satisfies ToWorker, () => undefined);
    else if (!slot.worker.isConnected()) slot.worker.process.kill('SIGTERM');
    setTimeout(() => {
      if (this.#slots.has(slot)) slot.worker.process.kill('SIGKILL');
    }, graceMs + KILL_MARGIN_MS).unref();
  }

  #whenAllGone(): Promise<void> {
    if (this.#slots.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#allGone = resolve));
  }

  /** Deletes the compilation of a generation no worker runs any more and none will be started for. */
  #releaseUnused(generation: Generation): void {
    if (generation === this.#active || generation === this.#start?.generation) return;
    for (const slot of this.#slots) if (slot.generation === generation) return;
    void this.#source.release(generation.importPath);
  }

  async #watchModuleFiles(): Promise<void> {
    const { files, errors } = await findModuleFiles(this.#source.file);
    // A module that does not compile cannot tell what it imports: keep watching what it imported before.
    this.#watcher!.watch(errors.length > 0 ? [...new Set([...this.#watcher!.files, ...files])] : files);
  }
}
