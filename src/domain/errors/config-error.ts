/** Invalid configuration: start-up stops with this message, which names the key and the problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`invalid configuration: ${key}: ${problem}`);
  }
}
