//! Number parsing and formatting with the exact semantics of Redis 7.2.
//!
//! Everything that turns client bytes into numbers (or numbers into reply
//! bytes) for `INCR*`, `SETRANGE`, `BIT*`, `ZADD`, `INCRBYFLOAT`, ... goes
//! through here, so that accepted inputs, rejected inputs and the exact reply
//! text match Redis byte for byte:
//!
//! * [`parse_i64`] — Redis `string2ll` (strict canonical integers);
//! * [`parse_u64`] — Redis `string2ull` (`string2ll`, then a `strtoull`
//!   fallback with all of its quirks);
//! * [`parse_f64`] — Redis `string2d` / `getDoubleFromObject` (a strict
//!   `strtod`);
//! * [`format_double`] — Redis 7.2 `d2string`, used by `addReplyDouble` for
//!   both RESP2 bulk strings and RESP3 doubles (integers via `ll2string`,
//!   everything else via fpconv's Grisu2, reproduced exactly);
//! * [`LongDouble`] / [`incrbyfloat`] — an exact software emulation of the
//!   x86-64 80-bit `long double` that Redis uses for `INCRBYFLOAT` and
//!   `HINCRBYFLOAT` (`string2ld`, `+`, `ld2string(LD_STR_HUMAN)`), so that for
//!   example `0.1 + 0.2` yields `"0.3"` exactly like Redis;
//! * [`parse_long_double`] / [`format_incrbyfloat`] — the simpler `f64`
//!   approximation of the same, kept for callers that want plain `f64`s.
//!
//! Platform assumptions (documented where they matter): Redis is taken to run
//! on x86-64 Linux with glibc, i.e. `long double` is the x87 extended format
//! and `strtod`/`strtold`/`printf` are correctly rounded (ties to even).

use std::cmp::Ordering;

mod dtoa;
mod int;
mod long_double;
mod strtod;

pub use dtoa::*;
pub use int::*;
pub use long_double::*;
pub use strtod::*;
