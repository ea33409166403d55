/**
 * The incremental steps of one replication: from the last snapshot both sides have (`base`) to
 * the newest, delivering exactly the snapshots the destination keeps and nothing it would destroy
 * straight away. Pure; __tests__/unit/send-steps.test.ts replays every series of up to 8
 * snapshots (each kept, not kept, or foreign) on a model of `zfs send -i/-I` and checks that the
 * destination ends with exactly what was meant.
 *
 * What `zfs send` offers: `-i A B` sends B alone (the snapshots between A and B are not sent);
 * `-I A B` sends every snapshot between A and B, B included. So:
 *
 * - consecutive snapshots the destination keeps travel together in one `-I` (one stream, however
 *   many snapshots: a catch-up after 48 missed hours is one send);
 * - a snapshot it does not keep breaks the run: what came before goes in one step, and the gap is
 *   jumped with `-i` onto the first kept snapshot after it;
 * - foreign snapshots (not zback's names) count as kept: they are part of the history, and `-I`
 *   carries them anyway.
 *
 * Worked examples (base B; K kept, x not kept, F foreign), as the tests pin them down:
 *
 *     B K1 K2 K3          → -I B→K3 (delivers K1 K2 K3)
 *     B x1 x2 K3          → -i B→K3
 *     B K1 K2 x3 K4       → -I B→K2 (K1 K2), -i K2→K4
 *     B K1 x2 K3 K4 K5    → -i B→K1, -i K1→K3, -I K3→K5 (K4 K5)
 *     B F1 K2             → -I B→K2 (F1 K2)
 *     B K1 x2             → -i B→K1 (x2, although the newest, is not kept: the copy's newest is K1)
 *     B x1                → nothing to send
 *
 * A run of one snapshot is sent with -i (the same stream as -I, the simpler command).
 */
import type { StreamFlag } from '../zfs/capabilities.js';
import { sendIncrementalCommand } from '../zfs/commands.js';
import type { SendStep } from './types.js';

/** A snapshot of the source, in creation order, as the step planner sees it. */
export interface StepSnapshot {
  name: string;
}

export function incrementalSteps<S extends StepSnapshot>(
  dataset: string,
  base: string,
  after: readonly S[],
  keep: (s: S) => boolean,
  recvArgv: string[],
  /** The copy's stream options (`-w`, or `-L -e -c` as chosen at its seed). */
  flags: readonly StreamFlag[],
): SendStep[] {
  const steps: SendStep[] = [];
  let from = base;
  let run: string[] = []; // kept snapshots right after `from`, nothing dropped in between
  let skipped = false; // a snapshot after `from` was dropped: the next step must jump (-i)
  const flush = () => {
    if (run.length === 0) return;
    const to = run[run.length - 1]!;
    const intermediates = run.length > 1; // only ever after a step, never across a gap
    steps.push({
      kind: 'incremental',
      from,
      to,
      delivers: intermediates ? [...run] : [to],
      sendArgv: sendIncrementalCommand(dataset, from, to, intermediates, flags),
      recvArgv,
    });
    from = to;
    run = [];
    skipped = false;
  };
  for (const s of after) {
    if (!keep(s)) {
      flush();
      skipped = true;
      continue;
    }
    run.push(s.name);
    if (skipped) flush(); // the jump lands exactly on the first kept snapshot after a gap
  }
  flush();
  return steps;
}
