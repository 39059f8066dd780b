// The message catalogues: every shipped language has every message with the same parameters;
// every key the templates and the code name exists; every code a rule can produce (policy
// violations, address and username problems, zxcvbn's findings) has its words; e-mails come out
// in the language they were asked in, and times in the page's; and an operator's
// `templates.translations_path` adds or overrides messages, or is refused with a reason.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { checkConfig, generateConfig } from '../../src/config/load.js';
import { BUILTIN_TRANSLATIONS, DEFAULT_LANGUAGE, readCatalogues } from '../../src/config/translations.js';
import { placeholders } from '../../src/domain/messages.js';
import { usernameProblem } from '../../src/domain/usernames.js';
import { Mailer } from '../../src/email/mailer.js';
import type { Config } from '../../src/config/types.js';
import { msg } from '../../src/web/i18n.js';
import { createRenderer } from '../../src/web/render.js';
import { englishFinder } from '../support/english-left.js';

const ROOT = new URL('../../', import.meta.url).pathname;

async function filesUnder(dir: string, ext: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path, ext)));
    else if (ext.test(entry.name)) out.push(path);
  }
  return out;
}

const { catalogues, problems } = readCatalogues();
const english = catalogues.catalogue(DEFAULT_LANGUAGE)!;

describe('shipped catalogues', () => {
  test('they load without errors or warnings', () => {
    assert.deepEqual(problems, { errors: [], warnings: [] });
    assert.ok(catalogues.languages.includes('de'));
  });

  for (const lang of catalogues.languages.filter((l) => l !== DEFAULT_LANGUAGE)) {
    test(`${lang} has exactly the messages of English, each with English's parameters`, () => {
      const catalogue = catalogues.catalogue(lang)!;
      const missing = [...english.keys()].filter((key) => !catalogue.has(key));
      const extra = [...catalogue.keys()].filter((key) => !english.has(key));
      assert.deepEqual(missing, [], `missing in ${lang}.json`);
      assert.deepEqual(extra, [], `not in en.json`);
      for (const [key, parts] of catalogue) {
        assert.deepEqual([...placeholders(parts)].sort(), [...placeholders(english.get(key)!)].sort(), `${lang}.json ${key}`);
      }
    });
  }

  test('every key the templates and the code name exists, and every message is used', async () => {
    const sources = [...(await filesUnder(join(ROOT, 'templates'), /\.njk$/)), ...(await filesUnder(join(ROOT, 'src'), /(?<!\.test)\.ts$/))];
    const named = new Set<string>();
    const quoted = new Set<string>();
    const prefixes = new Set<string>();
    for (const file of sources) {
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(/\b(?:t|msg|text|html)\(\s*'([a-z_][\w.-]*)'/g)) named.add(m[1]!);
      // Chosen by a condition: `msg(status === 413 ? 'errors.too_large' : …)`.
      for (const m of text.matchAll(/'([a-z_]+\.[\w.-]+)'/g)) quoted.add(m[1]!);
      // `msg(\`policy.${code}\`)`: a family of keys chosen at run time.
      for (const m of text.matchAll(/\bmsg\(\s*`([a-z_][\w.-]*\.)\$\{/g)) prefixes.add(m[1]!);
    }
    const unknown = [...named].filter((key) => !english.has(key));
    assert.deepEqual(unknown, [], 'named but not in en.json');
    const unused = [...english.keys()].filter((key) => !named.has(key) && !quoted.has(key) && ![...prefixes].some((p) => key.startsWith(p)));
    assert.deepEqual(unused, [], 'in en.json but used nowhere');
  });

  test('every code the rules produce has its message', async () => {
    const policy = await readFile(join(ROOT, 'src/policy/register.ts'), 'utf8');
    const codes = [...policy.matchAll(/code: '([a-z-]+)'/g)].map((m) => m[1]!).filter((c) => c !== 'username-invalid' && c !== 'email-invalid');
    assert.ok(codes.length >= 7);
    for (const code of codes) assert.ok(english.has(`policy.${code}`), `policy.${code}`);

    const address = await readFile(join(ROOT, 'src/domain/email-address.ts'), 'utf8');
    const union = /export type EmailProblem =([^;]+);/.exec(address)![1]!;
    for (const problem of union.matchAll(/'([a-z_]+)'/g)) assert.ok(english.has(`email_address.${problem[1]}`), `email_address.${problem[1]}`);

    for (const name of ['', 'Bad!', '123', 'x'.repeat(300)]) assert.ok(english.has(`username.${usernameProblem(name, 'example.test')}`), name);

    // zxcvbn-ts's message keys (warnings and suggestions), which the weak-password hint names.
    const zxcvbnKeys = await import(join(ROOT, 'node_modules/@zxcvbn-ts/core/dist/data/translationKeys.mjs'));
    const { warnings, suggestions } = zxcvbnKeys.default as { warnings: Record<string, string>; suggestions: Record<string, string> };
    for (const key of [...Object.keys(warnings), ...Object.keys(suggestions)]) assert.ok(english.has(`password_hint.${key}`), `password_hint.${key}`);
  });

  test('_html messages appear only in HTML: the plain-text parts of e-mails never use them', async () => {
    for (const file of await filesUnder(join(ROOT, 'templates/emails'), /\.(txt|subject)\.njk$/)) {
      assert.doesNotMatch(await readFile(file, 'utf8'), /_html'/, file);
    }
  });

  test('German addresses the reader as "du" throughout: no formal Sie, Ihr… or Ihnen inside a sentence', async () => {
    // Inside a sentence a capitalised Sie/Ihr/Ihnen can only be the formal address; at a
    // sentence's start it may be "she/it/they" ("Sie wurde abgeschlossen"), so those are allowed.
    const formal = /(?<![.!?:(„]\s*|^\s*)\b(?:Sie|Ihr\w*|Ihnen)\b/u;
    const offenders: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (typeof node === 'string') {
        if (formal.test(node.replace(/<[^>]*>/g, ''))) offenders.push(`${path}: ${node}`);
      } else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) walk(value, path ? `${path}.${key}` : key);
      }
    };
    const german = JSON.parse(await readFile(join(ROOT, 'templates/translations/de.json'), 'utf8'));
    walk(german, '');
    assert.deepEqual(offenders, []);
    // Formal sentences that start with the address are rewritten too.
    assert.equal(german.account.reauth.missing_password, 'Gib dein Passwort ein.');
    assert.equal(german.account_sessions.none, 'Du bist nirgends angemeldet.');
    assert.equal(german.account_deactivated.signed_out, 'Du wurdest überall abgemeldet.');
  });
});

describe('the English-left check of the German walk', () => {
  test('a German message left in English is found, even when it is the German catalogue that holds the English text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mauth-english-left-'));
    try {
      // A translator copied English headings into de.json instead of translating them.
      await writeFile(join(dir, 'de.json'), JSON.stringify({ account_sessions: { heading: 'Sessions' }, account_profile: { heading: 'Profile' } }));
      const finder = englishFinder('de', dir);
      assert.deepEqual(finder.find('Sitzungen'), []);
      assert.ok(finder.find('Sessions').some((f) => f.startsWith('account_sessions.heading')), 'the copied English heading is English left');
      assert.ok(finder.find('Profile').length > 0, 'Profile is English');
      // Words German shares with English (its own, different messages use them) are not English left.
      assert.deepEqual(finder.find('Code'), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('e-mails', () => {
  const config = {
    templates: {},
    branding: { service_name: 'Beispiel', imprint: 'Beispiel GmbH' },
    matrix: { homeserver: 'beispiel.test' },
    email: { transport: 'blackhole' },
  } as unknown as Config;
  const mailer = new Mailer(config);
  const allow = ['Beispiel GmbH', 'Beispiel', 'beispiel.test', 'anna@beispiel.test', '@anna:beispiel.test', 'https://auth.beispiel.test/recover/complete?ticket=x'];

  test('a verification code and a recovery link are written in German when asked in German, with no English left', () => {
    const finder = englishFinder('de');
    const verification = mailer.render({ to: 'anna@beispiel.test', template: 'verification', context: { email: 'anna@beispiel.test', code: '123456', minutes: 1 }, lang: 'de' });
    assert.equal(verification.subject, '123456 ist dein Code für Beispiel');
    assert.match(verification.text, /Er gilt 1 Minute lang/);
    assert.match(verification.html, /<html lang="de">/);
    const recovery = mailer.render({ to: 'anna@beispiel.test', template: 'recovery', context: { mxid: '@anna:beispiel.test', link: allow.at(-1), minutes: 60 }, lang: 'de-AT' });
    assert.match(recovery.text, /60 Minuten/);
    for (const mail of [verification, recovery]) {
      assert.deepEqual(finder.find(`${mail.subject}\n${mail.text}\n${mail.html.replace(/<[^>]*>/g, '\n')}`, allow), []);
    }
  });

  test('without a language, or in one without a catalogue, the mail is English', () => {
    for (const lang of [undefined, 'xx']) {
      const mail = mailer.render({ to: 'a@b.test', template: 'verification', context: { email: 'a@b.test', code: '654321', minutes: 15 }, lang });
      assert.equal(mail.subject, '654321 is your Beispiel code');
      assert.match(mail.text, /It is valid for 15 minutes/);
    }
  });
});

describe('templates.translations_path', () => {
  let dir: string;
  let base: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mauth-translations-'));
    base = join(dir, 'base.yaml');
    await writeFile(base, await generateConfig());
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function check(files: Record<string, unknown>, path?: string) {
    const translations = join(dir, `t-${Math.random().toString(36).slice(2)}`);
    await mkdir(translations);
    for (const [name, content] of Object.entries(files)) await writeFile(join(translations, name), typeof content === 'string' ? content : JSON.stringify(content));
    const override = join(dir, `o-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(override, YAML.stringify({ templates: { translations_path: path ?? translations } }));
    return { translations, result: await checkConfig({ files: [base, override], env: {} }) };
  }

  test('a new language and an override of a built-in message are taken, missing messages fall back to English', async () => {
    const { translations, result } = await check({ 'fr.json': { login: { heading: 'Se connecter' } }, 'en.json': { login: { heading: 'Log in to Example' } } });
    assert.deepEqual(result.errors, []);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0]!.message, /fr\.json: \d+ message\(s\) missing, shown in English/);
    const loaded = readCatalogues(translations).catalogues;
    assert.deepEqual(loaded.languages, ['en', 'de', 'fr']);
    assert.equal(loaded.translator('fr').text('login.heading'), 'Se connecter');
    assert.equal(loaded.translator('fr').text('login.forgot_password'), 'Forgot your password?');
    assert.equal(loaded.translator('en').text('login.heading'), 'Log in to Example');
    assert.equal(loaded.translator('de').text('login.heading'), 'Anmelden');
  });

  test('an unknown message (a MAS catalogue), an unknown parameter, bad syntax or a bad file name is refused', async () => {
    const { result } = await check({
      'de.json': { action: { continue: 'Weiter' }, login: { continue_with: 'Weiter mit {anbieter}', heading: '{oops' } },
      'not a tag.json': {},
      'fr.json': '{ not json',
    });
    const messages = result.errors.map((e) => `${e.key}: ${e.message}`);
    assert.equal(messages.length, 5, messages.join('\n'));
    assert.ok(messages.every((m) => m.startsWith('templates.translations_path: ')));
    assert.match(messages.join('\n'), /unknown message action\.continue \(Mauth's message keys are its own, not MAS's/);
    assert.match(messages.join('\n'), /login\.continue_with uses \{anbieter\}, which this message does not have \(it has \{provider\}\)/);
    assert.match(messages.join('\n'), /login\.heading: unclosed \{/);
    assert.match(messages.join('\n'), /not a tag\.json: the file name must be a language tag/);
    assert.match(messages.join('\n'), /fr\.json: not valid JSON/);
  });

  test('a missing directory is refused; MAS’s stock path means the built-in catalogues', async () => {
    const missing = await check({}, join(dir, 'nowhere'));
    assert.match(missing.result.errors.map((e) => e.message).join('\n'), /nowhere: not a directory/);
    const stock = await check({}, '/usr/local/share/mas-cli/translations');
    assert.deepEqual(stock.result.errors, []);
    assert.equal(stock.result.config?.templates.translations_path, undefined);
  });

  test('the built-in directory is where the catalogues are read from', () => {
    assert.ok(BUILTIN_TRANSLATIONS.endsWith('templates/translations/'));
  });
});

describe('times', () => {
  test('a page writes a moment in its language (UTC, to the minute), keeping the machine-readable form for <time datetime>', async () => {
    const moment = new Date('2026-11-30T14:01:42Z');
    assert.equal(catalogues.translator('en').dateTime(moment), 'Nov 30, 2026, 02:01 PM UTC');
    assert.equal(catalogues.translator('de').dateTime(moment.toISOString()), '30. Nov. 2026, 14:01 UTC');
    const dir = await mkdtemp(join(tmpdir(), 'mauth-time-templates-'));
    try {
      await mkdir(join(dir, 'pages'));
      await writeFile(join(dir, 'pages/moment.njk'), '<time datetime="{{ at }}">{{ datetime(at) }}</time>');
      const renderer = createRenderer({ templates: { path: dir }, branding: {}, matrix: { homeserver: 'zeit.test' }, email: { transport: 'smtp' } } as unknown as Config);
      const german = { method: 'GET', url: '/', headers: { 'accept-language': 'de-DE' } } as unknown as Parameters<typeof renderer.render>[2];
      assert.equal(renderer.render('moment', { at: moment.toISOString() }, german), '<time datetime="2026-11-30T14:01:42.000Z">30. Nov. 2026, 14:01 UTC</time>');
      assert.equal(renderer.render('moment', { at: moment.toISOString() }), '<time datetime="2026-11-30T14:01:42.000Z">Nov 30, 2026, 02:01 PM UTC</time>');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('operator template overrides', () => {
  test('a page written before the catalogues (`{{ error }}`, not `{{ t(error) }}`) still shows the message, in English', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mauth-old-templates-'));
    try {
      await mkdir(join(dir, 'pages'));
      await writeFile(join(dir, 'pages/login.njk'), '<p class="error">{{ error }}</p>');
      const renderer = createRenderer({ templates: { path: dir }, branding: {}, matrix: { homeserver: 'old.test' }, email: { transport: 'smtp' } } as unknown as Config);
      assert.equal(renderer.render('login', { error: msg('errors.login.rate_limited', { seconds: 1 }) }), '<p class="error">Too many attempts. Try again in 1 second.</p>');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
