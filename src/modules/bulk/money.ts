import { CURRENCIES, minorUnits as digitsOf, type Price } from '../products/schemas.js'

// Intl.NumberFormat is built on every call of minorUnits(): an export asks it for every price, so keep the answers.
const digitsByCurrency = new Map<string, number>()
const KNOWN_CURRENCIES = new Set(CURRENCIES)
function minorUnits(currency: string): number {
  let digits = digitsByCurrency.get(currency)
  if (digits === undefined) digitsByCurrency.set(currency, (digits = digitsOf(currency)))
  return digits
}

/** A value in a row that cannot become a field: the column and why. */
export class CellError extends Error {
  constructor(
    readonly column: string,
    message: string
  ) {
    super(message)
  }
}

/** Minor units as a decimal in the currency's own precision: 1999 USD → "19.99", 500 JPY → "500". */
export function formatAmount(amount: number, currency: string): string {
  const digits = minorUnits(currency)
  if (digits === 0) return String(amount)
  const sign = amount < 0 ? '-' : ''
  const text = String(Math.abs(amount)).padStart(digits + 1, '0')
  return `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}`
}

/** "19.99" USD → 1999, exactly (no floating point); more decimals than the currency has is an error. */
export function parseAmount(column: string, text: string, currency: string): number {
  const match = /^(-?)(\d{1,10})(?:\.(\d+))?$/.exec(text.trim())
  const digits = minorUnits(currency)
  if (!match || (match[3]?.length ?? 0) > digits) {
    throw new CellError(
      column,
      `${JSON.stringify(text)} is not an amount in ${currency} (e.g. ${formatAmount(1999, currency)})`
    )
  }
  const fraction = (match[3] ?? '').padEnd(digits, '0')
  const value = Number(`${match[2]}${fraction}`)
  return match[1] ? -value : value
}

/** "USD 19.99; EUR 18.99" ↔ prices. */
export const formatPrices = (prices: Price[]) =>
  prices.map((p) => `${p.currency} ${formatAmount(p.amountCents, p.currency)}`).join('; ')

export function parsePrices(column: string, text: string): Price[] {
  if (text.trim() === '') return []
  return text.split(';').map((part) => {
    const match = /^\s*([A-Z]{3})\s+(\S+)\s*$/.exec(part)
    if (!match) throw new CellError(column, `${JSON.stringify(part.trim())} is not "CUR amount" (e.g. USD 19.99)`)
    const currency = match[1] as string
    if (!KNOWN_CURRENCIES.has(currency)) throw new CellError(column, `${currency} is not an ISO 4217 currency`)
    return { currency, amountCents: parseAmount(column, match[2] as string, currency) }
  })
}

/** An integer cell as a number; anything else is passed on as text for the schema to name. */
export const integerCell = (text: string): number | string => (/^-?\d{1,10}$/.test(text.trim()) ? Number(text) : text)
