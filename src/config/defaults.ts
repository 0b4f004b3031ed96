/** A browser-lifetime session is kept this long after its last request (`PSOSessionIdleTimeout`). */
export const DEFAULT_IDLE_SECONDS = 24 * 3600;
/** How long a request waits for a busy session before a 503 (`PSOSessionLockTimeout`). */
export const DEFAULT_LOCK_TIMEOUT_SECONDS = 10;
/** How long one store operation may take before a 503 (`PSOSessionStoreTimeout`). */
export const DEFAULT_STORE_TIMEOUT_SECONDS = 5;
/** The largest session data kept, in bytes (`PSOSessionMaxSize`). */
export const DEFAULT_MAX_SESSION_BYTES = 1024 * 1024;
