//! The generic cell rate algorithm (GCRA) behind `CL.THROTTLE`, as a pure function.
//!
//! GCRA is a token bucket kept as a single number: the *theoretical arrival time* (TAT), the
//! moment at which the bucket would be full again if nothing more arrived. Each request of
//! `quantity` tokens pushes the TAT forward by `quantity` emission intervals
//! (`period / count`); a request is allowed when the pushed TAT is no further than the
//! *delay variation tolerance* (`emission interval × (max_burst + 1)`) ahead of now. So one
//! integer per key holds the whole state, and a key whose TAT has passed is the same as a
//! missing key (a full bucket): the key can expire exactly at its TAT.
//!
//! The arithmetic follows redis-cell, whose reply clients already parse: the limit is
//! `max_burst + 1`, `remaining` counts whole emission intervals of slack left, and the two
//! durations are rounded up to whole seconds when they have a millisecond part, so a caller
//! that sleeps `retry_after` seconds is never early. Times are nanoseconds since the Unix
//! epoch (i64 lasts until 2262), computed in i128 so no input can overflow silently.

use thiserror::Error;

/// Why a `CL.THROTTLE` request is invalid.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum GcraError {
    #[error("max_burst must be >= 0")]
    NegativeBurst,
    #[error("count_per_period and period must be > 0 (zero rates are not supported)")]
    ZeroRate,
    #[error("quantity must be >= 0")]
    NegativeQuantity,
    #[error("rate parameters are out of range")]
    OutOfRange,
}

/// A rate limit: `count` tokens per `period_secs`, with bursts of up to `max_burst` extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max_burst: i64,
    pub count: i64,
    pub period_secs: i64,
}

/// The outcome of one request, in redis-cell's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub limited: bool,
    /// `max_burst + 1`.
    pub limit: i64,
    pub remaining: i64,
    /// Whole seconds (rounded up) until the request would be allowed; -1 when it was allowed,
    /// or when it can never be (more tokens than the bucket holds).
    pub retry_after: i64,
    /// Whole seconds (rounded up) until the bucket is full again.
    pub reset_after: i64,
    /// The TAT to store (nanoseconds since the epoch), or None when limited: nothing changes.
    pub new_tat: Option<i64>,
}

const NANOS_PER_SEC: i128 = 1_000_000_000;
const NANOS_PER_MS: i128 = 1_000_000;

/// Seconds of a duration in nanoseconds, rounded up when it has a millisecond part (as
/// redis-cell; a sub-millisecond remainder is dropped). Negative durations count as zero.
fn ceil_secs(ns: i128) -> i64 {
    if ns <= 0 {
        return 0;
    }
    let secs = ns / NANOS_PER_SEC;
    let extra = (ns % NANOS_PER_SEC) / NANOS_PER_MS > 0;
    (secs + extra as i128) as i64
}

