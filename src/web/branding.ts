// `branding.accent_color`: the colour of buttons, focus rings and highlights, served as
// /assets/branding.css (a stylesheet, so the pages' CSP still forbids inline styles). The text on
// the accent is black or white, whichever contrasts more, so a light brand colour stays legible.
import type { RequestHandler } from 'express';
import type { Config } from '../config/types.js';

/** WCAG relative luminance of `#rrggbb`. */
function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

/** `#abc` → `#aabbcc`, lower-case. */
function longHex(color: string): string {
  const hex = color.toLowerCase();
  return hex.length === 4 ? `#${[...hex.slice(1)].map((c) => c + c).join('')}` : hex;
}

export function contrastRatio(a: string, b: string): number {
  const [l1, l2] = [luminance(longHex(a)), luminance(longHex(b))].sort((x, y) => y - x) as [number, number];
  return (l1 + 0.05) / (l2 + 0.05);
}

/** The configured accent and the text colour to put on it; undefined when none is configured. */
export function accentColors(branding: Config['branding']): { accent: string; onAccent: string } | undefined {
  const configured = branding.accent_color;
  if (!configured) return undefined;
  const accent = longHex(configured);
  return { accent, onAccent: contrastRatio(accent, '#ffffff') >= contrastRatio(accent, '#000000') ? '#ffffff' : '#000000' };
}

export function brandingStylesheet(config: Config): RequestHandler {
  const colors = accentColors(config.branding);
  const css = colors ? `:root { --accent: ${colors.accent}; --on-accent: ${colors.onAccent}; }\n` : '';
  return (_req, res) => {
    res.type('text/css').set('Cache-Control', 'public, max-age=3600').send(css);
  };
}
