/**
 * One wording for a file that cannot be read, whichever command or daemon
 * reads it: "FILE: no such file", "FILE: is a directory, not a file", …
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { CpeError } from './errors.js';

const WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a part of its path is not a directory)',
  EISDIR: 'is a directory, not a file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
};

/** Why a read failed, in words ("no such file"), from a Node error. */
export function fileProblem(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return (e.code && WORDS[e.code]) ?? e.code ?? (e instanceof Error ? e.message : String(err));
}

/** "FILE: no such file", "FILE: is a directory, not a file", … */
export function fileMessage(path: string, err: unknown): string {
  return `${path}: ${fileProblem(err)}`;
}

/** The error a command reports for a file it cannot read; `code` says what kind of file it is. */
export function unreadable(path: string, err: unknown, code = 'FILE_UNREADABLE'): CpeError {
  return new CpeError(code, fileMessage(path, err), { cause: err });
}

/** A secret kept in a file (a bearer token, a password): its first line, which must not be empty. */
export function readTokenFile(path: string, setting: string, code = 'TOKEN_UNREADABLE'): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CpeError(code, `${setting}: ${fileMessage(path, err)}`, { cause: err });
  }
  const token = text.split('\n')[0]!.trim();
  if (!token) throw new CpeError(code, `${setting}: ${path} is empty`);
  return token;
}

/**
 * Replaces a file so that a crash leaves the old or the new one, never a
 * part: the text goes to FILE.tmp, which is fsynced and renamed over FILE,
 * and the directory is fsynced so that the rename itself survives.
 */
export function replaceFileDurably(file: string, text: string, mode = 0o640): void {
  replace(file, text, mode, true);
}

/**
 * Replaces a file in one step (FILE.tmp renamed over it) without waiting for
 * the disk: for a file that is rewritten wherever it is found wrong, so that
 * what a crash loses (a rename not yet on disk may leave it empty) is put
 * right at the next write. Two fsyncs fewer: ~6 ms of a blocked event loop.
 */
export function replaceFile(file: string, text: string, mode = 0o640): void {
  replace(file, text, mode, false);
}

function replace(file: string, text: string, mode: number, durable: boolean): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  if (!durable) return;
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
