/** PostgreSQL WAL positions ("16/B374D848"): parsing and ordering for consistency tokens. */

const LSN = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i

/** The position as a number, or undefined for anything that is not an LSN (tokens come from clients). */
export function parseLsn(text: string | undefined | null): bigint | undefined {
  if (typeof text !== 'string') return undefined
  const match = LSN.exec(text.trim())
  if (!match) return undefined
  return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`)
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}

export const maxLsn = (a: bigint | undefined, b: bigint | undefined): bigint | undefined =>
  a === undefined ? b : b === undefined ? a : a > b ? a : b
