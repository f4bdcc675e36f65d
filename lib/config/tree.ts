import { XMLParser } from 'fast-xml-parser';
import type { LineIndex } from './source.js';

/** The parsed document, reduced to what the compiler needs. */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** Concatenated character data (text and CDATA) directly inside the element. */
  readonly text: string;
  /** Where the start tag ends: the line libxml2 (and so every schema error) gives an element. */
  readonly line: number;
}

const PREDEFINED: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

/**
 * Decodes the five predefined entities and character references. The input
 * reaching here has passed libxml2 (no DOCTYPE, no undefined entities), so
 * nothing else can appear; anything else is left as written.
 */
const entityDecoder = {
  setExternalEntities(): void {},
  addInputEntities(): void {},
  reset(): void {},
  setXmlVersion(): void {},
  decode(text: string): string {
    if (!text.includes('&')) return text;
    return text.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, ref: string) => {
      if (ref.startsWith('#')) {
        const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
        return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return PREDEFINED[ref] ?? whole;
    });
  },
};

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  captureMetaData: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  entityDecoder,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
  cdataPropName: '#cdata',
  maxNestedTags: 64,
});
const META = XMLParser.getMetaDataSymbol() as unknown as string;

/** Builds the element tree; the caller has already had libxml2 accept the text. */
export function parseTree(text: string, lines: LineIndex): XmlElement | null {
  const nodes = parser.parse(text) as OrderedNode[];
  const root = nodes.map((n) => toElement(n, text, lines)).find((e) => e !== null);
  return root ?? null;
}

/** The offset of the '>' closing the start tag at `start`, skipping quoted attribute values. */
function startTagEnd(text: string, start: number): number {
  let quote = '';
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '>') {
      return i;
    }
  }
  return start;
}

function toElement(node: OrderedNode, source: string, lines: LineIndex): XmlElement | null {
  const name = Object.keys(node).find((k) => k !== ':@');
  if (name === undefined || name === '#text' || name === '#cdata') return null;
  const meta = node[META] as { startIndex?: number } | undefined;
  const content = (node[name] ?? []) as OrderedNode[];
  const children: XmlElement[] = [];
  let text = '';
  for (const child of content) {
    if ('#text' in child) text += textOf(child['#text']);
    else if ('#cdata' in child) text += cdataText(child['#cdata']);
    else {
      const element = toElement(child, source, lines);
      if (element) children.push(element);
    }
  }
  const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(node[':@'] ?? {})) {
    // XML attribute-value normalisation: literal tab/CR/LF read as a space.
    attrs[key] = String(value).replace(/[\t\n\r]/g, ' ');
  }
  const line = lines.lineAt(startTagEnd(source, meta?.startIndex ?? 0));
  return { name, attrs, children, text, line };
}

function cdataText(value: unknown): string {
  if (Array.isArray(value)) {
    return value.map((v: OrderedNode) => textOf(v['#text'])).join('');
  }
  return textOf(value);
}

function textOf(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}
