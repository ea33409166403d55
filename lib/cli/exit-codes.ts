/** SPEC §5 exit codes. */
export const EXIT = {
  OK: 0,
  /** Something failed; each failure is named on stderr. */
  FAILED: 1,
  /** Usage or configuration error. */
  USAGE: 2,
  /** Another run holds the lock (EX_TEMPFAIL: cron may simply try again next time). */
  LOCKED: 75,
} as const;
