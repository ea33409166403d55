/**
 * Turns what a run did into the recorded state (see state/run-state.ts). Pure: the previous state,
 * the plan and the outcomes in, the new state out.
 */
import { replicationKey } from '../plan/planner.js';
import { keyIdentity } from '../plan/identity.js';
import { isBroken } from '../plan/replication.js';
import type { Plan } from '../plan/types.js';
import type { NameFormat } from '../policy/snapshot-names.js';
import type { RecordedDataset, DestinationResult, RecordedDestination, RunState } from '../state/run-state.js';
import { STATE_VERSION } from '../state/run-state.js';
import type { ReplicationOutcome, RunOutcome } from './executor.js';
import { failureText, isReplicationFailure, recordedError } from '../report/failures.js';

export function recordRun(
  previous: RunState,
  plan: Plan,
  outcome: RunOutcome,
  replications: readonly ReplicationOutcome[],
  names: NameFormat,
  times: { started: number; finished: number; exitCode: number; host: string; interrupted?: string },
): RunState {
  const at = new Date(times.finished).toISOString();
  const datasets: Record<string, RecordedDataset> = {};
  for (const d of plan.datasets) {
    const o = outcome.datasets.get(d.dataset);
    const before = previous.datasets[d.dataset]?.destinations ?? {};
    const destinations: Record<string, RecordedDestination> = {};
    for (const r of plan.replications.filter((x) => x.dataset === d.dataset)) {
      const key = replicationKey(r);
      // The same destination under another spelling of its host keeps its history.
      const prev = before[key] ?? Object.entries(before).find(([k]) => keyIdentity(k) === keyIdentity(key))?.[1];
      const done = replications.find((x) => x.plan === r);
      const ok = done !== undefined && done.ok;
      let result: DestinationResult;
      if (isBroken(r)) result = r.status;
      else if (done === undefined || !done.ok) result = 'failed';
      // A resumed receive that finished is delivered, not pending any more.
      else if (r.status === 'resume') result = 'sent';
      else result = r.sends.length ? 'sent' : r.status === 'not-due' ? 'not-due' : 'up-to-date';
      const lastReplicated = (ok ? r.newCommon : undefined) ?? r.common ?? prev?.lastReplicated;
      const time = lastReplicated !== undefined ? names.parse(lastReplicated) : null;
      const entry: RecordedDestination = { lastRun: at, result };
      const error = done?.failure ? recordedError(done.failure) : result === 'failed' || isBroken(r) ? r.message : undefined;
      if (error) entry.error = error;
      if (lastReplicated !== undefined) entry.lastReplicated = lastReplicated;
      if (time !== null) entry.lastReplicatedTime = new Date(time).toISOString();
      else if (prev?.lastReplicated === lastReplicated && prev?.lastReplicatedTime) entry.lastReplicatedTime = prev.lastReplicatedTime;
      const success = ok ? at : prev?.lastSuccess;
      if (success) entry.lastSuccess = success;
      if (done?.bytes) entry.bytes = done.bytes;
      // The copy's stream options: set by its seed, else kept (and recorded once for a copy seeded before they were).
      const seeded = ok && r.sends.some((s) => s.kind === 'full');
      const stream = seeded || (prev?.stream === undefined && ok && r.sends.length) ? (r.streamFlags ?? []).join(' ') : prev?.stream;
      if (stream !== undefined) entry.stream = stream;
      // What may have arrived although the run could not see it succeed; carried while the
      // destination cannot be asked, dropped once a run found the common snapshot again.
      const unknown = isBroken(r) || r.status === 'resume';
      const maybe = new Set([
        ...(unknown ? (prev?.mayHave ?? []) : []),
        ...(done && !done.ok ? [...done.sent, ...r.sends.filter((s) => s.kind !== 'full').flatMap((s) => s.delivers)] : []),
      ]);
      if (maybe.size) entry.mayHave = [...maybe];
      destinations[key] = entry;
    }
    // Replication failures are recorded with their destination; the dataset keeps the others.
    const own = (o?.failures ?? []).filter((f) => !isReplicationFailure(f)).map(failureText);
    datasets[d.dataset] = { lastRun: at, ok: own.length === 0, errors: own, notes: o?.notes ?? [], destinations };
  }
  return {
    version: STATE_VERSION,
    run: {
      started: new Date(times.started).toISOString(),
      finished: at,
      exitCode: times.exitCode,
      host: times.host,
      ...(times.interrupted ? { interrupted: times.interrupted } : {}),
    },
    datasets,
  };
}
