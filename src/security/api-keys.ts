import { createHash, randomBytes } from 'node:crypto';

/**
 * What a key may do. `admin` may do everything; any valid key may read, so `read` is for a key
 * that must do nothing else (Prometheus, reports).
 */
export type Role = 'read' | 'allocate' | 'manage' | 'admin' | 'internal';

/** What a route needs: no key, any valid key (`read`), or one role. */
export type Access = 'public' | Role;

export interface ApiKeyEntry {
  readonly name: string;
  readonly sha256: string;
  readonly roles: readonly Role[];
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A new random key (32 bytes, base64url) and the hash to put into the configuration. */
export function newApiKey(): { key: string; sha256: string } {
  const key = randomBytes(32).toString('base64url');
  return { key, sha256: sha256Hex(key) };
}

export type AuthDecision =
  /** `key`: the key presented (null when none was needed: keys off, or a public route). */
  | { readonly ok: true; readonly key: ApiKeyEntry | null }
  | { readonly ok: false; readonly status: 401 | 403; readonly message: string; readonly allowed?: readonly Role[] };

/**
 * The configured keys, by hash. A presented key is hashed and looked up; the stored form is
 * the hash only, so the configuration (and a memory dump) never holds a usable key.
 */
export class ApiKeys {
  private readonly byHash: ReadonlyMap<string, ApiKeyEntry>;

  constructor(
    entries: readonly ApiKeyEntry[],
    /** Keys are demanded even with none configured (then nothing but public routes answers). */
    private readonly required: boolean,
  ) {
    this.byHash = new Map(entries.map((e) => [e.sha256, e]));
  }

  /** Whether requests must carry a key at all. */
  get enforced(): boolean {
    return this.required || this.byHash.size > 0;
  }

  decide(access: Access, presented: string | undefined): AuthDecision {
    if (access === 'public' || !this.enforced) return { ok: true, key: null };
    if (presented === undefined || presented === '') {
      return { ok: false, status: 401, message: 'an API key is required: send "Authorization: Bearer <key>" (or X-API-Key)' };
    }
    const entry = this.byHash.get(sha256Hex(presented));
    if (!entry) return { ok: false, status: 401, message: 'the API key is not valid' };
    if (access === 'read' || entry.roles.includes('admin') || entry.roles.includes(access)) return { ok: true, key: entry };
    return {
      ok: false,
      status: 403,
      message: `key "${entry.name}" (roles: ${entry.roles.join(', ')}) may not do this: it needs the role "${access}"`,
      allowed: [access, 'admin'],
    };
  }
}
