// The operator's branding (BRAND_* settings): the view globals every page gets, the stylesheet with
// the accent colour, and the logo file when the logo is one. Read once at start-up. With no BRAND_*
// setting, pages keep Latchkey's own look and the stylesheet is served as it is.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Context, Next } from 'koa';
import { ConfigError, type Branding } from '../config/index.js';
import { DEFAULT_VIEW_GLOBALS, publicDir, type ViewGlobals } from '../web/views.js';

export interface BrandedPages {
  /** The pages' globals; undefined when there is no branding (the defaults apply). */
  globals: ViewGlobals | undefined;
  /** Serves /assets/: the stylesheet and the logo file. */
  assets: (ctx: Context, next: Next) => Promise<unknown>;
}

type Rgb = readonly [number, number, number];

function parseHex(hex: string): Rgb {
  const digits = hex.slice(1);
  const full = digits.length === 3 ? [...digits].map((digit) => digit + digit).join('') : digits;
  return [0, 2, 4].map((at) => parseInt(full.slice(at, at + 2), 16)) as unknown as Rgb;
}

function toHex(rgb: Rgb): string {
  return `#${rgb.map((channel) => Math.round(channel).toString(16).padStart(2, '0')).join('')}`;
}

/** WCAG 2.2 relative luminance. */
function luminance(rgb: Rgb): number {
  const [r, g, b] = rgb.map((channel) => {
    const c = channel / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as unknown as Rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2.2 contrast ratio. */
function contrast(a: Rgb, b: Rgb): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

function mix(a: Rgb, b: Rgb, weightOfB: number): Rgb {
  return a.map((channel, index) => channel + (b[index]! - channel) * weightOfB) as unknown as Rgb;
}

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
/** The card surfaces of views' light and dark schemes (public/latchkey.css). */
const LIGHT_SURFACE: Rgb = [255, 255, 255];
const DARK_SURFACE: Rgb = [24, 24, 27];

/** `colour` moved towards `towards` just enough to read as text on `surface` (4.5:1, WCAG AA). */
function readableOn(colour: Rgb, surface: Rgb, towards: Rgb): Rgb {
  for (let weight = 0; weight <= 1; weight += 0.05) {
    const candidate = mix(colour, towards, weight);
    if (contrast(candidate, surface) >= 4.5) return candidate;
  }
  return towards;
}

/**
 * CSS custom properties for an accent colour, appended to the stylesheet: buttons take the exact
 * colour with black or white text, whichever reads better; links and focus rings take the
 * nearest shade that reads on each scheme's surface.
 */
export function accentStylesheet(hex: string): string {
  const accent = parseHex(hex);
  const onAccent = contrast(accent, WHITE) >= contrast(accent, BLACK) ? WHITE : BLACK;
  const hover = mix(accent, onAccent === WHITE ? BLACK : WHITE, 0.15);
  const scheme = (surface: Rgb, towards: Rgb) =>
    [
      `--accent: ${toHex(accent)};`,
      `--accent-hover: ${toHex(hover)};`,
      `--on-accent: ${toHex(onAccent)};`,
      `--link: ${toHex(readableOn(accent, surface, towards))};`,
      `--focus-ring: ${toHex(readableOn(accent, surface, towards))};`,
    ].join(' ');
  return (
    `\n/* BRAND_ACCENT_COLOR ${hex} */\n` +
    `:root { ${scheme(LIGHT_SURFACE, BLACK)} }\n` +
    `@media (prefers-color-scheme: dark) { :root { ${scheme(DARK_SURFACE, WHITE)} } }\n`
  );
}

function versioned(path: string, body: Buffer): string {
  return `${path}?v=${createHash('sha256').update(body).digest('hex').slice(0, 12)}`;
}

function readLogo(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`invalid setting BRAND_LOGO: ${(error as Error).message}`);
  }
}

export function brandedPages(branding: Branding): BrandedPages {
  const baseStylesheet = readFileSync(join(publicDir(), 'latchkey.css'));
  const stylesheet = branding.accentColor
    ? Buffer.concat([baseStylesheet, Buffer.from(accentStylesheet(branding.accentColor))])
    : baseStylesheet;
  const logoFile =
    branding.logo && 'file' in branding.logo
      ? {
          path: `/assets/logo${extname(branding.logo.file).toLowerCase()}`,
          type: branding.logo.type,
          body: readLogo(branding.logo.file),
        }
      : undefined;
  const custom =
    branding.name !== DEFAULT_VIEW_GLOBALS.brand.name ||
    Boolean(branding.logo || branding.accentColor || branding.supportUrl);
  const globals: ViewGlobals | undefined = custom
    ? {
        brand: {
          name: branding.name,
          logo: logoFile
            ? { src: versioned(logoFile.path, logoFile.body) }
            : branding.logo && 'url' in branding.logo
              ? { src: branding.logo.url }
              : undefined,
          supportUrl: branding.supportUrl,
          stylesheet: branding.accentColor
            ? versioned('/assets/latchkey.css', stylesheet)
            : DEFAULT_VIEW_GLOBALS.brand.stylesheet,
          custom: true,
        },
      }
    : undefined;

  const files = new Map<string, { type: string; body: Buffer }>([
    ['/assets/latchkey.css', { type: 'text/css', body: stylesheet }],
  ]);
  if (logoFile) files.set(logoFile.path, logoFile);

  return {
    globals,
    async assets(ctx: Context, next: Next) {
      const file = files.get(ctx.path);
      if (!file || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
      ctx.type = file.type;
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = file.body;
    },
  };
}
