// The console talks to its own gateway only: the admin API with the session cookie, and the
// session's CSRF token on every change.

export interface Session {
  signed_in: boolean;
  actor?: string;
  role?: 'admin' | 'read';
  csrf?: string;
  expires?: string;
  ways: { admin_token: boolean; identity_provider: boolean };
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

let csrf = '';

export function setCsrf(token: string): void {
  csrf = token;
}

/** Called when the session has ended (401): the app shows the sign-in page. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(fn: () => void): void {
  onSignedOut = fn;
}

export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await res.text();
  let j: unknown = null;
  try {
    j = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(`${path}: HTTP ${res.status}, not JSON`, res.status);
  }
  if (!res.ok) {
    if (res.status === 401 && path.startsWith('/admin/')) onSignedOut();
    throw new ApiError((j as { error?: { message?: string } } | null)?.error?.message ?? `HTTP ${res.status}`, res.status);
  }
  return j as T;
}

export function query(params: Record<string, string | number | undefined | null | false>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== false && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const usd = (v: number, digits = 2): string =>
  `$${v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: Math.max(digits, v !== 0 && Math.abs(v) < 0.01 ? 6 : digits) })}`;
export const int = (v: number): string => v.toLocaleString('en-US');
export const when = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

/** A date input's value (YYYY-MM-DD, UTC) n days from today. */
export function day(offset = 0): string {
  return new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
}

/** The day after a YYYY-MM-DD (an inclusive "to" date as an exclusive bound). */
export function nextDay(d: string): string {
  return new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}
