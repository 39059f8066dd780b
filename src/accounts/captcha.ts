// Server-side CAPTCHA verification on registration (`captcha.service`).
import type { CaptchaConfig } from '../config/types.js';

type Service = NonNullable<CaptchaConfig['service']>;

const SERVICES: Record<Service, { verify: string; field: string; script: string; widgetClass: string }> = {
  recaptcha_v2: {
    verify: 'https://www.google.com/recaptcha/api/siteverify',
    field: 'g-recaptcha-response',
    script: 'https://www.google.com/recaptcha/api.js',
    widgetClass: 'g-recaptcha',
  },
  cloudflare_turnstile: {
    verify: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
    field: 'cf-turnstile-response',
    script: 'https://challenges.cloudflare.com/turnstile/v0/api.js',
    widgetClass: 'cf-turnstile',
  },
  hcaptcha: {
    verify: 'https://api.hcaptcha.com/siteverify',
    field: 'h-captcha-response',
    script: 'https://js.hcaptcha.com/1/api.js',
    widgetClass: 'h-captcha',
  },
};

/** What the registration page needs to show the widget, or undefined when no CAPTCHA is set up. */
export function captchaWidget(config: CaptchaConfig) {
  if (!config.service || !config.site_key) return undefined;
  const s = SERVICES[config.service];
  return { script: s.script, widget_class: s.widgetClass, site_key: config.site_key, origin: new URL(s.script).origin };
}

/** Origins the page's CSP must allow for the widget's script and frames. */
export function captchaOrigins(config: CaptchaConfig): string[] {
  const widget = captchaWidget(config);
  return widget ? [widget.origin, ...(config.service === 'recaptcha_v2' ? ['https://www.gstatic.com'] : [])] : [];
}

/** True when no CAPTCHA is configured, or the service confirms the response. */
export async function verifyCaptcha(config: CaptchaConfig, form: Record<string, unknown>, ip: string | undefined): Promise<boolean> {
  if (!config.service) return true;
  const s = SERVICES[config.service];
  const response = form[s.field];
  if (typeof response !== 'string' || !response || !config.secret_key) return false;
  try {
    const res = await fetch(config.verify_url ?? s.verify, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ secret: config.secret_key, response, ...(ip ? { remoteip: ip } : {}) }).toString(),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) return false;
    const body = (await res.json()) as { success?: unknown };
    return body.success === true;
  } catch {
    return false;
  }
}
