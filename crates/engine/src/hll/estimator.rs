//! The cardinality estimate from the register histogram: Otmar Ertl's improved estimator
//! ("New cardinality estimation algorithms for HyperLogLog sketches", arXiv:1702.01284), which
//! Redis uses since 5.0.
//!
//! It needs only how many registers hold each value, so sparse, dense and raw register
//! arrays share it. Every floating-point step is done in the same order and precision as
//! Redis (IEEE doubles, no fused multiply-add), because PFCOUNT must return the very same
//! integer: the estimate is rounded at the end, and a different last bit could flip it.

use super::{Q, REGISTERS};

/// `0.5 / ln 2`, the bias constant of the estimator as m goes to infinity (the double
/// nearest Redis's `0.721347520444481703680`).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// A histogram of register values: `h[v]` registers hold `v`. Values go up to 63 (six bits),
/// although only `0..=Q+1` can come from hashing.
pub type Histogram = [u32; 64];

/// Ertl's sigma: `x + sum(x^(2^k) * 2^(k-1))`, summed until it stops changing.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau: `(1 - x - sum((1 - x^(2^-k))^2 * 2^-k)) / 3`, summed until it stops changing.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The estimate for a histogram of the 16384 registers.
pub fn estimate(histo: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histo[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    round_like_redis(ALPHA_INF * m * m / z)
}

/// Redis rounds with `llroundl` (half away from zero) and stores the result through a double
/// into a `uint64_t`. On x86-64 an estimate that does not fit a signed 64-bit integer (only
/// possible when every register is at its maximum) becomes `LLONG_MIN`, which that
/// conversion turns into 2^63. An estimate of infinity or NaN does the same.
fn round_like_redis(e: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if e.is_nan() || e.abs() >= TWO_63 {
        return 1u64 << 63;
    }
    let r = e.round();
    if r < 0.0 {
        // Never happens for a real histogram (z is positive); kept total for any input.
        0
    } else {
        r as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_saturated_histograms() {
        let mut h = [0u32; 64];
        h[0] = REGISTERS as u32;
        assert_eq!(estimate(&h), 0);
        let mut h = [0u32; 64];
        h[Q as usize + 1] = REGISTERS as u32;
        assert_eq!(estimate(&h), 1 << 63);
        // Values above Q+1 only reach the estimator through corrupt dense data: they count
        // as neither zero nor saturated.
        let mut h = [0u32; 64];
        h[63] = REGISTERS as u32;
        assert_eq!(estimate(&h), 1 << 63);
    }

    #[test]
    fn one_register_set() {
        let mut h = [0u32; 64];
        h[0] = REGISTERS as u32 - 1;
        h[1] = 1;
        assert_eq!(estimate(&h), 1);
    }

    #[test]
    fn sigma_and_tau_edges() {
        assert_eq!(sigma(1.0), f64::INFINITY);
        assert_eq!(sigma(0.0), 0.0);
        assert_eq!(tau(0.0), 0.0);
        assert_eq!(tau(1.0), 0.0);
        assert!(tau(0.5) > 0.0);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_like_redis(2.5), 3);
        assert_eq!(round_like_redis(2.4999), 2);
        assert_eq!(round_like_redis(f64::INFINITY), 1 << 63);
        assert_eq!(round_like_redis(f64::NAN), 1 << 63);
        assert_eq!(round_like_redis(1e300), 1 << 63);
    }
}
