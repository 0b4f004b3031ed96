import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { ServiceHandler, TOKENS, createContainer, serve, type ServiceRequest } from '../../src/index.js';
import { tempDir } from '../support/fakeRequest.js';
import { MemoryLogger } from '../support/memoryLogger.js';

/** Sends raw bytes, half-closes, and returns whatever the server answered. */
function raw(url: string, text: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(data) : reject(e)));
    socket.end(text);
  });
}

/** A container whose log lines are kept, not printed. */
function quiet() {
  const container = createContainer();
  container.rebind(TOKENS.Logger).toConstantValue(new MemoryLogger());
  return container;
}

describe('NodeHttpRequest (request body)', () => {
  describe('request body', () => {
    let stop: (() => Promise<void>) | undefined;
    let logger: MemoryLogger;
    let url: string;
    afterEach(async () => { await stop?.(); stop = undefined; });

    /** A server whose handler echoes its form fields. */
    async function start(directives: Record<string, string> = {}) {
      const { dir, cleanup } = tempDir();
      const container = createContainer();
      logger = new MemoryLogger();
      container.rebind(TOKENS.Logger).toConstantValue(logger);
      const server = await serve(async (r: ServiceRequest) => {
        const fields = await r.form();
        r.write(JSON.stringify([...fields]));
      }, { port: 0, moduleName: 'body', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir, PSOSessionGCProbability: '0', ...directives } });
      url = server.url;
      stop = async () => { await server.close(); cleanup(); };
    }
    const post = (body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
      fetch(`${url}?q=1`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body, duplex: 'half' } as RequestInit);
    async function stillServes(): Promise<void> {
      const res = await post('after=1');
      assert.equal(res.status, 200);
      assert.equal(await res.text(), '[["q","1"],["after","1"]]');
    }

    it('form() merges the query and an urlencoded body', async () => {
      await start();
      const res = await post('a=%C3%A9&b=x+y');
      assert.equal(await res.text(), '[["q","1"],["a","é"],["b","x y"]]');
    });

    it('a body of exactly PSOMaxBodySize is read', async () => {
      await start({ PSOMaxBodySize: '16' });
      const res = await post('a=12345678901234');
      assert.equal(res.status, 200);
      assert.equal(await res.text(), '[["q","1"],["a","12345678901234"]]');
    });

    it('a Content-Length over PSOMaxBodySize answers 413 with the reason, and the server keeps serving', async () => {
      await start({ PSOMaxBodySize: '1k' });
      const res = await post(`a=${'x'.repeat(2046)}`);
      assert.equal(res.status, 413);
      assert.equal(await res.text(), '413 Payload Too Large\nrequest body of 2048 bytes is larger than the limit of 1024 bytes (PSOMaxBodySize)\n');
      assert.ok(logger.lines.some((l) => l.level === 'info' && l.message === 'POST /: 413: request body of 2048 bytes is larger than the limit of 1024 bytes (PSOMaxBodySize)'), logger.text());
      await stillServes();
    });

    it('a chunked body that grows over PSOMaxBodySize answers 413, and the server keeps serving', async () => {
      await start({ PSOMaxBodySize: '1k' });
      const chunk = new TextEncoder().encode(`a=${'x'.repeat(598)}`);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(chunk);
          controller.enqueue(chunk);
          controller.close();
        },
      });
      const res = await post(stream);
      assert.equal(res.status, 413);
      assert.equal(await res.text(), '413 Payload Too Large\nrequest body larger than the limit of 1024 bytes (PSOMaxBodySize)\n');
      await stillServes();
    });

    it('a body cut short by the client is a 400 in the log, and the server keeps serving', async () => {
      await start();
      const u = new URL(url);
      await raw(url, `POST / HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=1`);
      for (let i = 0; i < 50 && !logger.lines.some((l) => /400/.test(l.message)); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(logger.lines.some((l) => l.level === 'info' && l.message === 'POST /: 400: the client closed the connection before the request body was complete'), logger.text());
      await stillServes();
    });

    it('a client that disconnects mid-upload leaves no temporary file, and the server keeps serving', async () => {
      const { dir: uploads, cleanup } = tempDir();
      try {
        await start({ PSOUploadDir: uploads });
        const u = new URL(url);
        const boundary = 'cut';
        const head = `--${boundary}\r\nContent-Disposition: form-data; name="upload"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
        await new Promise<void>((resolve, reject) => {
          const socket = connect(Number(u.port), u.hostname, () => {
            socket.write(`POST / HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 10000000\r\n\r\n${head}`);
            socket.write(Buffer.alloc(300_000, 7));
            // Wait until the upload is on disk, then go away in the middle of it.
            const poll = setInterval(() => {
              if (readdirSync(uploads).length > 0) {
                clearInterval(poll);
                socket.destroy();
                resolve();
              }
            }, 5);
          });
          socket.on('error', reject);
        });
        for (let i = 0; i < 100 && !logger.lines.some((l) => /400/.test(l.message)); i++) await new Promise((r) => setTimeout(r, 10));
        assert.ok(logger.lines.some((l) => l.level === 'info' && l.message === 'POST /: 400: the client closed the connection before the request body was complete'), logger.text());
        assert.deepEqual(readdirSync(uploads), [], 'the partial upload was removed');
        await stillServes();
      } finally {
        cleanup();
      }
    });

    it('bytes after the declared Content-Length are never taken as body (node reads them as the next request), and the server keeps serving', async () => {
      await start();
      const u = new URL(url);
      const answer = await raw(url, `POST /?q=1 HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1&b=2`);
      assert.doesNotMatch(answer, /"b"/);
      assert.match(answer, /HTTP\/1\.1 400 Bad Request/);
      await stillServes();
    });

    it('with PSOFormParse off, the body is read only when the handler asks, and getInput() says so before', async () => {
      const { dir, cleanup } = tempDir();
      const container = createContainer();
      logger = new MemoryLogger();
      container.rebind(TOKENS.Logger).toConstantValue(logger);
      const server = await serve(async (r: ServiceRequest) => {
        if (r.path === '/early') r.getInput('a');
        await r.form();
        r.write(`a=${r.getInput('a')}`);
      }, { port: 0, moduleName: 'body', serviceHandler: new ServiceHandler(container), directives: { PSOSessionFileLoader_Path: dir, PSOFormParse: 'off' } });
      stop = async () => { await server.close(); cleanup(); };
      const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' };
      assert.equal(await (await fetch(server.url, form)).text(), 'a=1');
      assert.equal((await fetch(`${server.url}early`, form)).status, 500);
      assert.ok(logger.has('error', /the form body has not been read: call `await request.form\(\)` first \(PSOFormParse is off\)/), logger.text());
    });

    it('an invalid PSOMaxBodySize answers 500 naming it', async () => {
      await start({ PSOMaxBodySize: 'lots' });
      const res = await post('a=1');
      assert.equal(res.status, 500);
      assert.ok(logger.lines.some((l) => l.level === 'error' && l.message === 'POST /: 500: PSOMaxBodySize="lots" is invalid: expected a size in bytes, such as 1048576 or 1m'), logger.text());
    });
  });

  // A body that is not a form is read before the session opens (up to PSOMaxBodySize), so that a slow
  // client never holds its session while it sends (spec/cli/serve-slow-clients.spec.ts shows that part).
  describe('a body that is not a form, read before the session opens', () => {
    let server: Awaited<ReturnType<typeof serve>>;
    let cleanup: () => void;
    beforeEach(async () => {
      const temp = tempDir();
      cleanup = temp.cleanup;
      server = await serve(async (r: ServiceRequest) => {
        if (r.path === '/ignore') return void r.write('ignored');
        const limit = Number(r.query.get('limit') ?? '0') || undefined;
        const body = await r.body(limit);
        r.write(`${body.byteLength} ${createHash('sha256').update(body).digest('hex')}`);
      }, { port: 0, moduleName: 'body', serviceHandler: new ServiceHandler(quiet()), directives: { PSOSessionFileLoader_Path: temp.dir, PSOMaxBodySize: '1k' } });
    });
    afterEach(async () => {
      await server.close();
      cleanup();
    });
    const send = (path: string, body: Uint8Array, chunked: boolean) => fetch(`${server.url}${path.slice(1)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: chunked ? new ReadableStream<Uint8Array>({ start(c) { for (let at = 0; at < body.byteLength; at += 700) c.enqueue(body.subarray(at, at + 700)); c.close(); } }) : body,
      duplex: 'half',
    } as RequestInit);

    for (const chunked of [false, true]) {
      const how = chunked ? 'chunked' : 'with a Content-Length';
      it(`hands the handler the same bytes ${how}: within PSOMaxBodySize, over it with a larger limit, and 413 over the limit`, async () => {
        for (const size of [1, 1024, 5000]) {
          const body = randomBytes(size);
          const expected = `${size} ${createHash('sha256').update(body).digest('hex')}`;
          if (size <= 1024) assert.equal(await (await send('/', body, chunked)).text(), expected);
          else {
            assert.equal((await send('/', body, chunked)).status, 413);
            assert.equal(await (await send('/?limit=8000', body, chunked)).text(), expected);
          }
        }
      });

      it(`answers a handler that never reads a body ${how} larger than PSOMaxBodySize, and serves on`, async () => {
        const r = await send('/ignore', randomBytes(5000), chunked);
        assert.equal(r.status, 200);
        assert.equal(await r.text(), 'ignored');
        assert.equal(await (await send('/', Buffer.from('after'), chunked)).text(), `5 ${createHash('sha256').update('after').digest('hex')}`);
      });
    }
  });
});
