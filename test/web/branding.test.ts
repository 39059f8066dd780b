// `branding.accent_color`: checked as a colour, served as /assets/branding.css with legible text
// on it, and linked from every page only when set; the service name and logo head every page.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import YAML from 'yaml';
import { checkConfig, generateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { accentColors, brandingStylesheet, contrastRatio } from '../../src/web/branding.js';
import { createRenderer } from '../../src/web/render.js';

const config = (branding: Record<string, unknown>) =>
  ({ templates: {}, branding, matrix: { homeserver: 'brand.test' }, email: { transport: 'smtp' } }) as unknown as Config;

describe('accent colour', () => {
  test('text on the accent is black or white, whichever contrasts more', () => {
    assert.deepEqual(accentColors({ accent_color: '#FC0' } as Config['branding']), { accent: '#ffcc00', onAccent: '#000000' });
    assert.deepEqual(accentColors({ accent_color: '#1a3d7c' } as Config['branding']), { accent: '#1a3d7c', onAccent: '#ffffff' });
    assert.equal(accentColors({} as Config['branding']), undefined);
    assert.ok(contrastRatio('#0a7c5c', '#ffffff') >= 4.5, 'the default accent carries white text');
  });

  test('config check accepts #rgb and #rrggbb and refuses anything else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mauth-brand-'));
    try {
      const base = join(dir, 'base.yaml');
      await writeFile(base, await generateConfig());
      for (const [value, ok] of [['#0a7c5c', true], ['#abc', true], ['red', false], ['#12345', false], ['#fff; } body { display: none', false]] as const) {
        const override = join(dir, 'o.yaml');
        await writeFile(override, YAML.stringify({ branding: { accent_color: value } }));
        const { errors } = await checkConfig({ files: [base, override], env: {} });
        assert.equal(errors.length === 0, ok, `${value}: ${JSON.stringify(errors)}`);
        if (!ok) assert.match(errors[0]!.message, /must be a colour as #rrggbb or #rgb/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('/assets/branding.css and the page head', () => {
  let server: ReturnType<ReturnType<typeof express>['listen']>;
  let url: string;
  before(async () => {
    const app = express();
    app.get('/branded.css', brandingStylesheet(config({ accent_color: '#1a3d7c' })));
    app.get('/plain.css', brandingStylesheet(config({})));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  test('the stylesheet sets the accent and the text on it', async () => {
    const res = await fetch(`${url}/branded.css`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/css/);
    assert.equal(await res.text(), ':root { --accent: #1a3d7c; --on-accent: #ffffff; }\n');
    assert.equal(await (await fetch(`${url}/plain.css`)).text(), '');
  });

  test('pages link it only when an accent is set, and show the service name and logo', () => {
    const branded = createRenderer(config({ accent_color: '#1a3d7c', service_name: 'Example Chat', logo_uri: 'https://brand.test/logo.svg' })).render('logout');
    assert.match(branded, /<link rel="stylesheet" href="\/assets\/branding\.css">/);
    assert.match(branded, /<img class="logo" src="https:\/\/brand\.test\/logo\.svg" alt="">/);
    assert.match(branded, /<title>Sign out · Example Chat<\/title>/);
    assert.doesNotMatch(createRenderer(config({})).render('logout'), /branding\.css/);
  });
});
