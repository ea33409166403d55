/**
 * The restricted sink's reading of SSH_ORIGINAL_COMMAND (SPEC §10). It accepts exactly the two
 * command lines zback's own transport (lib/transport/remote.ts) sends, and nothing else:
 *
 *   echo "ZBACK_PID_<12 hex> $$" >&2; exec <argv quoted by shellCommand>
 *   kill -TERM -- -<pid> 2>/dev/null || kill -TERM <pid> 2>/dev/null
 *
 * The argv part is read back word by word and then quoted again with the transport's own
 * shellCommand: only a line that comes out byte for byte the same is accepted, so no other
 * quoting, no shell syntax and no second command can get through.
 */
import { killCommand, PID_MARKER_PREFIX, shellCommand, withPidReport } from '../transport/quote.js';

export type SinkRequest = { kind: 'zfs'; argv: string[]; marker: string } | { kind: 'kill'; pid: number };

export class SinkRefusal extends Error {}

/** The words of a line built by shellCommand: bare safe words and '…' with '\'' for a quote. */
export function readQuotedWords(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    let word = '';
    let quoted = false;
    while (i < text.length && text[i] !== ' ') {
      if (text[i] === "'") {
        const end = text.indexOf("'", i + 1);
        if (end < 0) throw new SinkRefusal('an unterminated quote');
        word += text.slice(i + 1, end);
        quoted = true;
        i = end + 1;
      } else if (text[i] === '\\' && text[i + 1] === "'") {
        word += "'";
        i += 2;
      } else {
        word += text[i];
        i++;
      }
    }
    if (word === '' && !quoted) throw new SinkRefusal('two spaces in a row');
    words.push(word);
    i++; // the space
  }
  return words;
}

const PID_LINE = /^echo "(ZBACK_PID_[0-9a-f]{12}) \$\$" >&2; exec (.+)$/s;

export function parseSinkCommand(line: string | undefined): SinkRequest {
  if (line === undefined || line === '') throw new SinkRefusal('no command (an interactive login is not allowed)');
  const m = PID_LINE.exec(line);
  if (m && m[1]!.startsWith(PID_MARKER_PREFIX)) {
    const argv = readQuotedWords(m[2]!);
    if (argv.length === 0 || withPidReport(m[1]!, argv) !== line || shellCommand(argv) !== m[2])
      throw new SinkRefusal('the command is not quoted the way zback quotes it');
    return { kind: 'zfs', argv, marker: m[1]! };
  }
  const k = /^kill -TERM -- -([1-9][0-9]{0,9}) /.exec(line);
  if (k && killCommand(Number(k[1])) === line) return { kind: 'kill', pid: Number(k[1]) };
  throw new SinkRefusal("not a command zback sends (only zfs commands in zback's own form, and stopping one of this sink's own commands)");
}
