/**
 * A value now, or a promise of it. The policy path is synchronous unless a
 * script waits (DNS, sleep); passing a value straight on, instead of through a
 * promise and an await at every layer, is a measurable part of what a session
 * costs (the SMTP throughput issue).
 */
export type Eventually<T> = T | Promise<T>;

/** `f(v)` at once when `v` is a value, else once it resolves. */
export function andThen<T, U>(v: Eventually<T>, f: (value: T) => Eventually<U>): Eventually<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}
