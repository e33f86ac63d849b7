/**
 * Path and query integers as plain decimal digits only. Ajv's coercion takes whatever `Number()` takes, so
 * `0x10`, `1e3`, `+1`, ` 1`, `01` and `1.0` would all name a resource that has one URL of its own; they are
 * refused here, before coercion, as a 400 naming the parameter.
 */
const DECIMAL = /^(0|[1-9][0-9]*)$/
const MESSAGE = 'must be a whole number in plain decimal digits (no sign, leading zero, exponent, fraction or spaces)'

interface Validator {
  (data: unknown): unknown
  errors?: unknown
}

interface ObjectSchema {
  properties?: Record<string, { type?: unknown }>
}

/** Wraps a params/querystring validator so its integer properties accept only canonical decimal text. */
export function strictIntegers<V extends Validator>(schema: unknown, validate: V): V {
  const names = Object.entries((schema as ObjectSchema).properties ?? {})
    .filter(([, property]) => property.type === 'integer')
    .map(([name]) => name)
  if (!names.length) return validate
  const strict: Validator = (data) => {
    const input = data as Record<string, unknown> | null | undefined
    for (const name of names) {
      const raw = input?.[name]
      const values = Array.isArray(raw) ? raw : [raw]
      if (values.some((v) => typeof v === 'string' && !DECIMAL.test(v))) {
        strict.errors = [{ instancePath: `/${name}`, keyword: 'decimal', message: MESSAGE, params: {} }]
        return false
      }
    }
    const valid = validate(data)
    strict.errors = validate.errors
    return valid
  }
  return strict as V
}
