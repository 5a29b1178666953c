/** A token bucket: `rate` tokens per second, at most `burst` saved up. */
export interface TokenBucket {
  tokens: number;
  updatedAt: number;
}

/** A full bucket. */
export function fullBucket(burst: number, now: number): TokenBucket {
  return { tokens: burst, updatedAt: now };
}

/** Takes one token if there is one; false when the caller is over its rate. */
export function takeToken(bucket: TokenBucket, rate: number, burst: number, now: number): boolean {
  const elapsed = Math.max(0, now - bucket.updatedAt);
  bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * rate) / 1000);
  bucket.updatedAt = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
