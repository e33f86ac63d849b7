/**
 * A start-up failure whose message already says what is wrong and what to do: printed as one line,
 * without a stack trace, before the process exits with `exitCode`.
 */
export class StartupError extends Error {
  override name = 'StartupError'
  constructor(
    message: string,
    readonly exitCode = 1
  ) {
    super(message)
  }
}
