import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FastCgiAbortedError } from '../../../src/hosts/fastcgi/FastCgiAbortedError.js';
import { FastCgiConnection, type FastCgiLimits } from '../../../src/hosts/fastcgi/FastCgiConnection.js';
import type { FastCgiExchange } from '../../../src/hosts/fastcgi/FastCgiExchange.js';
import { FastCgiClient, T, begin, pairs, rec, request } from '../../support/fastcgiClient.js';
import { MemoryLogger } from '../../support/memoryLogger.js';

type OnRequest = (exchange: FastCgiExchange) => void | Promise<void>;

const HEAD = 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n';

/** Reads the whole body and answers with what it got: the params asked for, the body's length and its hash. */
const echo: OnRequest = async (exchange) => {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of exchange.body()) {
    size += chunk.byteLength;
    hash.update(chunk);
  }
  await exchange.end(Buffer.from(`${HEAD}${exchange.params.get('NAME') ?? '-'} ${size} ${hash.digest('hex')}`));
};

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('FastCgiConnection', () => {
  let dir: string;
  let server: Server;
  let socketPath: string;
  let logger: MemoryLogger;
  let onRequest: OnRequest;
  let connections: FastCgiConnection[];
  let clients: FastCgiClient[];

  async function start(limits: FastCgiLimits = {}): Promise<void> {
    server = createServer({ allowHalfOpen: true }, (socket) => {
      connections.push(new FastCgiConnection(socket, {
        ...limits, logger,
        onRequest: (exchange) => {
          Promise.resolve(onRequest(exchange)).catch((e) => logger.log('error', `test handler: ${e}`));
        },
      }));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  }

  function client(): FastCgiClient {
    const c = new FastCgiClient(socketPath);
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pso-fcgi-conn-'));
    socketPath = join(dir, 'fcgi.sock');
    logger = new MemoryLogger();
    onRequest = echo;
    connections = [];
    clients = [];
    await start();
  });

  afterEach(async () => {
    for (const c of clients) c.close();
    for (const c of connections) c.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  async function restart(limits: FastCgiLimits): Promise<void> {
    await new Promise((resolve) => server.close(resolve));
    await start(limits);
  }

  describe('a request', () => {
    it('gets its params and its body, and its answer as FCGI_STDOUT, an empty FCGI_STDOUT and FCGI_END_REQUEST', async () => {
      const c = client();
      const body = randomBytes(100_000);
      await c.send(request(1, { NAME: 'first', OTHER: 'x' }, body));
      const a = await c.answer(1);
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), `first 100000 ${sha(body)}`);
      assert.equal(a.appStatus, 0);
      assert.equal(a.protocolStatus, 0);
      const stdout = c.records.filter((r) => r.type === T.STDOUT);
      assert.equal(stdout.at(-1)!.content.byteLength, 0, 'the stream ends with an empty record');
      assert.equal(c.records.at(-1)!.type, T.END_REQUEST, 'FCGI_END_REQUEST comes last');
      for (const r of c.records) assert.equal((8 + r.content.byteLength + r.padding) % 8, 0, 'records are padded to 8 bytes');
    });

    it('reads the same whether the bytes come in one write or one byte at a time', async () => {
      const body = randomBytes(3000);
      const whole = client();
      await whole.send(request(1, { NAME: 'whole' }, body, { piece: 1000 }));
      const slow = client();
      await slow.send(request(1, { NAME: 'whole' }, body, { piece: 1000 }), 1);
      assert.deepEqual((await slow.answer(1)).body, (await whole.answer(1)).body);
      assert.equal((await whole.answer(1)).body.toString(), `whole 3000 ${sha(body)}`);
    });

    it('reads several requests coalesced in one write', async () => {
      const c = client();
      await c.send(Buffer.concat([request(1, { NAME: 'a' }, 'xx'), request(2, { NAME: 'b' }, 'yyy')]));
      assert.match((await c.answer(1)).body.toString(), /^a 2 /);
      assert.match((await c.answer(2)).body.toString(), /^b 3 /);
    });

    it('writes a large answer in FCGI_STDOUT records of at most 65535 bytes', async () => {
      const big = randomBytes(300_000);
      onRequest = async (exchange) => {
        await exchange.write(Buffer.from(HEAD));
        await exchange.write(big.subarray(0, 150_000));
        await exchange.end(big.subarray(150_000));
      };
      const c = client();
      await c.send(request(1, {}));
      const a = await c.answer(1);
      assert.ok(a.body.equals(big));
      assert.ok(a.stdout.every((r) => r.content.byteLength <= 65535));
      assert.ok(a.stdout.length >= 6);
    });

    it('gives a body of many records in order while the answer is being written', async () => {
      const c = client();
      const body = randomBytes(1_000_000);
      await c.send(request(5, { NAME: 'big' }, body, { piece: 65535 }));
      assert.equal((await c.answer(5)).body.toString(), `big 1000000 ${sha(body)}`);
    });
  });

  describe('multiplexed requests', () => {
    it('keeps interleaved requests on one connection apart, by request id', async () => {
      const c = client();
      const bodies = [randomBytes(5000), randomBytes(7000), randomBytes(1)];
      const ids = [1, 2, 300];
      // Every request's records, interleaved: BEGIN of each, then PARAMS, then body pieces, round-robin.
      const streams = ids.map((id, i) => [
        begin(id), rec(T.PARAMS, id, pairs({ NAME: `r${id}` })), rec(T.PARAMS, id),
        ...[0, 1000, 2000, 3000, 4000, 5000, 6000].filter((at) => at < bodies[i]!.length).map((at) => rec(T.STDIN, id, bodies[i]!.subarray(at, at + 1000))),
        rec(T.STDIN, id),
      ]);
      const interleaved: Buffer[] = [];
      for (let step = 0; streams.some((s) => s.length > step); step++) for (const s of streams) if (s[step]) interleaved.push(s[step]!);
      await c.send(Buffer.concat(interleaved), 5);
      for (const [i, id] of ids.entries()) {
        assert.equal((await c.answer(id)).body.toString(), `r${id} ${bodies[i]!.length} ${sha(bodies[i]!)}`);
      }
    });

    it('answers in the order the requests finish, whatever order they began in', async () => {
      onRequest = async (exchange) => {
        await new Promise((r) => setTimeout(r, Number(exchange.params.get('WAIT'))));
        await exchange.end(Buffer.from(`${HEAD}${exchange.id}`));
      };
      const c = client();
      await c.send(Buffer.concat([request(1, { WAIT: '150' }), request(2, { WAIT: '1' })]));
      await c.answer(1);
      const ends = c.records.filter((r) => r.type === T.END_REQUEST).map((r) => r.id);
      assert.deepEqual(ends, [2, 1]);
    });

    it('refuses a request over the limit of the connection with FCGI_OVERLOADED, and logs it', async () => {
      await restart({ maxRequests: 1 });
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      onRequest = async (exchange) => {
        if (exchange.id === 1) await held;
        await exchange.end(Buffer.from(HEAD));
      };
      const c = client();
      await c.send(Buffer.concat([request(1, {}), request(2, {})]));
      const refused = await c.answer(2);
      assert.equal(refused.protocolStatus, 2);
      assert.equal(refused.stdout.length, 0);
      release();
      assert.equal((await c.answer(1)).protocolStatus, 0);
      assert.ok(logger.has('warn', /request 2.*FCGI_OVERLOADED.*maxRequests/), logger.text());
    });
  });

  describe('FCGI_ABORT_REQUEST', () => {
    it('fails the body being read, drops what is written after, and still ends the request; the connection goes on', async () => {
      let failure: unknown;
      let wrote: Promise<unknown> | undefined;
      onRequest = async (exchange) => {
        try {
          for await (const _ of exchange.body()) { /* reading */ }
        } catch (e) {
          failure = e;
        }
        wrote = Promise.resolve(exchange.write(Buffer.from(`${HEAD}dropped`)));
        await exchange.end(Buffer.from('dropped too'));
      };
      const c = client();
      await c.send(Buffer.concat([begin(1), rec(T.PARAMS, 1, pairs({ A: 'b' })), rec(T.PARAMS, 1), rec(T.STDIN, 1, 'part')]));
      await c.send(rec(T.ABORT_REQUEST, 1));
      const a = await c.answer(1);
      assert.ok(failure instanceof FastCgiAbortedError, String(failure));
      await wrote;
      assert.equal(a.stdout.length, 0, 'nothing of the aborted response is sent');
      assert.equal(a.protocolStatus, 0);
      onRequest = echo;
      await c.send(request(1, { NAME: 'again' }, 'z'));
      await c.until(() => c.records.filter((r) => r.type === T.END_REQUEST).length === 2);
      assert.match(c.records.filter((r) => r.type === T.STDOUT).map((r) => r.content.toString()).join(''), /again 1 /);
    });

    it('ends a request aborted before its params were complete at once, without handing it on', async () => {
      let handed = 0;
      onRequest = () => { handed++; };
      const c = client();
      await c.send(Buffer.concat([begin(4), rec(T.PARAMS, 4, pairs({ A: 'b' })), rec(T.ABORT_REQUEST, 4)]));
      const a = await c.answer(4);
      assert.equal(a.protocolStatus, 0);
      assert.equal(handed, 0);
    });

    it('drops a body that came whole but was not read yet: its reader fails instead of taking a part for all of it', async () => {
      let exchange: FastCgiExchange | undefined;
      onRequest = (e) => { exchange = e; };
      const c = client();
      await c.send(request(1, {}, 'whole body'));
      await c.until(() => exchange?.bodyComplete === true);
      await c.send(rec(T.ABORT_REQUEST, 1));
      await c.until(() => exchange!.aborted !== undefined);
      await assert.rejects(async () => { for await (const _ of exchange!.body()) { /* nothing */ } }, FastCgiAbortedError);
      await exchange!.end();
      await c.answer(1);
    });

    it('fails the body and drops the answer of every request when the web server closes the connection', async () => {
      let failure: unknown;
      let ended: Promise<void> | undefined;
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      onRequest = async (exchange) => {
        entered();
        try {
          for await (const _ of exchange.body()) { /* reading */ }
        } catch (e) {
          failure = e;
        }
        ended = exchange.end(Buffer.from(HEAD));
      };
      const c = client();
      await c.send(Buffer.concat([begin(1), rec(T.PARAMS, 1), rec(T.STDIN, 1, 'x')]));
      await inside;
      c.close();
      while (!ended) await new Promise((r) => setTimeout(r, 5));
      await ended;
      assert.ok(failure instanceof FastCgiAbortedError);
    });
  });

  describe('FCGI_KEEP_CONN', () => {
    it('without it, the connection is closed after the answer', async () => {
      const c = client();
      await c.send(request(1, { NAME: 'once' }, '', { keep: false }));
      assert.match((await c.answer(1)).body.toString(), /^once /);
      await c.closed;
    });

    it('with it, the connection stays open for the next request', async () => {
      const c = client();
      await c.send(request(1, { NAME: 'one' }));
      await c.answer(1);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(c.isClosed, false);
      await c.send(request(2, { NAME: 'two' }));
      assert.match((await c.answer(2)).body.toString(), /^two /);
    });

    it('reads and drops the body the web server still sends after an early answer, and ignores the records of the ended request', async () => {
      onRequest = (exchange) => void exchange.end(Buffer.from(`${HEAD}early`));
      const c = client();
      await c.send(Buffer.concat([begin(1), rec(T.PARAMS, 1), rec(T.PARAMS, 1), rec(T.STDIN, 1, 'a')]));
      assert.equal((await c.answer(1)).body.toString(), 'early');
      await c.send(Buffer.concat([rec(T.STDIN, 1, randomBytes(60_000)), rec(T.STDIN, 1), rec(T.ABORT_REQUEST, 1)]));
      onRequest = echo;
      await c.send(request(2, { NAME: 'next' }, 'q'));
      assert.match((await c.answer(2)).body.toString(), /^next 1 /);
      assert.equal(logger.lines.length, 0, logger.text());
    });

    it('an answer sent while the web server writes a large body reaches it over TCP, though the connection is closed after it', async () => {
      // Closing a TCP socket with bytes unread sends a reset, and a reset can throw away what the
      // peer has received but not read yet: the connection must keep reading until the peer is done.
      const tcp = createServer({ allowHalfOpen: true }, (socket) => {
        connections.push(new FastCgiConnection(socket, { logger, onRequest: (exchange) => void exchange.end(Buffer.from(`${HEAD}early`)) }));
      });
      await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
      try {
        for (let round = 0; round < 5; round++) {
          const c = new FastCgiClient((tcp.address() as { port: number }).port);
          clients.push(c);
          await c.ready();
          // The client reads nothing until it has written the whole body, as mod_fcgid does.
          c.socket.pause();
          await c.send(request(1, {}, randomBytes(8_000_000), { keep: false }));
          c.socket.resume();
          assert.equal((await c.answer(1)).body.toString(), 'early', `round ${round}`);
          await c.closed;
        }
      } finally {
        await new Promise((resolve) => tcp.close(resolve));
      }
    });

    it('answers a web server that half-closes its side once it has sent the request', async () => {
      const c = client();
      await c.send(request(1, { NAME: 'half' }, 'body'));
      c.socket.end();
      assert.match((await c.answer(1)).body.toString(), /^half 4 /);
      await c.closed;
    });

    it('fails the body of a request the web server half-closes before sending it whole', async () => {
      let failure: unknown;
      onRequest = async (exchange) => {
        try {
          for await (const _ of exchange.body()) { /* reading */ }
        } catch (e) {
          failure = e;
        }
        await exchange.end(Buffer.from(HEAD));
      };
      const c = client();
      await c.send(Buffer.concat([begin(1), rec(T.PARAMS, 1), rec(T.STDIN, 1, 'part')]));
      c.socket.end();
      await c.answer(1);
      assert.ok(failure instanceof FastCgiAbortedError);
    });
  });

  describe('management records', () => {
    it('answers FCGI_GET_VALUES with the values it knows, and leaves others out', async () => {
      await restart({ maxConnections: 10, maxRequests: 5 });
      const c = client();
      await c.send(rec(T.GET_VALUES, 0, pairs([['FCGI_MAX_CONNS', ''], ['FCGI_MAX_REQS', ''], ['FCGI_MPXS_CONNS', ''], ['NO_SUCH', '']])));
      await c.until(() => c.records.length > 0);
      const result = c.records[0]!;
      assert.equal(result.type, T.GET_VALUES_RESULT);
      assert.equal(result.id, 0);
      const got: Record<string, string> = {};
      // The client's own parse of name-value pairs, short lengths only.
      for (let at = 0; at < result.content.length;) {
        const n = result.content[at++]!;
        const v = result.content[at++]!;
        got[result.content.subarray(at, at + n).toString()] = result.content.subarray(at + n, at + n + v).toString();
        at += n + v;
      }
      assert.deepEqual(got, { FCGI_MAX_CONNS: '10', FCGI_MAX_REQS: '50', FCGI_MPXS_CONNS: '1' });
    });

    it('answers an unknown management record with FCGI_UNKNOWN_TYPE naming its type, and goes on', async () => {
      const c = client();
      await c.send(rec(42, 0, 'whatever'));
      await c.until(() => c.records.length > 0);
      assert.equal(c.records[0]!.type, T.UNKNOWN_TYPE);
      assert.equal(c.records[0]!.content[0], 42);
      await c.send(request(1, { NAME: 'after' }));
      assert.match((await c.answer(1)).body.toString(), /^after /);
    });
  });

  describe('roles', () => {
    it('refuses another role than responder with FCGI_UNKNOWN_ROLE; the connection goes on', async () => {
      const c = client();
      await c.send(Buffer.concat([begin(1, true, 2), rec(T.PARAMS, 1), rec(T.PARAMS, 1), rec(T.STDIN, 1)]));
      const a = await c.answer(1);
      assert.equal(a.protocolStatus, 3);
      await c.send(request(2, { NAME: 'responder' }));
      assert.match((await c.answer(2)).body.toString(), /^responder /);
    });
  });

  describe('bounds', () => {
    it('answers 431 to a request whose params are over maxParamsBytes, logs it, and serves the next', async () => {
      await restart({ maxParamsBytes: 1000 });
      const c = client();
      await c.send(Buffer.concat([begin(1), rec(T.PARAMS, 1, pairs({ BIG: 'x'.repeat(600) })), rec(T.PARAMS, 1, pairs({ MORE: 'y'.repeat(600) })), rec(T.PARAMS, 1), rec(T.STDIN, 1)]));
      const a = await c.answer(1);
      assert.equal(a.status, 431);
      assert.ok(logger.has('warn', /request 1: its params are larger than 1000 bytes \(maxParamsBytes\)/), logger.text());
      await c.send(request(2, { NAME: 'small' }));
      assert.match((await c.answer(2)).body.toString(), /^small /);
    });

    it('stops reading while a request holds more body than bodyHighWaterMark unread, and hands all of it on when read', async () => {
      await restart({ bodyHighWaterMark: 64 * 1024 });
      let exchange: FastCgiExchange | undefined;
      onRequest = (e) => { exchange = e; };
      const c = client();
      const body = randomBytes(8_000_000);
      void c.send(request(1, {}, body));
      await c.until(() => exchange !== undefined);
      await new Promise((r) => setTimeout(r, 300));
      const held = exchange!.queuedBytes;
      assert.ok(held > 0 && held <= 64 * 1024 + 65535, `held ${held} bytes unread`);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(exchange!.queuedBytes, held, 'nothing more was read meanwhile');
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of exchange!.body()) { size += chunk.byteLength; hash.update(chunk); }
      assert.equal(size, body.byteLength);
      assert.equal(hash.digest('hex'), sha(body));
      await exchange!.end(Buffer.from(HEAD));
      await c.answer(1);
    });
  });

  describe('malformed input', () => {
    const cases: [string, () => Buffer, RegExp][] = [
      ['a record of another version', () => rec(T.BEGIN_REQUEST, 1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0]), 0, 2), /version 2/],
      ['an FCGI_BEGIN_REQUEST for an active request', () => Buffer.concat([begin(1), begin(1)]), /request 1, which is already active/],
      ['a record for a request never begun', () => rec(T.STDIN, 9, 'x'), /request 9, which was never begun/],
      ['an FCGI_BEGIN_REQUEST of the wrong size', () => rec(T.BEGIN_REQUEST, 1, Buffer.alloc(5)), /FCGI_BEGIN_REQUEST record of 5 bytes/],
      ['malformed name-value pairs', () => Buffer.concat([begin(1), rec(T.PARAMS, 1, Buffer.from([5, 5, 65])), rec(T.PARAMS, 1)]), /name-value pair/],
      ['an FCGI_STDOUT from the web server', () => Buffer.concat([begin(1), rec(T.STDOUT, 1, 'x')]), /FCGI_STDOUT record for request 1/],
      ['an application record with request id 0', () => rec(T.STDIN, 0, 'x'), /FCGI_STDIN record with request id 0/],
      ['FCGI_DATA for a responder', () => Buffer.concat([begin(1), rec(T.DATA, 1, 'x')]), /FCGI_DATA/],
      ['FCGI_STDIN after the end of the body', () => Buffer.concat([begin(1), rec(T.STDIN, 1), rec(T.STDIN, 1, 'late')]), /after the end of its body/],
      ['FCGI_PARAMS after the end of the params', () => Buffer.concat([begin(1), rec(T.PARAMS, 1), rec(T.PARAMS, 1, pairs({ A: 'b' }))]), /after the end of its params/],
    ];
    for (const [what, bytes, message] of cases) {
      it(`${what} closes that connection with one log line; the others go on`, async () => {
        onRequest = () => {};
        const other = client();
        await other.send(Buffer.concat([begin(1), rec(T.PARAMS, 1, pairs({ NAME: 'other' }))]));
        const bad = client();
        await bad.send(bytes());
        await bad.closed;
        assert.equal(logger.lines.length, 1, logger.text());
        assert.equal(logger.lines[0]!.level, 'error');
        assert.match(logger.lines[0]!.message, message);
        assert.match(logger.lines[0]!.message, /closing the connection$/);
        onRequest = echo;
        await other.send(Buffer.concat([rec(T.PARAMS, 1), rec(T.STDIN, 1, 'ok'), rec(T.STDIN, 1)]));
        assert.match((await other.answer(1)).body.toString(), /^other 2 /);
        const fresh = client();
        await fresh.send(request(1, { NAME: 'fresh' }));
        assert.match((await fresh.answer(1)).body.toString(), /^fresh 0 /);
      });
    }
  });

  describe('close()', () => {
    it('ends an idle connection at once, and a busy one once its requests are answered', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      onRequest = async (exchange) => {
        await held;
        await exchange.end(Buffer.from(`${HEAD}finished`));
      };
      const idle = client();
      const busy = client();
      await idle.ready();
      await busy.send(request(1, {}));
      await busy.until(() => connections.length === 2 && connections.some((c) => c.activeRequests === 1));
      const closing = connections.map((c) => c.close());
      await idle.closed;
      assert.equal(busy.isClosed, false);
      release();
      assert.equal((await busy.answer(1)).body.toString(), 'finished');
      await busy.closed;
      await Promise.all(closing);
    });
  });
});
