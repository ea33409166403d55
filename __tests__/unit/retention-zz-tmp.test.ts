import { Calendar } from '../../lib/policy/calendar.js';
import { NameFormat } from '../../lib/policy/names.js';
import { decideRetention, type PruneCandidate } from '../../lib/policy/retention.js';
import { oracleDecide, oracleMemo, retentionOf } from './retention-oracle.js';
test('t', () => {
  const f = new NameFormat(); const h: PruneCandidate[] = [];
  for (let t = Date.UTC(2027,0,1), i=0; t < Date.UTC(2029,0,15); t += 3600e3, i++) h.push({ name: f.nameFor(t), time: t, createtxg: i });
  const cal = new Calendar('Europe/Berlin'); const R = retentionOf({h:24,d:30,w:8,m:12,y:2});
  let t0 = performance.now(); for (const s of h) oracleMemo(s.time, 'Europe/Berlin'); const memo = performance.now()-t0;
  let cur: PruneCandidate[] = []; let td = 0, to = 0;
  for (let i = 0; i < h.length; i++) { cur.push(h[i]!); if (i % 24 !== 23) continue;
    let a = performance.now(); const d = decideRetention(cur, R, cal); td += performance.now()-a;
    a = performance.now(); oracleDecide(cur, R, 'Europe/Berlin'); to += performance.now()-a;
    const k = new Set(d.filter(x=>x.keep).map(x=>x.name)); cur = cur.filter(c=>k.has(c.name)); }
  console.log({memo, td, to, n: cur.length});
});
