import { ConfigCode, type IssueList } from './issues.js';

export const DEFAULT_MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** Maps character offsets to 1-based line numbers. */
export class LineIndex {
  readonly #starts: number[] = [0];

  constructor(text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) {
      this.#starts.push(i + 1);
    }
  }

  lineAt(offset: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

const DECLARED_ENCODING = /^<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/;
const UTF8 = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);
const LATIN1 = new Set(['iso-8859-1', 'latin1', 'iso_8859-1', 'l1']);

/**
 * Turns the raw input into text, or reports why it cannot: over the size
 * limit, not UTF-8 (or a declared ISO-8859-1), UTF-16. The text handed on
 * declares UTF-8 whatever the input declared, because that is what the
 * validator will read it as.
 */
export function decodeConfig(
  input: Uint8Array | string,
  maxBytes: number,
  issues: IssueList,
): string | null {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > maxBytes) {
    // Callers may hand over only the first maxBytes + 1 bytes, so no exact size here.
    issues.error(
      ConfigCode.tooLarge,
      null,
      null,
      `config exceeds the size limit of ${maxBytes} bytes`,
    );
    return null;
  }
  if (size === 0) {
    issues.error(ConfigCode.malformed, 1, null, 'config is empty');
    return null;
  }
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    if ((input[0] === 0xfe && input[1] === 0xff) || (input[0] === 0xff && input[1] === 0xfe)) {
      issues.error(
        ConfigCode.badEncoding,
        1,
        null,
        'UTF-16 is not accepted; write the config in UTF-8',
      );
      return null;
    }
    const head = Buffer.from(input.subarray(0, 200)).toString('latin1');
    const declared = DECLARED_ENCODING.exec(head.replace(/^\uFEFF|^\u00EF\u00BB\u00BF/, ''))?.[1];
    const encoding = declared?.toLowerCase();
    if (encoding !== undefined && LATIN1.has(encoding)) {
      text = Buffer.from(input).toString('latin1');
    } else {
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(input);
      } catch {
        issues.error(ConfigCode.badEncoding, null, null, 'config is not valid UTF-8');
        return null;
      }
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const declared = DECLARED_ENCODING.exec(text)?.[1];
  if (declared !== undefined) {
    const encoding = declared.toLowerCase();
    if (!UTF8.has(encoding) && !LATIN1.has(encoding)) {
      issues.error(
        ConfigCode.badEncoding,
        1,
        null,
        `encoding "${declared}" is not accepted; use UTF-8 (or ISO-8859-1)`,
      );
      return null;
    }
    text = text.replace(DECLARED_ENCODING, (decl, enc: string) => decl.replace(enc, 'UTF-8'));
  }
  return text;
}

/**
 * Refuses any markup declaration: DOCTYPE, ENTITY, ELEMENT, ATTLIST,
 * NOTATION. A config needs none, and they are how billion-laughs and
 * external-entity attacks get in. Comments and CDATA are skipped, so
 * "<!DOCTYPE" inside them is harmless text.
 */
export function refuseDeclarations(text: string, lines: LineIndex, issues: IssueList): boolean {
  const markup = /<!--[\s\S]*?(?:-->|$)|<!\[CDATA\[[\s\S]*?(?:\]\]>|$)|<!([A-Za-z]*)/g;
  for (let m = markup.exec(text); m !== null; m = markup.exec(text)) {
    const keyword = m[1];
    if (keyword === undefined) continue;
    issues.error(
      ConfigCode.doctype,
      lines.lineAt(m.index),
      null,
      `<!${keyword || '…'}> declarations are refused: a deployable config may not declare a DOCTYPE or entities`,
    );
    return false;
  }
  return true;
}
