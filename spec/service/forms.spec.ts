import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceHandler, TOKENS, createContainer, createFetchHandler, serve } from '../../src/index.js';
import { MemoryLogger } from '../support/memoryLogger.js';
import { ROOT, runCgi } from '../support/http.js';
import { handler } from '../support/uploadHandler.js';

const HANDLER = join(ROOT, 'dist/spec/support/uploadHandler.js');

interface Part {
  name: string | Buffer;
  value: string | Buffer;
  filename?: string;
  type?: string;
}

/** A multipart/form-data body built byte by byte, so specs can break it on purpose. */
function multipart(parts: Part[], boundary = `----pso${randomBytes(8).toString('hex')}`): { body: Buffer; type: string } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const name = Buffer.isBuffer(p.name) ? p.name : Buffer.from(p.name);
    let head = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="`), name, Buffer.from('"')]);
    if (p.filename !== undefined) head = Buffer.concat([head, Buffer.from(`; filename="${p.filename}"\r\nContent-Type: ${p.type ?? 'application/octet-stream'}`)]);
    chunks.push(head, Buffer.from('\r\n\r\n'), Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

interface Sent {
  status: number;
  text: string;
  /** What the host logged while answering. */
  log: string;
}

/** A container whose logger keeps its lines, for assertions. */
function quietContainer() {
  const container = createContainer();
  const logger = new MemoryLogger();
  container.rebind(TOKENS.Logger).toConstantValue(logger);
  return { container, logger };
}

interface Host {
  name: string;
  send(directives: Record<string, string>, method: string, query: string, type: string | undefined, body: Buffer): Promise<Sent>;
  close(): Promise<void>;
}

/** node:http: a real server; directives given per request through a header-chosen server. */
async function nodeHost(): Promise<Host> {
  const { container, logger } = quietContainer();
  const servers = new Map<string, Awaited<ReturnType<typeof serve>>>();
  return {
    name: 'node:http',
    async send(directives, method, query, type, body) {
      const key = JSON.stringify(directives);
      let server = servers.get(key);
      if (!server) {
        server = await serve(handler, { port: 0, moduleName: 'forms', directives, serviceHandler: new ServiceHandler(container) });
        servers.set(key, server);
      }
      const before = logger.lines.length;
      const res = await fetch(`${server.url}${query ? `?${query}` : ''}`, { method, headers: type ? { 'content-type': type } : {}, body: method === 'GET' ? undefined : body });
      return { status: res.status, text: await res.text(), log: logger.lines.slice(before).map((l) => `${l.level} ${l.message}`).join('\n') };
    },
    async close() {
      for (const s of servers.values()) await s.close();
    },
  };
}

/** fetch: the handler behind createFetchHandler, given web Requests. */
async function fetchHost(): Promise<Host> {
  const { container, logger } = quietContainer();
  return {
    name: 'fetch',
    async send(directives, method, query, type, body) {
      const fetchHandler = createFetchHandler(handler, { moduleName: 'forms', directives, serviceHandler: new ServiceHandler(container) });
      const before = logger.lines.length;
      const res = await fetchHandler(new Request(`http://localhost/forms${query ? `?${query}` : ''}`, { method, headers: type ? { 'content-type': type } : {}, body: method === 'GET' ? undefined : body }));
      return { status: res.status, text: await res.text(), log: logger.lines.slice(before).map((l) => `${l.level} ${l.message}`).join('\n') };
    },
    async close() {},
  };
}

/** CGI: a real process per request, the body on its standard input. */
async function cgiHost(): Promise<Host> {
  return {
    name: 'CGI',
    async send(directives, method, query, type, body) {
      const r = await runCgi(HANDLER, { ...directives, REQUEST_METHOD: method, QUERY_STRING: query, CONTENT_TYPE: type, CONTENT_LENGTH: method === 'GET' ? '' : String(body.byteLength) }, body);
      return { status: r.status, text: r.body, log: r.stderr };
    },
    async close() {},
  };
}

for (const makeHost of [nodeHost, fetchHost, cgiHost]) {
  describe(`forms and uploads (${makeHost.name.replace(/Host$/, '')})`, function () {
    this.timeout(60_000);
    let host: Host;
    let dir: string;
    let uploads: string;
    let saved: string;
    let base: Record<string, string>;
    before(async () => { host = await makeHost(); });
    after(async () => { await host.close(); });
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'pso-forms-'));
      uploads = join(dir, 'uploads');
      saved = join(dir, 'saved');
      for (const d of [uploads, saved]) mkdirSync(d);
      base = { PSOSessionFileLoader_Path: join(dir, 'sessions'), PSOUploadDir: uploads, PSOSessionGCProbability: '0' };
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const send = (extra: Record<string, string>, method: string, query: string, type: string | undefined, body: Buffer | string) =>
      host.send({ ...base, ...extra }, method, query, type, Buffer.isBuffer(body) ? body : Buffer.from(body));
    const json = (s: Sent) => {
      assert.equal(s.status, 200, s.text);
      return JSON.parse(s.text);
    };
    const noTempFiles = () => assert.deepEqual(readdirSync(uploads), [], 'no temporary file is left behind');

    it('reads the query and an urlencoded body: values, repeated keys, unicode, fallbacks, has-input checks', async () => {
      const r = json(await send({}, 'POST', 'a=q1&z=%E2%9C%93', 'application/x-www-form-urlencoded', 'a=%C3%A9t%C3%A9&b=x+y&a=3&empty='));
      assert.deepEqual(r.dict, { a: ['q1', 'été', '3'], z: ['✓'], b: ['x y'], empty: [''] });
      assert.equal(r.first, 'q1');
      assert.equal(r.second, 'été');
      assert.deepEqual(r.all, ['q1', 'été', '3']);
      assert.equal(r.hasBoth, true);
      assert.equal(r.hasFile, false);
    });

    it('a GET has the query string only', async () => {
      const r = json(await send({}, 'GET', 'b=1&b=2', undefined, ''));
      assert.deepEqual(r.dict, { b: ['1', '2'] });
      assert.equal(r.first, 'none');
      assert.equal(r.hasBoth, false);
    });

    it('reads multipart fields (unicode, repeated) and a 5 MB upload, saved where the handler says; no temporary file remains', async () => {
      const content = randomBytes(5 * 1024 * 1024);
      const target = join(saved, 'kept.bin');
      const { body, type } = multipart([
        { name: 'a', value: 'один' },
        { name: 'b', value: '日本' },
        { name: 'a', value: 'two' },
        { name: 'save_upload', value: target },
        { name: 'upload', value: content, filename: 'photo ü.bin', type: 'image/x-test' },
      ]);
      const r = json(await send({}, 'POST', 'a=0', type, body));
      assert.deepEqual(r.dict, { a: ['0', 'один', 'two'], b: ['日本'], save_upload: [target] });
      assert.equal(r.second, 'один');
      assert.equal(r.hasFile, true);
      assert.equal(r.files.length, 1);
      const f = r.files[0];
      assert.deepEqual([f.fieldName, f.filename, f.type, f.size, f.tempExisted, f.path], ['upload', 'photo ü.bin', 'image/x-test', content.byteLength, true, target]);
      assert.equal(f.sha256, createHash('sha256').update(content).digest('hex'));
      assert.ok(readFileSync(target).equals(content), 'the saved file holds the bytes sent');
      noTempFiles();
    });

    it('removes an upload the handler neither kept nor saved; keeps one it kept', async () => {
      const { body, type } = multipart([{ name: 'upload', value: 'temporary', filename: 't.txt', type: 'text/plain' }, { name: 'other', value: 'kept', filename: 'k.txt' }, { name: 'keep_other', value: '1' }]);
      const r = json(await send({}, 'POST', '', type, body));
      assert.equal(r.files.length, 2);
      assert.deepEqual(readdirSync(uploads), [r.files[1].path.split('/').pop()]);
      assert.equal(readFileSync(r.files[1].path, 'utf8'), 'kept');
    });

    it('skips an empty file input (no file chosen)', async () => {
      const { body, type } = multipart([{ name: 'a', value: '1' }, { name: 'upload', value: '', filename: '' }]);
      const r = json(await send({}, 'POST', '', type, body));
      assert.deepEqual(r.files, []);
      assert.equal(r.hasFile, false);
      noTempFiles();
    });

    const limits: [string, Record<string, string>, () => { body: Buffer; type: string }, RegExp][] = [
      ['PSOMaxFileSize', { PSOMaxFileSize: '1k' }, () => multipart([{ name: 'upload', value: randomBytes(4096), filename: 'big.bin' }]), /file "big\.bin" in field "upload" is larger than the limit of 1024 bytes \(PSOMaxFileSize\)/],
      ['PSOMaxFiles', { PSOMaxFiles: '1' }, () => multipart([{ name: 'f1', value: 'x', filename: '1' }, { name: 'f2', value: 'y', filename: '2' }]), /more than 1 files \(PSOMaxFiles\)/],
      ['PSOMaxFields', { PSOMaxFields: '2' }, () => multipart([{ name: 'a', value: '1' }, { name: 'b', value: '2' }, { name: 'c', value: '3' }, { name: 'f', value: 'x', filename: 'f' }]), /more than 2 form fields \(PSOMaxFields\)/],
      ['PSOMaxFieldSize', { PSOMaxFieldSize: '4' }, () => multipart([{ name: 'a', value: '12345' }]), /form field "a" is larger than the limit of 4 bytes \(PSOMaxFieldSize\)/],
      ['PSOMaxUploadSize', { PSOMaxUploadSize: '2k' }, () => multipart([{ name: 'upload', value: randomBytes(8192), filename: 'big.bin' }]), /request body (?:of \d+ bytes is )?larger than the limit of 2048 bytes \(PSOMaxUploadSize\)/],
    ];
    for (const [limit, directives, make, message] of limits) {
      it(`answers 413 naming ${limit} when a multipart body breaks it, and leaves no temporary file`, async () => {
        const { body, type } = make();
        const r = await send(directives, 'POST', '', type, body);
        assert.equal(r.status, 413, r.text);
        assert.match(r.text, message);
        assert.match(r.log, new RegExp(`info POST /\\S*: 413: ${message.source}`), 'the log says why');
        noTempFiles();
      });
    }

    // Found by bench/fuzz.ts: a file part begun after a limit was broken failed, unheard, when the
    // parser was destroyed, and that uncaught error ended the process (a server with it).
    it('answers 413 when a field over PSOMaxFieldSize is followed by a file part cut short, and serves on', async () => {
      const body = Buffer.from('--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n123456789\r\n--B\r\nContent-Disposition: form-data; name="f"; filename="x.txt"\r\n\r\nabc');
      const r = await send({ PSOMaxFieldSize: '4' }, 'POST', '', 'multipart/form-data; boundary=B', body);
      assert.equal(r.status, 413, r.text);
      assert.match(r.text, /form field "a" is larger than the limit of 4 bytes \(PSOMaxFieldSize\)/);
      await new Promise((resolve) => setTimeout(resolve, 50));
      noTempFiles();
      const { body: fine, type } = multipart([{ name: 'a', value: '1' }]);
      assert.equal((await send({ PSOMaxFieldSize: '4' }, 'POST', '', type, fine)).status, 200);
    });

    it('answers 413 naming PSOMaxFields and PSOMaxFieldSize for urlencoded bodies too', async () => {
      const many = await send({ PSOMaxFields: '3' }, 'POST', 'q=1', 'application/x-www-form-urlencoded', 'a=1&b=2&c=3');
      assert.equal(many.status, 413);
      assert.match(many.text, /more than 3 form fields \(PSOMaxFields\)/);
      const big = await send({ PSOMaxFieldSize: '3' }, 'POST', '', 'application/x-www-form-urlencoded', 'a=1234');
      assert.equal(big.status, 413);
      assert.match(big.text, /form field "a" is larger than the limit of 3 bytes \(PSOMaxFieldSize\)/);
    });

    it('answers 400 for a truncated multipart body, and leaves no temporary file', async () => {
      const { body, type } = multipart([{ name: 'a', value: '1' }, { name: 'upload', value: randomBytes(100_000), filename: 'cut.bin' }]);
      const r = await send({}, 'POST', '', type, body.subarray(0, 60_000));
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /malformed multipart\/form-data body: Unexpected end of form/);
      noTempFiles();
    });

    it('answers 400 for a body whose boundary is not the one in Content-Type, or a Content-Type without one', async () => {
      const { body } = multipart([{ name: 'a', value: '1' }, { name: 'upload', value: 'data', filename: 'x' }], 'right');
      const wrong = await send({}, 'POST', '', 'multipart/form-data; boundary=wrong', body);
      assert.equal(wrong.status, 400, wrong.text);
      assert.match(wrong.text, /malformed multipart\/form-data body/);
      const none = await send({}, 'POST', '', 'multipart/form-data', body);
      assert.equal(none.status, 400, none.text);
      assert.match(none.text, /invalid multipart\/form-data request: .*[Bb]oundary/);
      noTempFiles();
    });

    // Found by the fuzzer (bench/fuzz.ts --only "cut, corrupted" --seed 299161190): busboy hands on a
    // part without a name with an undefined one; pso answered 500, and a file part's stream was left
    // unheard, so that the parser's end killed the process.
    it('answers 400 for a part without a field name, a file or a text field, leaves no temporary file, and serves on', async () => {
      for (const part of ['Content-Disposition: form-data; filename="a.txt"\r\nContent-Type: text/plain', 'Content-Disposition: form-data']) {
        const body = `--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b\r\n${part}\r\n\r\nhello\r\n--b--\r\n`;
        const r = await send({}, 'POST', '', 'multipart/form-data; boundary=b', body);
        assert.equal(r.status, 400, r.text);
        assert.match(r.text, /malformed multipart\/form-data body: a part has no field name/);
        noTempFiles();
      }
      const after = json(await send({}, 'POST', '', 'application/x-www-form-urlencoded', 'a=2'));
      assert.deepEqual(after.dict, { a: ['2'] });
    });

    // Also found by the fuzzer: busboy gives no value for a text part in a charset it cannot decode (a corrupted name, or one
    // outside its short list), and pso answered 500.
    it('answers 415 for a text part in a charset that cannot be decoded, naming the field', async () => {
      for (const charset of ['utf!8', 'shift_jis']) {
        const body = `--b\r\nContent-Disposition: form-data; name="note"\r\nContent-Type: text/plain; charset=${charset}\r\n\r\nhello\r\n--b--\r\n`;
        const r = await send({}, 'POST', '', 'multipart/form-data; boundary=b', body);
        assert.equal(r.status, 415, r.text);
        assert.match(r.text, /form field "note" names a charset in its Content-Type that cannot be decoded/);
      }
    });

    it('answers 400 for form text that is not valid UTF-8, naming the field; never alters it silently', async () => {
      const url = await send({}, 'POST', '', 'application/x-www-form-urlencoded', 'ok=1&name=caf%E9');
      assert.equal(url.status, 400, url.text);
      assert.match(url.text, /form field "name" in the request body is not valid utf-8/);
      const query = await send({}, 'GET', 'q=%FF', undefined, '');
      assert.equal(query.status, 400, query.text);
      assert.match(query.text, /form field "q" in the query string is not valid utf-8/);
      const { body, type } = multipart([{ name: 'name', value: Buffer.from([0x63, 0x61, 0x66, 0xe9]) }]);
      const multi = await send({}, 'POST', '', type, body);
      assert.equal(multi.status, 400, multi.text);
      assert.match(multi.text, /form field "name" in the request body is not valid utf-8/);
    });

    it('decodes the charset the request names: Content-Type charset, or the _charset_ field', async () => {
      const declared = json(await send({}, 'POST', '', 'application/x-www-form-urlencoded; charset=iso-8859-1', 'a=caf%E9'));
      assert.deepEqual(declared.dict.a, ['café']);
      const field = json(await send({}, 'POST', '', 'application/x-www-form-urlencoded', '_charset_=iso-8859-7&a=%E1'));
      assert.deepEqual(field.dict.a, ['α']);
      const sjis = json(await send({}, 'POST', '', 'application/x-www-form-urlencoded; charset=shift_jis', 'a=%93%FA'));
      assert.deepEqual(sjis.dict.a, ['日']);
      const { body, type } = multipart([{ name: '_charset_', value: 'iso-8859-1' }, { name: 'a', value: Buffer.from([0x63, 0x61, 0x66, 0xe9]) }]);
      assert.deepEqual(json(await send({}, 'POST', '', type, body)).dict.a, ['café']);
      const unknown = await send({}, 'POST', '', 'application/x-www-form-urlencoded; charset=klingon', 'a=1');
      assert.equal(unknown.status, 415);
      assert.match(unknown.text, /unsupported form charset "klingon"/);
    });

    it('reads a multipart form with no parts at all', async () => {
      const r = json(await send({}, 'POST', 'a=1', 'multipart/form-data; boundary=b', '--b--\r\n'));
      assert.deepEqual(r.dict, { a: ['1'] });
    });

    it('a field named __proto__ is an ordinary key', async () => {
      const r = json(await send({}, 'POST', '', 'application/x-www-form-urlencoded', '__proto__=x&constructor=y'));
      assert.deepEqual(r.dict, JSON.parse('{"__proto__":["x"],"constructor":["y"]}'));
    });
  });
}

