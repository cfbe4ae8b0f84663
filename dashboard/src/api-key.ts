// The API key (TALLY_API_KEYS) kept in the browser: set once in the dashboard, used by the
// dashboard and GraphiQL (same origin, same localStorage entry).

const STORAGE_KEY = 'tally.apiKey';

export function loadApiKey(): string {
  try {
    return localStorage.getItem(STORAGE_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveApiKey(key: string): void {
  try {
    if (key) localStorage.setItem(STORAGE_KEY, key);
    else localStorage.removeItem(STORAGE_KEY);
  } catch {
    // private mode without storage: the key lasts until the page is closed
  }
}

/** `Authorization` header value for a key, or undefined when there is none. */
export function bearer(key: string): string | undefined {
  return key ? `Bearer ${key}` : undefined;
}

/** The graphql-ws endpoint on the page's own origin. */
export function wsUrl(path = '/graphql'): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}
