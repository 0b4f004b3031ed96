import { ConfigurationError } from '../../config/ConfigurationError.js';
import { readChoice, type DirectiveSource } from '../../config/directives.js';

/**
 * How unsafe requests are checked against cross-site request forgery:
 * `'on'` (the origin and a token), `'origin'` (the origin, for requests that
 * carry the session cookie), `'off'`.
 */
export type CsrfMode = 'on' | 'origin' | 'off';

/** The request header and form field the token comes in, and the origins trusted besides this site. */
export interface CsrfNames {
  field: string;
  header: string;
  trustedOrigins: readonly string[];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const origins = new Map<string, string[]>();

/**
 * The mode of one request: the handler's choice when it made one (`true`
 * is `'on'`, `false` is `'off'`), else `PSOCsrf` (default `'origin'`).
 *
 * @throws ConfigurationError for a `PSOCsrf` other than on, origin or off.
 * @example
 * ```ts
 * csrfModeOf(request, undefined); // 'origin', unless PSOCsrf says otherwise
 * ```
 */
export function csrfModeOf(source: DirectiveSource, chosen: CsrfMode | boolean | undefined): CsrfMode {
  if (chosen === true) return 'on';
  if (chosen === false) return 'off';
  if (chosen === 'on' || chosen === 'origin' || chosen === 'off') return chosen;
  if (chosen !== undefined) throw new TypeError(`the csrf option must be true, false, 'on', 'origin' or 'off' (or a function giving one); got ${JSON.stringify(chosen)}`);
  const raw = source.getEnviron('PSOCsrf')?.trim().toLowerCase();
  // The flag words too, as every on/off directive takes them.
  if (raw === 'true' || raw === 'yes' || raw === '1') return 'on';
  if (raw === 'false' || raw === 'no' || raw === '0') return 'off';
  return readChoice(source, 'PSOCsrf', ['on', 'origin', 'off'], 'origin');
}

/**
 * The names of `PSOCsrfField` (default `csrf`) and `PSOCsrfHeader` (default
 * `X-CSRF-Token`), and the origins of `PSOCsrfTrustedOrigins`.
 *
 * @throws ConfigurationError for a name that is no header or field name, or an entry that is no origin.
 * @example
 * ```ts
 * csrfNamesOf(request).field; // 'csrf'
 * ```
 */
export function csrfNamesOf(source: DirectiveSource): CsrfNames {
  const field = source.getEnviron('PSOCsrfField')?.trim() || 'csrf';
  const header = source.getEnviron('PSOCsrfHeader')?.trim() || 'X-CSRF-Token';
  if (field.length > 128 || /[\x00-\x20&=]/.test(field)) throw new ConfigurationError('PSOCsrfField', field, 'expected a form field name without spaces, & or =');
  if (!TOKEN.test(header)) throw new ConfigurationError('PSOCsrfHeader', header, 'expected a header name');
  return { field, header, trustedOrigins: trustedOriginsOf(source) };
}

function trustedOriginsOf(source: DirectiveSource): string[] {
  const raw = source.getEnviron('PSOCsrfTrustedOrigins') ?? '';
  let list = origins.get(raw);
  if (!list) {
    list = raw.trim().split(/\s+/).filter(Boolean).map((entry) => {
      let origin: string | undefined;
      try {
        const url = new URL(entry);
        if (url.pathname === '/' && !url.search && !url.hash && !url.username && !entry.endsWith('#')) origin = url.origin;
      } catch {
        origin = undefined;
      }
      if (origin === undefined || origin === 'null') {
        throw new ConfigurationError('PSOCsrfTrustedOrigins', raw, `${entry} is not an origin: write scheme://host[:port], such as https://app.example.org`);
      }
      return origin;
    });
    if (origins.size > 64) origins.clear();
    origins.set(raw, list);
  }
  return list;
}

/** A handler's CSRF choice: a mode, `true` (`'on'`), `false` (`'off'`), or a function deciding per request (`undefined`: the directive). */
export type CsrfOption<R> = CsrfMode | boolean | ((request: R) => CsrfMode | boolean | undefined);
