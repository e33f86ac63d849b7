declare module 'pg/lib/utils.js' {
  /** node-postgres's conversion of a query parameter to the text it sends (null for NULL, a Buffer for bytea). */
  export function prepareValue(value: unknown): string | Buffer | null
}