/// Runs one request of `quantity` tokens at time `now_ns` against the stored TAT (None when
/// the key is missing). Pure: the caller stores `new_tat` (expiring at that instant) when the
/// request is allowed.
pub fn throttle(
    quota: Quota,
    quantity: i64,
    tat: Option<i64>,
    now_ns: i64,
) -> Result<Outcome, GcraError> {
    if quota.max_burst < 0 {
        return Err(GcraError::NegativeBurst);
    }
    if quota.count <= 0 || quota.period_secs <= 0 {
        return Err(GcraError::ZeroRate);
    }
    if quantity < 0 {
        return Err(GcraError::NegativeQuantity);
    }
    let period_ns = quota.period_secs as i128 * NANOS_PER_SEC;
    let emission = period_ns / quota.count as i128;
    if emission == 0 {
        // More than a billion tokens per second: below the clock's resolution.
        return Err(GcraError::OutOfRange);
    }
    let tolerance = emission
        .checked_mul(quota.max_burst as i128 + 1)
        .filter(|&t| t <= i64::MAX as i128)
        .ok_or(GcraError::OutOfRange)?;
    let increment = emission
        .checked_mul(quantity as i128)
        .ok_or(GcraError::OutOfRange)?;
    let now = now_ns as i128;
    // A TAT in the past is a full bucket, exactly like a missing key.
    let tat = tat.map_or(now, |t| (t as i128).max(now));
    let new_tat = tat + increment;
    if new_tat > i64::MAX as i128 {
        return Err(GcraError::OutOfRange);
    }
    let allow_at = new_tat - tolerance;
    let limited = now < allow_at;
    let (ttl, retry) = if limited {
        // Allowed once enough of the backlog has drained; never if the request alone is
        // bigger than the bucket.
        let retry = if increment <= tolerance {
            ceil_secs(allow_at - now)
        } else {
            -1
        };
        (tat - now, retry)
    } else {
        (new_tat - now, -1)
    };
    let slack = tolerance - ttl;
    let remaining = if slack > -emission {
        (slack / emission) as i64
    } else {
        0
    };
    Ok(Outcome {
        limited,
        limit: quota.max_burst + 1,
        remaining: remaining.max(0),
        retry_after: retry,
        reset_after: ceil_secs(ttl),
        new_tat: (!limited).then_some(new_tat as i64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;
    const T0: i64 = 1_700_000_000 * SEC;

    fn q(max_burst: i64, count: i64, period_secs: i64) -> Quota {
        Quota {
            max_burst,
            count,
            period_secs,
        }
    }

    /// Runs `n` requests at the same instant, threading the TAT like the command does.
    fn burst(quota: Quota, n: usize, tat: &mut Option<i64>, now: i64) -> Vec<Outcome> {
        (0..n)
            .map(|_| {
                let o = throttle(quota, 1, *tat, now).unwrap();
                if let Some(t) = o.new_tat {
                    *tat = Some(t);
                }
                o
            })
            .collect()
    }

    #[test]
    fn fresh_key_allows_burst_plus_one_then_limits() {
        // 15 burst, 30 per 60 s: 16 requests pass at once, the 17th waits 2 s (one interval).
        let quota = q(15, 30, 60);
        let mut tat = None;
        let out = burst(quota, 17, &mut tat, T0);
        for (i, o) in out[..16].iter().enumerate() {
            assert!(!o.limited, "request {i}");
            assert_eq!(o.limit, 16);
            assert_eq!(o.remaining, 15 - i as i64);
            assert_eq!(o.retry_after, -1);
            assert_eq!(o.reset_after, 2 * (i as i64 + 1));
        }
        let last = out[16];
        assert!(last.limited);
        assert_eq!(last.remaining, 0);
        assert_eq!(last.retry_after, 2);
        assert_eq!(last.reset_after, 32);
        assert_eq!(last.new_tat, None);
        assert_eq!(tat, Some(T0 + 32 * SEC));
    }

    #[test]
    fn tokens_come_back_one_interval_at_a_time() {
        let quota = q(0, 1, 10); // one request per 10 s, no burst
        let mut tat = None;
        assert!(!burst(quota, 1, &mut tat, T0)[0].limited);
        let o = throttle(quota, 1, tat, T0 + 4 * SEC).unwrap();
        assert!(o.limited);
        assert_eq!(o.retry_after, 6);
        assert_eq!(o.reset_after, 6);
        let o = throttle(quota, 1, tat, T0 + 10 * SEC).unwrap();
        assert!(!o.limited);
        assert_eq!(o.new_tat, Some(T0 + 20 * SEC));
    }

    #[test]
    fn partial_seconds_round_up_sub_millisecond_is_dropped() {
        assert_eq!(ceil_secs(0), 0);
        assert_eq!(ceil_secs(-5), 0);
        assert_eq!(ceil_secs(999_999), 0);
        assert_eq!(ceil_secs(1_000_000), 1);
        assert_eq!(ceil_secs(SEC as i128), 1);
        assert_eq!(ceil_secs(SEC as i128 + 1_000_000), 2);
    }

    #[test]
    fn stale_tat_is_a_full_bucket() {
        let quota = q(2, 1, 1);
        let a = throttle(quota, 1, None, T0).unwrap();
        let b = throttle(quota, 1, Some(T0 - 100 * SEC), T0).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn quantity_zero_reports_without_consuming_and_oversized_never_fits() {
        let quota = q(4, 5, 5);
        let mut tat = None;
        burst(quota, 3, &mut tat, T0);
        let peek = throttle(quota, 0, tat, T0).unwrap();
        assert!(!peek.limited);
        assert_eq!(peek.remaining, 2);
        assert_eq!(peek.new_tat, tat);
        let huge = throttle(quota, 6, None, T0).unwrap();
        assert!(huge.limited);
        assert_eq!(huge.retry_after, -1);
        let whole = throttle(quota, 5, None, T0).unwrap();
        assert!(!whole.limited);
        assert_eq!(whole.remaining, 0);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert_eq!(
            throttle(q(-1, 1, 1), 1, None, T0),
            Err(GcraError::NegativeBurst)
        );
        assert_eq!(throttle(q(1, 0, 1), 1, None, T0), Err(GcraError::ZeroRate));
        assert_eq!(throttle(q(1, 1, 0), 1, None, T0), Err(GcraError::ZeroRate));
        assert_eq!(throttle(q(1, -3, 1), 1, None, T0), Err(GcraError::ZeroRate));
        assert_eq!(
            throttle(q(1, 1, 1), -1, None, T0),
            Err(GcraError::NegativeQuantity)
        );
        assert_eq!(
            throttle(q(1, 2_000_000_000, 1), 1, None, T0),
            Err(GcraError::OutOfRange)
        );
        assert_eq!(
            throttle(q(i64::MAX, 1, i64::MAX), 1, None, T0),
            Err(GcraError::OutOfRange)
        );
        assert_eq!(
            throttle(q(1, 1, 1), i64::MAX, None, T0),
            Err(GcraError::OutOfRange)
        );
    }

    proptest::proptest! {
        /// Over any sequence of requests, the tokens granted never exceed the bucket plus
        /// what the rate refilled, and a limited request never changes the state.
        #[test]
        fn never_grants_more_than_the_rate_allows(
            burst in 0i64..20, count in 1i64..50, period in 1i64..30,
            steps in proptest::collection::vec((0i64..3_000_000_000, 0i64..4), 1..200),
        ) {
            let quota = q(burst, count, period);
            let emission = period as i128 * NANOS_PER_SEC / count as i128;
            let mut tat = None;
            let mut now = T0;
            let mut granted: i128 = 0;
            for (dt, quantity) in steps {
                now += dt;
                let o = throttle(quota, quantity, tat, now).unwrap();
                proptest::prop_assert!(o.remaining >= 0 && o.remaining <= burst + 1);
                match o.new_tat {
                    Some(t) => {
                        proptest::prop_assert!(!o.limited);
                        granted += quantity as i128;
                        tat = Some(t);
                    }
                    None => proptest::prop_assert!(o.limited),
                }
                let elapsed = (now - T0) as i128;
                proptest::prop_assert!(granted <= burst as i128 + 1 + elapsed / emission);
            }
        }
    }
}
