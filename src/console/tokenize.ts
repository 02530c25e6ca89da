import { ConsoleCommandError } from './errors.ts';

/**
 * Splits a console line on blanks. Double quotes group a word with blanks in
 * it (series names may hold spaces); `\"` and `\\` escape inside quotes.
 */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= n) break;
    let word = '';
    let quoted = false;
    while (i < n && line[i] !== ' ' && line[i] !== '\t') {
      if (line[i] !== '"') {
        word += line[i++];
        continue;
      }
      quoted = true;
      i++;
      while (i < n && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < n && (line[i + 1] === '"' || line[i + 1] === '\\')) i++;
        word += line[i++];
      }
      if (i >= n) throw new ConsoleCommandError('unterminated quote');
      i++;
    }
    if (word !== '' || quoted) out.push(word);
  }
  return out;
}
