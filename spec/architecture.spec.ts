// The shape of src/ (docs/architecture.md): no import cycle, layers that
// point one way (hosts -> service -> session -> stores), no file over 400
// lines but a store's protocol code, and no `any` in the session layer.
// Read from the TypeScript sources, with the compiler's own parser.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { ROOT } from './support/http.js';

const SRC = join(ROOT, 'src');
const MAX_LINES = 400;
/** Store protocol code: a wire protocol spelled out, longer than 400 lines by nature. */
const LONG_ALLOWED = new Set([
  'session/stores/RedisStore.ts',
  'session/stores/PostgresStore.ts',
  'session/stores/mysqlLines.ts',
  'session/stores/MysqlStore.ts',
  'hosts/fastcgi/FastCgiConnection.ts',
]);

interface Edge {
  /** The imported file, relative to src/. */
  to: string;
  /** `import type` / `export type`: gone at run time, but still an arrow between modules. */
  typeOnly: boolean;
  /** `import()`, loaded on first use. */
  dynamic: boolean;
}

interface Module {
  path: string;
  text: string;
  source: ts.SourceFile;
  edges: Edge[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
  });
}

function typeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isImportDeclaration(node)) {
    const clause = node.importClause;
    if (!clause) return false;
    if (clause.isTypeOnly) return true;
    const named = clause.namedBindings;
    return !clause.name && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
  }
  if (node.isTypeOnly) return true;
  const clause = node.exportClause;
  return clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
}

/** Every module of src/ and its relative imports (static, re-exports, and `import()` with a literal). */
function readModules(): Map<string, Module> {
  const modules = new Map<string, Module>();
  for (const file of sourceFiles(SRC)) {
    const path = relative(SRC, file);
    const text = readFileSync(file, 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const edges: Edge[] = [];
    const add = (specifier: string, kind: Omit<Edge, 'to'>) => {
      if (!specifier.startsWith('.')) return;
      edges.push({ to: relative(SRC, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts'), ...kind });
    };
    const visit = (node: ts.Node): void => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, { typeOnly: typeOnly(node), dynamic: false });
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
        add(node.arguments[0].text, { typeOnly: false, dynamic: true });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    modules.set(path, { path, text, source, edges });
  }
  return modules;
}

/** The import cycles among static imports (type-only ones included), each as the chain of files that closes it. */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      const seen = state.get(next);
      if (seen === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (seen === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

/** What a file of one layer must never import: the layers above it. */
const BACKWARD: { from: RegExp; to: RegExp; why: string }[] = [
  { from: /^session\//, to: /^(service|hosts|server|cli)\/|^ServiceHandler\.ts$/, why: 'the session layer sees requests only through SessionRequest' },
  { from: /^service\//, to: /^(hosts|server|cli)\/|^ServiceHandler\.ts$/, why: 'the service layer never knows which host it runs on' },
  { from: /^session\/stores\//, to: /^session\/stores\/registry\.ts$/, why: 'stores are listed in storeTable.ts; none registers itself' },
  {
    from: /^session\/stores\//,
    to: /^session\/(Session|SessionContents|SessionLifetime|SessionImpl|CookieSession|CookieStoreImpl|CookieFileImpl|UrlFileImpl)\.ts$/,
    why: 'a store keeps records and locks, and knows nothing of sessions or policies',
  },
  { from: /^(config|util)\//, to: /^(session|service|hosts|server|cli|container)\/|^ServiceHandler\.ts$/, why: 'config/ and util/ sit beside the layers and import none of them' },
];

describe('the architecture of src/ (docs/architecture.md)', () => {
  const modules = readModules();

  it('reads the sources (a check over nothing passes for nothing)', () => {
    assert.ok(modules.size > 100, `only ${modules.size} files under ${SRC}`);
    assert.ok(modules.get('session/SessionImpl.ts')!.edges.length > 5);
  });

  it('has no import cycle, counting type-only imports', () => {
    const graph = new Map([...modules].map(([path, m]) => [path, m.edges.filter((e) => !e.dynamic).map((e) => e.to)]));
    const cycles = findCycles(graph);
    assert.deepEqual(cycles.map((c) => c.join(' -> ')), []);
  });

  it(`has no file over ${MAX_LINES} lines, but a store's protocol code`, () => {
    const long = [...modules.values()]
      .map((m) => ({ path: m.path, lines: m.text.split('\n').length - (m.text.endsWith('\n') ? 1 : 0) }))
      .filter((f) => f.lines > MAX_LINES && !LONG_ALLOWED.has(f.path))
      .map((f) => `${f.path}: ${f.lines} lines`);
    assert.deepEqual(long, []);
  });

  it('has no import pointing back up the layers', () => {
    const found: string[] = [];
    for (const m of modules.values()) {
      for (const e of m.edges) {
        for (const rule of BACKWARD) {
          if (rule.from.test(m.path) && rule.to.test(e.to)) found.push(`${m.path} imports ${e.to}: ${rule.why}`);
        }
      }
    }
    assert.deepEqual(found, []);
  });

  it('has no `any` in the session layer', () => {
    const found: string[] = [];
    for (const m of modules.values()) {
      if (!m.path.startsWith('session/')) continue;
      const visit = (node: ts.Node): void => {
        if (node.kind === ts.SyntaxKind.AnyKeyword) {
          const { line } = m.source.getLineAndCharacterOfPosition(node.getStart());
          found.push(`${m.path}:${line + 1}: ${m.text.split('\n')[line]!.trim()}`);
        }
        ts.forEachChild(node, visit);
      };
      visit(m.source);
    }
    assert.deepEqual(found, []);
  });

  describe('findCycles', () => {
    it('finds a cycle of two and one of three, and none in a chain', () => {
      assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['a']]])), [['a', 'b', 'a']]);
      assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c', 'a']]);
      assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', []]])), []);
    });
  });
});
