// A process started with a listening socket as standard input (as Apache's
// mod_fcgid and spawn-fcgi start FastCGI programs) serves FastCGI; started
// otherwise, it is a CGI script or a command-line script as before.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FastCgiClient, cgiParams, request } from '../../support/fastcgiClient.js';
import { cleanEnv, parseCgiOutput } from '../../support/http.js';

const FIXTURE = fileURLToPath(new URL('../../support/fastcgiHandler.js', import.meta.url));
const DETECTOR = fileURLToPath(new URL('../../../src/hosts/fastcgi/stdinListens.js', import.meta.url));

/** The descriptor of a net handle (a listening server or a socket), to give a child. */
const fdOf = (handle: Server | Socket) => (handle as unknown as { _handle: { fd: number } })._handle.fd;

let sockets = 0;

/**
 * A listening socket: a unix one in the abstract namespace (closing this
 * process's copy removes no file the child needs), or TCP on a free port.
 */
async function listeningSocket(kind: 'unix' | 'tcp'): Promise<{ server: Server; address: string | number }> {
  const server = createServer();
  const name = `\0pso-fcgi-test-${process.pid}-${++sockets}`;
  await new Promise<void>((resolve) => (kind === 'unix' ? server.listen(name, resolve) : server.listen(0, '127.0.0.1', resolve)));
  return { server, address: kind === 'unix' ? name : (server.address() as { port: number }).port };
}

/** Starts node with `args` and `stdin` as its descriptor 0; this process keeps no copy of a listening socket. */
function startWith(stdin: number | 'pipe' | 'ignore', args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, args, { env, stdio: [stdin, 'pipe', 'pipe'] as StdioOptions });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** What stdinListens() says in a child whose descriptor 0 is `stdin`. */
async function listensIn(stdin: number | 'pipe' | 'ignore'): Promise<string> {
  const code = `import(${JSON.stringify(DETECTOR)}).then((m) => process.stdout.write(String(m.stdinListens())))`;
  const run = startWith(stdin, ['-e', code], cleanEnv());
  await run.exited;
  return run.output();
}

