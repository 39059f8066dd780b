// Outgoing mail through nodemailer (`email.transport`: smtp, sendmail or blackhole), rendered
// from templates/emails/<name>.{subject,txt,html}.njk with the operator's branding, in the
// language the mail was asked for in (its messages from the catalogues, config/translations.ts).
import { fileURLToPath } from 'node:url';
import nodemailer, { type Transporter } from 'nodemailer';
import nunjucks from 'nunjucks';
import type { Config, EmailConfig } from '../config/types.js';
import { loadCatalogues, type Catalogues } from '../config/translations.js';
import { matchLanguage, type Message, type MessageParam } from '../domain/messages.js';

const BUILTIN = fileURLToPath(new URL('../../templates/', import.meta.url));

export interface MailMessage {
  to: string;
  template: 'verification' | 'recovery';
  context: Record<string, unknown>;
  /** A language tag; English when absent or not available. */
  lang?: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const DEFAULT_PORTS = { plain: 25, tls: 465, starttls: 587 } as const;

export function createTransport(email: EmailConfig): Transporter {
  switch (email.transport) {
    case 'smtp': {
      const mode = email.mode ?? 'starttls';
      return nodemailer.createTransport({
        host: email.hostname,
        port: email.port ?? DEFAULT_PORTS[mode],
        secure: mode === 'tls',
        requireTLS: mode === 'starttls',
        ignoreTLS: mode === 'plain',
        auth: email.username ? { user: email.username, pass: email.password } : undefined,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
      });
    }
    case 'sendmail':
      return nodemailer.createTransport({ sendmail: true, path: email.command ?? 'sendmail', newline: 'unix' });
    case 'blackhole':
      // Renders and "sends" nowhere: the message is built, then dropped.
      return nodemailer.createTransport({ streamTransport: true, buffer: true });
    default:
      throw new Error(`email.transport ${email.transport} is not supported (use smtp, sendmail or blackhole)`);
  }
}

export class Mailer {
  /** HTML parts escape what they insert; subjects and plain text must not. */
  private readonly html: nunjucks.Environment;
  private readonly plain: nunjucks.Environment;
  private readonly transport: Transporter;
  private readonly catalogues: Catalogues;

  constructor(private readonly config: Config, transport?: Transporter) {
    const paths = [config.templates.path, BUILTIN].filter((p): p is string => !!p);
    this.html = new nunjucks.Environment(new nunjucks.FileSystemLoader(paths), { autoescape: true });
    this.plain = new nunjucks.Environment(new nunjucks.FileSystemLoader(paths), { autoescape: false });
    this.transport = transport ?? createTransport(config.email);
    this.catalogues = loadCatalogues(config.templates.translations_path);
  }

  render(message: MailMessage): RenderedMail {
    const lang = (message.lang && matchLanguage(message.lang, this.catalogues.languages)) || 'en';
    const translator = this.catalogues.translator(lang);
    const context = {
      branding: { service_name: this.config.branding.service_name ?? 'Mauth', ...this.config.branding },
      server_name: this.config.matrix.homeserver,
      lang,
      ...message.context,
    };
    type T = (m: string | Message, params?: Record<string, MessageParam>) => unknown;
    const text: T = (m, params) => translator.text(m, params);
    const html: T = (m, params) => new nunjucks.runtime.SafeString(translator.html(m, params));
    const name = (kind: string) => `emails/${message.template}.${kind}.njk`;
    return {
      subject: this.plain.render(name('subject'), { ...context, t: text }).trim(),
      text: this.plain.render(name('txt'), { ...context, t: text }),
      html: this.html.render(name('html'), { ...context, t: html }),
    };
  }

  async send(message: MailMessage): Promise<void> {
    const mail = this.render(message);
    await this.transport.sendMail({
      from: this.config.email.from,
      replyTo: this.config.email.reply_to,
      to: message.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
    });
  }
}
