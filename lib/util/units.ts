/** A byte count in the largest power-of-1024 unit it reaches: 1536 → { value: 1.5, unit: 'KiB' }. */
export function scaleBytes(bytes: number): { value: number; unit: string } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let value = bytes;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return { value, unit: units[i]! };
}
