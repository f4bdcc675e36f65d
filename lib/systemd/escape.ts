/**
 * Unit-name escaping exactly as `systemd-escape` does it (systemd's
 * unit_name_escape): "/" becomes "-", a leading "." and every byte outside
 * [A-Za-z0-9:_.] become \xNN. Deployable names are already restricted to
 * [A-Za-z0-9._-], so in practice "-" (→ \x2d) and a leading "." are what
 * change, but any string escapes safely: a name can never inject a unit.
 */
const PLAIN = /[A-Za-z0-9:_.]/;

export function systemdEscape(value: string): string {
  let out = '';
  const bytes = Buffer.from(value, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    const ch = String.fromCharCode(byte);
    if (ch === '/') out += '-';
    else if ((i === 0 && ch === '.') || byte >= 0x80 || !PLAIN.test(ch))
      out += `\\x${byte.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** The inverse, as `systemd-escape --unescape` does. */
export function systemdUnescape(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '-') bytes.push(0x2f);
    else if (
      ch === '\\' &&
      value[i + 1] === 'x' &&
      /^[0-9a-f]{2}$/i.test(value.slice(i + 2, i + 4))
    ) {
      bytes.push(parseInt(value.slice(i + 2, i + 4), 16));
      i += 3;
    } else bytes.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** `dpe@<escaped>.service` for a deployable. */
export function templateInstance(template: string, instance: string): string {
  return `${template}@${systemdEscape(instance)}.service`;
}

/** The instance name of `template@instance.service`, unescaped; undefined if not one. */
export function instanceOf(template: string, unit: string): string | undefined {
  const prefix = `${template}@`;
  if (!unit.startsWith(prefix) || !unit.endsWith('.service')) return undefined;
  return systemdUnescape(unit.slice(prefix.length, -'.service'.length));
}
