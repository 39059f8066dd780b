// The layering of ARCHITECTURE.md, checked on the real source tree and, to show the checker can
// fail, on small made-up trees.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkTree, importsOf, readTree, type Violation } from './support/architecture.js';

const rules = (violations: Violation[]) => violations.map((v) => v.rule).sort();
const tree = (files: Record<string, string>) => checkTree(new Map(Object.entries(files)));

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

describe('the source tree', () => {
  it('keeps the layering of ARCHITECTURE.md', () => {
    assert.deepEqual(checkTree(readTree(SRC)).map((v) => v.message), []);
  });

  it('has no file in src/ longer than 300 lines', () => {
    const lines = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const long = [...readTree(SRC)].filter(([, text]) => lines(text) > 300).map(([file, text]) => `${file} (${lines(text)})`);
    assert.deepEqual(long, []);
  });
});

describe('the architecture checker', () => {
  it('accepts imports that point down or sideways without a loop', () => {
    assert.deepEqual(
      tree({
        'http/app.ts': "import { x } from '../views/a.js';",
        'views/a.ts': "import { y } from '../storage/b.js';\nimport type { Z } from '../compat/z.js';",
        'compat/z.ts': "export type Z = 1;",
        'storage/b.ts': "import { c } from '../domain/c.js';\nexport const y = (sql: any) => sql`SELECT 1`;",
        'domain/c.ts': "import { d } from './d.js';",
        'domain/d.ts': 'export const d = 1;',
      }),
      [],
    );
  });

  it('reports an import that points up a floor', () => {
    const found = tree({ 'storage/a.ts': "import { app } from '../http/app.js';", 'http/app.ts': '' });
    assert.deepEqual(rules(found), ['floor']);
    assert.match(found[0]!.message, /storage\/a\.ts imports \.\.\/http\/app\.js/);
  });

  it('reports two folders on one floor that import each other, type-only imports included', () => {
    const found = tree({
      'views/a.ts': "import type { B } from '../compat/b.js';",
      'compat/b.ts': "import { a } from '../views/a.js';",
    });
    assert.deepEqual(rules(found), ['cycle']);
    assert.match(found[0]!.message, /compat ↔ views/);
  });

  it('reports a loop through three folders', () => {
    const found = tree({
      'oidc/a.ts': "import '../jobs/b.js';",
      'jobs/b.ts': "export * from '../accounts/c.js';",
      'accounts/c.ts': "const m = await import('../oidc/a.js');",
    });
    assert.deepEqual(rules(found), ['cycle']);
  });

  it('reports domain/ importing project code, even from a lower floor', () => {
    assert.deepEqual(rules(tree({ 'domain/a.ts': "import { c } from '../config/types.js';", 'config/types.ts': '' })), ['domain-pure']);
  });

  it('reports SQL written outside storage/', () => {
    assert.deepEqual(rules(tree({ 'views/a.ts': 'await app.sql`\n  UPDATE users SET x = 1`;' })), ['sql-outside-storage']);
    assert.deepEqual(rules(tree({ 'jobs/a.ts': 'await tx<Row[]>`SELECT * FROM jobs`;' })), ['sql-outside-storage']);
    assert.deepEqual(rules(tree({ 'cli/a.ts': "await sql.unsafe('DROP TABLE x');" })), ['sql-outside-storage']);
  });

  it('reports oidc-provider imported outside oidc/', () => {
    assert.deepEqual(rules(tree({ 'accounts/a.ts': "import type Provider from 'oidc-provider';" })), ['oidc-provider-outside-oidc']);
    assert.deepEqual(rules(tree({ 'oidc/a.ts': "import Provider from 'oidc-provider';" })), []);
  });

  it('is not blinded by comment markers inside strings', () => {
    const found = tree({
      'storage/a.ts': [
        "const route = '/register/*rest';",
        'const url = `http://${host("//x")}/*`;',
        "import { app } from '../http/app.js';",
        'await sql`SELECT 1`;',
      ].join('\n'),
      'views/b.ts': ["const glob = \"/a/*\";", 'await db`UPDATE users SET x = 1`;', "const m = require('../cli/main.js');"].join('\n'),
      'http/app.ts': '',
      'cli/main.ts': '',
    });
    assert.deepEqual(rules(found), ['floor', 'floor', 'sql-outside-storage']);
  });

  it('reports a folder that has no floor', () => {
    assert.deepEqual(rules(tree({ 'utils/a.ts': '' })), ['unknown-folder']);
  });

  it('reads every kind of import and ignores commented-out ones', () => {
    const found = importsOf(
      'x.ts',
      [
        "import a from './a.js';",
        "import type { B } from './b.js';",
        "import {\n  c,\n  d,\n} from './c.js';",
        "export { e } from './e.js';",
        "import './side-effect.js';",
        "const f = await import('./f.js');",
        "// import g from './g.js';",
        "/* import h from './h.js'; */",
      ].join('\n'),
    );
    assert.deepEqual(
      found.map((i) => [i.specifier, i.typeOnly]),
      [['./a.js', false], ['./b.js', true], ['./c.js', false], ['./e.js', false], ['./side-effect.js', false], ['./f.js', false]],
    );
  });
});
