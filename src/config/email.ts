// `email`: how mail leaves Mauth. The default transport drops every message, so codes only
// reach users once an operator configures smtp or sendmail.
import { integer, oneOf, optionalString, secret, string } from './formats.js';
import type { Section } from './section.js';

const DEFAULT_FROM = '"Authentication Service" <root@localhost>';

/** Accepts `addr@host` and `"Name" <addr@host>` / `Name <addr@host>`. */
export function isMailbox(value: string): boolean {
  const address = /<([^<>]+)>\s*$/.exec(value)?.[1] ?? value.trim();
  return /^[^\s@<>]+@[^\s@<>]+$/.test(address);
}

export const emailSchema = {
  from: string('From address', DEFAULT_FROM),
  reply_to: string('Reply-To address', DEFAULT_FROM),
  transport: oneOf('Transport', ['blackhole', 'smtp', 'sendmail', 'aws_ses'], 'blackhole'),
  mode: oneOf('SMTP connection mode', ['plain', 'tls', 'starttls'], undefined),
  hostname: optionalString('SMTP server'),
  port: integer('SMTP port (default 25 for plain, 465 for tls, 587 for starttls)', undefined, { min: 1, max: 65535 }),
  username: optionalString('SMTP user name'),
  password: secret('SMTP password'),
  password_file: optionalString('File holding the SMTP password'),
  command: optionalString('sendmail command'),
};

export const email: Section<'email'> = {
  key: 'email',
  description: [
    'Outgoing mail. `transport`: blackhole (drop everything, the default), smtp (`mode`: plain,',
    'tls or starttls; `hostname`, `port`, `username`, `password`) or sendmail (`command`).',
  ],
  schema: emailSchema,
  check(config, report) {
    const section = config.email;
    if (section.transport === 'blackhole') {
      const { account } = config;
      const needsMail = [
        account.password_registration_enabled && account.password_registration_email_required && 'account.password_registration_email_required',
        account.password_recovery_enabled && 'account.password_recovery_enabled',
      ].filter((key): key is string => Boolean(key));
      if (needsMail.length > 0) {
        report.warn(
          `is blackhole, so no mail leaves, but ${needsMail.join(' and ')} ${needsMail.length > 1 ? 'need' : 'needs'} it: ` +
            'users cannot receive codes or links; configure smtp or sendmail',
          'transport',
        );
      }
      return;
    }
    for (const key of ['from', 'reply_to'] as const) {
      if (!isMailbox(section[key])) report.error('must be an e-mail address, optionally with a name: "Name" <user@example.com>', key);
    }
    if (section.transport === 'smtp') {
      if (section.mode === undefined) report.error('is required for smtp (plain, tls or starttls)', 'mode');
      if (section.hostname === undefined) report.error('is required for smtp', 'hostname');
      if ((section.username === undefined) !== (section.password === undefined)) {
        report.error('username and password go together: set both or neither', section.username === undefined ? 'username' : 'password');
      }
      if (section.command !== undefined) report.error('applies only to the sendmail transport', 'command');
    }
    if (section.transport === 'sendmail') {
      if (section.command === undefined) report.error('is required for sendmail, e.g. /usr/sbin/sendmail', 'command');
      for (const key of ['mode', 'hostname', 'port', 'username', 'password'] as const) {
        if (section[key] !== undefined) report.error('applies only to the smtp transport', key);
      }
    }
  },
};
