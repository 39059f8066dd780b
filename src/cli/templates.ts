// `mauth templates check`: renders every page and e-mail, the operator's overrides
// (`templates.path`) over the built-in ones, with the same renderer and mailer the server uses,
// once with sample data and once with nothing but the globals, so that a template which does not
// parse, names a missing file or filter, or fails on either path is found before users see it.
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/types.js';
import { createTransport, Mailer, type MailMessage } from '../email/mailer.js';
import { BUILTIN_TEMPLATES, createRenderer } from '../web/render.js';
import { loadCommandConfig } from './options.js';

/** Values for the names the templates use; a value of the wrong shape only renders less. */
const SAMPLE: Record<string, unknown> = {
  csrf: 'sample-csrf-token',
  action: '/sample/action',
  error: 'A sample error message.',
  errors: { form: 'A sample form error.', username: 'Sample problem.', password: 'Sample problem.', password_confirm: 'Sample problem.', email: 'Sample problem.', captcha: 'Sample problem.', accept_terms: 'Sample problem.' },
  notice: 'A sample notice.',
  message: 'A sample message.',
  title: 'Sample title',
  user: { id: '01HSAMPLEUSER0000000000000', username: 'alice', mxid: '@alice:example.com', display_name: 'Alice' },
  mxid: '@alice:example.com',
  username: 'alice',
  values: { username: 'alice', email: 'alice@example.com' },
  email: 'alice@example.com',
  emails: [
    { id: '01HSAMPLEEMAIL000000000000', email: 'alice@example.com', verified: true },
    { id: '01HSAMPLEEMAIL000000000001', email: 'alice@example.org', verified: false },
  ],
  code: '123456',
  link: 'https://auth.example.com/recover/sample',
  minutes: 10,
  host: 'auth.example.com',
  ticket: 'sample-ticket',
  client: { id: '01HSAMPLECLIENT00000000000', name: 'Sample client', uri: 'https://client.example.com/', tos_uri: 'https://client.example.com/tos', policy_uri: 'https://client.example.com/privacy' },
  redirect_uri: 'https://client.example.com/callback',
  scopes: [{ label: 'Sample permission', admin: false }, { label: 'Sample admin permission', admin: true }],
  sessions: [{ id: '01HSAMPLESESSION0000000000', device_id: 'SAMPLEDEV1', client_name: 'Sample client', created_at: '2026-01-01 12:00' }],
  focus: 'SAMPLEDEV1',
  provider: { id: '01HSAMPLEPROVIDER000000000', name: 'Sample provider' },
  upstream_providers: [{ id: '01HSAMPLEPROVIDER000000000', name: 'Sample provider', url: '/upstream/authorize/sample', brand: 'github' }],
  account_name: 'alice@idp.example.com',
  localpart: { value: 'alice', forced: false },
  displayname: { value: 'Alice', forced: false },
  registration_url: '/register',
  recovery_url: '/recover',
  passwords_enabled: true,
  email_required: true,
  can_add: true,
  linked: true,
  expired: false,
  mismatch: false,
  insecure: false,
  tos_uri: 'https://example.com/tos',
  cancel_action: '/sample/cancel',
  refusal: 'A sample refusal.',
};

export interface TemplateProblem {
  template: string;
  message: string;
}

/** nunjucks names the file once per template the error passed through; once is enough. */
function tidy(message: string): string {
  return message
    .replace(/\s*\n\s*/g, ' ')
    .replace(/Template render error: /g, '')
    .replace(/(\([^()]+\) )(?=.*?\1)/g, '')
    .trim();
}

/** Adds a problem unless the same template failed the same way with other data. */
function report(problems: TemplateProblem[], template: string, variant: string, err: unknown): void {
  const message = tidy((err as Error).message);
  const same = problems.find((p) => p.template.startsWith(`${template} `) && p.message === message);
  if (same) same.template = `${template} (every data set)`;
  else problems.push({ template: `${template} (${variant} data)`, message });
}

async function names(dir: string, suffix: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).filter((file) => file.endsWith(suffix)).map((file) => file.slice(0, -suffix.length));
}

/** Every template name in the built-in folder and the override folder, sorted. */
async function templateNames(config: Config, folder: 'pages' | 'emails', suffix: string): Promise<string[]> {
  const roots = [BUILTIN_TEMPLATES, config.templates.path].filter((root): root is string => !!root);
  const all = new Set<string>();
  for (const root of roots) for (const name of await names(join(root, folder), suffix)) all.add(name);
  return [...all].sort();
}

/** Renders everything; returns the renders by output file name and what failed. */
export async function checkTemplates(config: Config): Promise<{ renders: Map<string, string>; problems: TemplateProblem[] }> {
  const renders = new Map<string, string>();
  const problems: TemplateProblem[] = [];
  const variants: [string, Record<string, unknown>][] = [
    ['sample', SAMPLE],
    ['empty', {}],
  ];
  const renderer = createRenderer(config);
  for (const page of await templateNames(config, 'pages', '.njk')) {
    for (const [variant, context] of variants) {
      try {
        renders.set(`pages_${page}-${variant}.html`, renderer.render(page, context));
      } catch (err) {
        report(problems, `pages/${page}.njk`, variant, err);
      }
    }
  }
  // Mail is only rendered here: a stream transport stands in for the configured one.
  const mailer = new Mailer(config, createTransport({ ...config.email, transport: 'blackhole' }));
  const mails = new Set((await templateNames(config, 'emails', '.njk')).map((name) => name.replace(/\.[^.]+$/, '')));
  for (const mail of [...mails].sort()) {
    for (const [variant, context] of variants) {
      try {
        const rendered = mailer.render({ to: 'alice@example.com', template: mail as MailMessage['template'], context });
        renders.set(`emails_${mail}-${variant}.subject.txt`, rendered.subject);
        renders.set(`emails_${mail}-${variant}.txt`, rendered.text);
        renders.set(`emails_${mail}-${variant}.html`, rendered.html);
      } catch (err) {
        report(problems, `emails/${mail}.*.njk`, variant, err);
      }
    }
  }
  return { renders, problems };
}

async function writeRenders(dir: string, renders: Map<string, string>): Promise<void> {
  if (existsSync(dir) && (await readdir(dir)).length > 0) throw new Error(`${dir} is not empty; refusing to write the renders there`);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of renders) await writeFile(join(dir, file), text);
}

export function registerTemplatesCommands(program: Command): void {
  const templates = program.command('templates').description('Check the page and e-mail templates');
  templates
    .command('check')
    .description('Render every page and e-mail (templates.path over the built-in ones) with sample data; exits 1 if one fails')
    .option('--out-dir <dir>', 'also write the renders to this folder (new or empty)')
    .action(async (opts: { outDir?: string }, cmd: Command) => {
      const config = await loadCommandConfig(cmd);
      const { renders, problems } = await checkTemplates(config);
      for (const problem of problems) process.stderr.write(`error: ${problem.template}: ${problem.message}\n`);
      if (opts.outDir !== undefined) await writeRenders(opts.outDir, renders);
      const where = config.templates.path ? ` (${config.templates.path} over the built-in templates)` : '';
      if (problems.length > 0) {
        process.stderr.write(`${problems.length} template problem${problems.length === 1 ? '' : 's'}${where}\n`);
        process.exitCode = 1;
        return;
      }
      console.log(`every page and e-mail renders (${renders.size} renders with sample and with empty data)${where}`);
    });
}
