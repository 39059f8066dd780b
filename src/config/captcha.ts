// `captcha`: optional CAPTCHA protection of registration.
import { url, oneOf, optionalString, secret } from './formats.js';
import type { Section } from './section.js';

export const captchaSchema = {
  service: oneOf('CAPTCHA service', ['recaptcha_v2', 'cloudflare_turnstile', 'hcaptcha'], undefined),
  site_key: optionalString('Public site key'),
  secret_key: secret('Secret key'),
  verify_url: url('Mauth addition: verification endpoint, when not the service\'s public one (a proxy, a test stand-in)', undefined, ['http', 'https']),
};

export const captcha: Section<'captcha'> = {
  key: 'captcha',
  description: ['CAPTCHA at registration: `service` (recaptcha_v2, cloudflare_turnstile or hcaptcha),', '`site_key`, `secret_key`. Absent: no CAPTCHA.'],
  schema: captchaSchema,
  check(config, report) {
    const section = config.captcha;
    if (section.service === undefined) return;
    if (section.site_key === undefined) report.error(`is required with service ${section.service}`, 'site_key');
    if (section.secret_key === undefined) report.error(`is required with service ${section.service}`, 'secret_key');
  },
};