describe('a process given a listening socket as standard input', function () {
  this.timeout(30_000);
  let dir: string;
  const children: ChildProcess[] = [];
  const clients: FastCgiClient[] = [];

  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-fcgi-inherit-')); });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  describe('stdinListens()', () => {
    it('is true for a listening unix socket and a listening TCP socket', async () => {
      for (const kind of ['unix', 'tcp'] as const) {
        const { server } = await listeningSocket(kind);
        try {
          assert.equal(await listensIn(fdOf(server)), 'true', kind);
        } finally {
          server.close();
        }
      }
    });

    it('is false for a connected socket (a pipe node makes, mod_cgid\'s standard input), a connected TCP socket, a file and /dev/null', async () => {
      assert.equal(await listensIn('pipe'), 'false');
      const { server, address } = await listeningSocket('tcp');
      const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
      const client = connect(address as number, '127.0.0.1');
      const peer = await accepted;
      try {
        assert.equal(await listensIn(fdOf(peer)), 'false');
      } finally {
        client.destroy();
        peer.destroy();
        server.close();
      }
      const file = openSync(join(dir, 'input'), 'w+');
      try {
        assert.equal(await listensIn(file), 'false');
      } finally {
        closeSync(file);
      }
      assert.equal(await listensIn('ignore'), 'false');
    });
  });

  /** The fixture handler, started as mod_fcgid starts a program, on its own listening socket. */
  async function startResponder(env: Record<string, string> = {}, kind: 'unix' | 'tcp' = 'unix') {
    const { server, address } = await listeningSocket(kind);
    const run = startWith(fdOf(server), [FIXTURE], cleanEnv({ PSOSessionFileLoader_Path: join(dir, 'sessions'), PSOSessionGCProbability: '0', ...env }));
    server.close();
    children.push(run.child);
    const ask = async (path: string, extra: Record<string, string> = {}) => {
      const c = new FastCgiClient(address);
      clients.push(c);
      await c.send(request(1, cgiParams('GET', path, extra), '', { keep: false }));
      return c.answer(1, 15_000);
    };
    return { ...run, ask, address };
  }

  const cookieOf = (a: { headers: [string, string][] }) => a.headers.find(([k]) => k.toLowerCase() === 'set-cookie')?.[1].split(';')[0];

  it('serves FastCGI requests, one after the other, in one process', async () => {
    for (const kind of ['unix', 'tcp'] as const) {
      const responder = await startResponder({}, kind);
      const first = await responder.ask('/count');
      assert.equal(first.status, 200, `${first.body}${responder.output()}`);
      assert.equal(first.body.toString(), `${responder.child.pid} 1`);
      const cookie = cookieOf(first)!;
      assert.equal((await responder.ask('/count', { HTTP_COOKIE: cookie })).body.toString(), `${responder.child.pid} 2`);
      responder.child.kill('SIGTERM');
      assert.equal(await responder.exited, 0);
    }
  });

  it('on SIGTERM finishes the request in flight, takes no more, and exits 0', async () => {
    const responder = await startResponder();
    const cookie = cookieOf(await responder.ask('/count'))!;
    const slow = responder.ask('/slow?ms=500', { HTTP_COOKIE: cookie });
    await new Promise((r) => setTimeout(r, 200));
    responder.child.kill('SIGTERM');
    const answer = await slow;
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), `${responder.child.pid} 2`);
    assert.equal(await responder.exited, 0);
    const late = new FastCgiClient(responder.address);
    clients.push(late);
    await assert.rejects(late.ready());
  });

  it('takes PSO* variables of its environment (FcgidInitialEnv) as defaults that the params override', async () => {
    const responder = await startResponder({ PSOServiceId: 'fromEnvironment' });
    assert.match(cookieOf(await responder.ask('/count'))!, /^fromEnvironment=/);
    assert.match(cookieOf(await responder.ask('/count', { PSOServiceId: 'fromParams' }))!, /^fromParams=/);
  });

  it('locks sessions in files across processes, as several mod_fcgid processes of one script need, by default and with PSOSessionLock auto', async () => {
    const a = await startResponder({ PSOSessionLock: 'auto' });
    const b = await startResponder();
    const first = await a.ask('/count');
    const cookie = cookieOf(first)!;
    const each = 40;
    const answers = await Promise.all(Array.from({ length: 2 * each }, (_, i) => (i % 2 ? a : b).ask('/slow?ms=2', { HTTP_COOKIE: cookie })));
    assert.ok(answers.every((x) => x.status === 200), answers.map((x) => x.status).join(' '));
    const counts = answers.map((x) => Number(x.body.toString().split(' ')[1])).sort((x, y) => x - y);
    assert.deepEqual(counts, Array.from({ length: 2 * each }, (_, i) => i + 2), 'every increment kept, none twice');
  });

  it('is a CGI script when GATEWAY_INTERFACE is set, whatever its standard input', async () => {
    const { server } = await listeningSocket('unix');
    const run = startWith(fdOf(server), [FIXTURE], cleanEnv({ ...cgiParams('GET', '/count'), PSOSessionFileLoader_Path: join(dir, 'sessions') }));
    server.close();
    children.push(run.child);
    assert.equal(await run.exited, 0);
    const parsed = parseCgiOutput(run.output());
    assert.equal(parsed.status, 200);
    assert.equal(parsed.body, `${run.child.pid} 1`);
  });

  it('is a command-line script when its standard input is a connected socket', async () => {
    const run = startWith('pipe', [FIXTURE, '--path', '/count'], cleanEnv({ PSOSessionFileLoader_Path: join(dir, 'sessions') }));
    run.child.stdin!.end();
    children.push(run.child);
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), new RegExp(`\\r?\\n\\r?\\n${run.child.pid} 1$`));
  });
});
