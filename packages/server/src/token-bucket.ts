/**
 * A token bucket: it refills at `rate` tokens per second up to `burst`, and work takes tokens
 * from it (see `rate-limit.ts` for what each frame costs). `tokens` may be negative after
 * `takeOwed` (work done before its cost was known): the bucket then refuses everything until
 * the refill has paid the debt back.
 */
export interface TokenBucket {
  tokens: number;
  /** The latest time the bucket was refilled for (ms on a monotonic clock); never moves back. */
  updatedAt: number;
}

/** A full bucket. */
export function fullBucket(burst: number, now: number): TokenBucket {
  return { tokens: burst, updatedAt: now };
}

/** Adds the tokens earned since the bucket was last refilled, up to `burst`. */
function refill(bucket: TokenBucket, rate: number, burst: number, now: number): void {
  if (now <= bucket.updatedAt) return;
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) * rate) / 1000);
  bucket.updatedAt = now;
}

/** The tokens the bucket holds at `now` (after refilling it). */
export function availableTokens(
  bucket: TokenBucket,
  rate: number,
  burst: number,
  now: number,
): number {
  refill(bucket, rate, burst, now);
  return bucket.tokens;
}

/**
 * Takes `cost` tokens if the bucket holds them, and returns true; otherwise takes nothing and
 * returns false (a refusal costs no tokens). So the tokens taken between two times never exceed
 * `burst + rate × elapsed` plus what was given back.
 */
export function takeTokens(
  bucket: TokenBucket,
  cost: number,
  rate: number,
  burst: number,
  now: number,
): boolean {
  refill(bucket, rate, burst, now);
  if (bucket.tokens < cost) return false;
  bucket.tokens -= cost;
  return true;
}

/** Gives back tokens taken earlier and not used (a reservation larger than the work); at most up to `burst`. */
export function returnTokens(
  bucket: TokenBucket,
  tokens: number,
  rate: number,
  burst: number,
  now: number,
): void {
  refill(bucket, rate, burst, now);
  bucket.tokens = Math.min(burst, bucket.tokens + tokens);
}

/**
 * Takes tokens for work already done, whether or not the bucket holds them: it may go into
 * debt, which the refill pays back before anything else is granted.
 */
export function takeOwed(
  bucket: TokenBucket,
  tokens: number,
  rate: number,
  burst: number,
  now: number,
): void {
  refill(bucket, rate, burst, now);
  bucket.tokens -= tokens;
}
