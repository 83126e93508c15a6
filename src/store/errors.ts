// The store could not be reached (PostgreSQL down, network): an operation that needs it fails
// at once with this, and the gateway answers 503 TG_STORE_UNAVAILABLE (retry later), never a
// misleading 401 or a 500.
export class StoreUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`the store is unreachable: ${reason}`);
  }
}
