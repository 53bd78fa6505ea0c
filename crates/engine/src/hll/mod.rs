//! HyperLogLog exactly as Redis stores it, as pure functions over the string value.
//!
//! A Redis HLL is not a type of its own: it is a plain string, so GET, SET, DUMP/RESTORE,
//! RDB files, replication and the AOF carry it byte for byte, and a key written by Redis
//! must work here and the reverse. That makes the byte layout the contract, not just the
//! counts:
//!
//! ```text
//! "HYLL" | encoding (0 dense, 1 sparse) | 3 unused bytes | cached cardinality (u64 LE) | payload
//! ```
//!
//! The top bit of the cardinality's last byte (byte 15) marks the cache invalid; invalidating
//! sets only that bit, so the stale count's other bits stay visible in GET, as in Redis.
//! The payload is either 16384 six-bit registers (`dense.rs`, 12288 bytes) or run-length
//! opcodes (`sparse.rs`). Every HLL starts sparse and is promoted to dense, for good, when a
//! register needs a value above 32 or an edit would make the string longer than
//! `hll-sparse-max-bytes` (a server parameter the caller passes in).
//!
//! Elements are hashed with Redis's MurmurHash64A and seed ([`murmurhash64a`], [`SEED`]);
//! counts use Ertl's estimator over the register histogram (`estimator.rs`), computed with
//! the same float operations in the same order, so PFCOUNT returns Redis's integers.
//!
//! Every function validates what it reads: a value that is not an HLL is
//! [`HllError::NotHll`] (Redis's `WRONGTYPE Key is not a valid HyperLogLog string value.`),
//! and sparse opcodes that are cut off or do not cover exactly 16384 registers are
//! [`HllError::Corrupt`] (`INVALIDOBJ Corrupted HLL object detected`). No input makes these
//! functions panic, loop for long or write outside the value, and a function that fails
//! leaves the value untouched. (Redis itself only walks a sparse payload up to the register
//! it edits, so PFADD can succeed on some corrupt values that we refuse; see [`add`].)

mod dense;
mod estimator;
mod hash;
mod sparse;
#[cfg(test)]
mod tests;

pub use hash::{murmurhash64a, pattern, SEED};

use std::borrow::Cow;

/// Bytes of the header (magic, encoding, unused bytes, cached cardinality).
pub const HEADER_LEN: usize = 16;
/// Index bits of the hash: 2^14 registers.
pub const P: u32 = 14;
/// Hash bits left for the run of zeros; register values are at most `Q + 1`.
pub const Q: u32 = 64 - P;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Length of a dense HLL string.
pub const DENSE_LEN: usize = HEADER_LEN + dense::PAYLOAD_LEN;
/// The largest register value the sparse encoding can hold.
pub const SPARSE_MAX_VALUE: u8 = sparse::MAX_VALUE;
/// Redis's default `hll-sparse-max-bytes`.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;

const MAGIC: &[u8; 4] = b"HYLL";
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;

/// Reply when a key's string is not an HLL (a plain WRONGTYPE is for non-strings).
pub const ERR_NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// Reply when an HLL's sparse payload is corrupt.
pub const ERR_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
/// PFDEBUG DECODE on a dense HLL.
pub const ERR_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";
/// PFDEBUG on a missing key.
pub const ERR_PFDEBUG_NO_KEY: &str = "ERR The specified key does not exist";

/// PFDEBUG with an unknown subcommand (the name as the client sent it).
pub fn err_pfdebug_unknown(subcommand: &str) -> String {
    format!("ERR Unknown PFDEBUG subcommand '{subcommand}'")
}

/// PFDEBUG GETREG/DECODE/ENCODING/TODENSE with arguments after the key.
pub fn err_pfdebug_arity(subcommand: &str) -> String {
    format!("ERR Wrong number of arguments for the '{subcommand}' subcommand")
}

/// Why an HLL operation failed. `Display` is the exact reply text (after the `-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    /// Too short, wrong magic, unknown encoding, or a dense string of the wrong length.
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// Sparse opcodes that are cut off or do not cover exactly 16384 registers.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    Corrupt,
    /// PFDEBUG DECODE of a dense HLL.
    #[error("ERR HLL encoding is not sparse")]
    NotSparse,
}

impl HllError {
    /// The reply text, as a static string.
    pub fn text(self) -> &'static str {
        match self {
            HllError::NotHll => ERR_NOT_HLL,
            HllError::Corrupt => ERR_CORRUPT,
            HllError::NotSparse => ERR_NOT_SPARSE,
        }
    }
}

impl From<HllError> for crate::Error {
    fn from(e: HllError) -> crate::Error {
        crate::Error::Other(Cow::Borrowed(e.text()))
    }
}

/// The representation of an HLL string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

impl Encoding {
    /// PFDEBUG ENCODING's status reply.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::Sparse => "sparse",
        }
    }
}

/// Redis's `isHLLObjectOrReply` on a string value: at least a header, the `HYLL` magic, a
/// known encoding, and a dense string of exactly [`DENSE_LEN`] bytes. (The caller answers the
/// ordinary WRONGTYPE for non-strings; an integer-encoded string is never an HLL, and its
/// decimal text fails this check anyway.) The sparse payload is not checked here.
pub fn check(value: &[u8]) -> Result<Encoding, HllError> {
    if value.len() < HEADER_LEN || &value[..4] != MAGIC {
        return Err(HllError::NotHll);
    }
    match value[4] {
        ENCODING_DENSE if value.len() == DENSE_LEN => Ok(Encoding::Dense),
        ENCODING_SPARSE => Ok(Encoding::Sparse),
        _ => Err(HllError::NotHll),
    }
}

/// [`check`], plus the sparse payload's validity.
fn check_all(value: &[u8]) -> Result<Encoding, HllError> {
    let enc = check(value)?;
    if enc == Encoding::Sparse {
        sparse::validate(&value[HEADER_LEN..])?;
    }
    Ok(enc)
}

fn cache_valid(value: &[u8]) -> bool {
    value[15] & 0x80 == 0
}

fn invalidate_cache(value: &mut [u8]) {
    value[15] |= 0x80;
}

/// The cached cardinality, when the cache is valid (the value must pass [`check`]).
pub fn cached_count(value: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(value[8..16].try_into().ok()?);
    cache_valid(value).then_some(card)
}

/// A new, empty HLL as PFADD creates it: sparse, one XZERO opcode, cached count 0 (valid).
pub fn new_empty() -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + 2);
    v.extend_from_slice(MAGIC);
    v.push(ENCODING_SPARSE);
    v.extend_from_slice(&[0; 11]);
    v.extend_from_slice(&sparse::empty_payload());
    v
}

/// Raises register `index` to `count` in a checked HLL of encoding `*enc`, promoting a sparse
/// one when needed. True if the register changed.
fn raise(
    v: &mut Vec<u8>,
    enc: &mut Encoding,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
) -> Result<bool, HllError> {
    match *enc {
        Encoding::Dense => Ok(dense::raise(&mut v[HEADER_LEN..], index, count)),
        Encoding::Sparse => match sparse::set(v, index, count, sparse_max_bytes) {
            sparse::SetOutcome::Unchanged => Ok(false),
            sparse::SetOutcome::Updated => Ok(true),
            sparse::SetOutcome::Corrupt => Err(HllError::Corrupt),
            sparse::SetOutcome::Promote => {
                *v = sparse::to_dense(v)?;
                *enc = Encoding::Dense;
                // Promotion only happens when the register must grow.
                Ok(dense::raise(&mut v[HEADER_LEN..], index, count))
            }
        },
    }
}

/// PFADD on an existing key's value. Returns whether any register changed (PFADD's reply
/// 1/0); then the cached cardinality has been invalidated, and the caller signals the key,
/// fires the `pfadd` event and counts the change. When nothing changed the value is
/// byte-identical.
///
/// The whole sparse payload is validated first, so an error (NotHll, Corrupt) leaves the
/// value untouched. Redis only notices corruption that lies before the edited register (or
/// when promoting), so on some corrupt values Redis's PFADD succeeds where this one answers
/// INVALIDOBJ.
pub fn add<I>(value: &mut Vec<u8>, elements: I, sparse_max_bytes: usize) -> Result<bool, HllError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    add_counted(value, elements, sparse_max_bytes).map(|n| n > 0)
}

/// [`add`], returning how many elements changed a register: Redis's PFADD adds that many to
/// its `dirty` count (one per element that changed something, not one per command).
pub fn add_counted<I>(
    value: &mut Vec<u8>,
    elements: I,
    sparse_max_bytes: usize,
) -> Result<usize, HllError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut enc = check_all(value)?;
    let mut changed = 0;
    for e in elements {
        let (index, count) = pattern(e.as_ref());
        changed += usize::from(raise(value, &mut enc, index, count, sparse_max_bytes)?);
    }
    if changed > 0 {
        invalidate_cache(value);
    }
    Ok(changed)
}

/// PFADD on a missing key: the new value (PFADD replies 1 even with no elements, and the
/// cache is invalid, as in Redis).
pub fn create<I>(elements: I, sparse_max_bytes: usize) -> Vec<u8>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    create_counted(elements, sparse_max_bytes).0
}

/// [`create`], with how many elements changed a register (Redis's PFADD counts the creation
/// plus that many changes in `dirty`).
pub fn create_counted<I>(elements: I, sparse_max_bytes: usize) -> (Vec<u8>, usize)
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut v = new_empty();
    let mut enc = Encoding::Sparse;
    let mut changed = 0;
    for e in elements {
        let (index, count) = pattern(e.as_ref());
        // A fresh value is valid, so this cannot fail.
        changed += usize::from(raise(&mut v, &mut enc, index, count, sparse_max_bytes) == Ok(true));
    }
    invalidate_cache(&mut v);
    (v, changed)
}

/// The register histogram of a checked HLL of encoding `enc`.
fn histogram(value: &[u8], enc: Encoding) -> Result<estimator::Histogram, HllError> {
    let mut histo = [0u32; 64];
    match enc {
        Encoding::Dense => dense::histogram(&value[HEADER_LEN..], &mut histo),
        Encoding::Sparse => sparse::histogram(&value[HEADER_LEN..], &mut histo)?,
    }
    Ok(histo)
}

/// PFCOUNT of one key: the cached cardinality when valid (the payload is not looked at, as
/// in Redis), otherwise the estimate, written into the cache. Returns `(count, cache_written)`;
/// when the cache was written the value changed in place (same length), and Redis then signals
/// the key as modified and counts a change (PFCOUNT is propagated like a write).
pub fn count(value: &mut [u8]) -> Result<(u64, bool), HllError> {
    let enc = check(value)?;
    if let Some(card) = cached_count(value) {
        return Ok((card, false));
    }
    let card = estimator::estimate(&histogram(value, enc)?);
    value[8..16].copy_from_slice(&card.to_le_bytes());
    Ok((card, true))
}

/// The estimate of a value without touching its cache (for tests and introspection).
pub fn estimate(value: &[u8]) -> Result<u64, HllError> {
    let enc = check(value)?;
    Ok(estimator::estimate(&histogram(value, enc)?))
}

/// The union of several HLLs as one array of registers (the maximum of each register), as
/// PFCOUNT with several keys and PFMERGE build it. Feed it every existing key's value in
/// argument order ([`Union::add`] stops at the first invalid one, whose error is the reply),
/// skipping missing keys.
#[derive(Clone)]
pub struct Union {
    regs: Box<[u8; REGISTERS]>,
    any_dense: bool,
}

impl Default for Union {
    fn default() -> Self {
        Union::new()
    }
}

impl std::fmt::Debug for Union {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Union")
            .field("any_dense", &self.any_dense)
            .finish_non_exhaustive()
    }
}

impl Union {
    /// All registers zero.
    pub fn new() -> Union {
        Union {
            regs: Box::new([0; REGISTERS]),
            any_dense: false,
        }
    }

    /// Merges one HLL string in (NotHll or Corrupt otherwise; registers merged before a
    /// corrupt run was found may have been raised, which does not matter since the command
    /// fails).
    pub fn add(&mut self, value: &[u8]) -> Result<(), HllError> {
        let enc = check(value)?;
        let regs = &mut self.regs;
        match enc {
            Encoding::Dense => {
                self.any_dense = true;
                dense::for_each(&value[HEADER_LEN..], |i, v| {
                    if v > regs[i] {
                        regs[i] = v;
                    }
                });
            }
            Encoding::Sparse => sparse::for_each_run(&value[HEADER_LEN..], |first, len, v| {
                if v != 0 {
                    for r in &mut regs[first..first + len] {
                        if v > *r {
                            *r = v;
                        }
                    }
                }
            })?,
        }
        Ok(())
    }

    /// Whether any input was dense (PFMERGE then makes the destination dense).
    pub fn any_dense(&self) -> bool {
        self.any_dense
    }

    /// The merged registers.
    pub fn registers(&self) -> &[u8; REGISTERS] {
        &self.regs
    }

    /// PFCOUNT of several keys: the estimate of the union (nothing is cached).
    pub fn count(&self) -> u64 {
        let mut histo = [0u32; 64];
        for &r in self.regs.iter() {
            histo[r as usize] += 1;
        }
        estimator::estimate(&histo)
    }

    /// PFMERGE's new destination value. `dest` is the destination's current value when the
    /// key exists, and must have been [`Union::add`]ed like the sources (Redis counts the
    /// destination as the first source). The result is dense if any input was dense;
    /// otherwise it starts from `dest` (or an empty HLL) and the merged registers are set one
    /// by one in index order through the sparse editor, which promotes it if it outgrows
    /// `sparse_max_bytes` or needs a value above 32. The cache is invalidated. Always
    /// replies OK and counts as a change (event `pfadd`).
    pub fn store(&self, dest: Option<&[u8]>, sparse_max_bytes: usize) -> Result<Vec<u8>, HllError> {
        let (mut v, mut enc) = match dest {
            Some(d) => (d.to_vec(), check_all(d)?),
            None => (new_empty(), Encoding::Sparse),
        };
        if self.any_dense && enc == Encoding::Sparse {
            v = sparse::to_dense(&v)?;
            enc = Encoding::Dense;
        }
        for (i, &r) in self.regs.iter().enumerate() {
            if r != 0 {
                raise(&mut v, &mut enc, i, r, sparse_max_bytes)?;
            }
        }
        invalidate_cache(&mut v);
        Ok(v)
    }
}

/// PFDEBUG TODENSE: converts a sparse value to dense in place. True if it converted (Redis
/// then counts a change so the conversion propagates), false if it was already dense.
pub fn to_dense(value: &mut Vec<u8>) -> Result<bool, HllError> {
    match check(value)? {
        Encoding::Dense => Ok(false),
        Encoding::Sparse => {
            *value = sparse::to_dense(value)?;
            Ok(true)
        }
    }
}

/// PFDEBUG GETREG: the 16384 register values. Like Redis, a sparse value is first converted
/// to dense in place; the flag says it was (a change to count and propagate).
pub fn debug_getreg(value: &mut Vec<u8>) -> Result<(Vec<u8>, bool), HllError> {
    let converted = to_dense(value)?;
    let mut regs = Vec::with_capacity(REGISTERS);
    dense::for_each(&value[HEADER_LEN..], |_, v| regs.push(v));
    Ok((regs, converted))
}

/// PFDEBUG DECODE: Redis's text of the sparse opcodes (`Z:16384`, `z:3 v:2,1 ...`; `z` is
/// ZERO, `Z` is XZERO, `v:value,len` is VAL). Not validated, as in Redis. Errors: NotHll,
/// NotSparse.
pub fn debug_decode(value: &[u8]) -> Result<String, HllError> {
    match check(value)? {
        Encoding::Dense => Err(HllError::NotSparse),
        Encoding::Sparse => Ok(sparse::decode_text(&value[HEADER_LEN..])),
    }
}

/// PFSELFTEST as Redis runs it: 1000 passes of random register writes and reads, then 10
/// million elements added to a dense and a sparse HLL side by side, checking at 1, 10, 100...
/// that they agree, that the sparse one is still sparse while the count is below half of
/// `sparse_max_bytes`, and that the error stays within six standard errors. Takes a second or
/// so in an optimised build. The error reply is Redis's (`ERR TESTFAILED ...`).
pub fn selftest(sparse_max_bytes: usize) -> Result<(), crate::Error> {
    selftest_with(1000, 10_000_000, sparse_max_bytes, rand::random())
}

/// [`selftest`] with its sizes and random seed as parameters.
pub fn selftest_with(
    passes: u32,
    elements: u64,
    sparse_max_bytes: usize,
    seed: u64,
) -> Result<(), crate::Error> {
    use rand::{Rng, SeedableRng};
    let fail = |msg: String| Err(crate::Error::msg(format!("ERR TESTFAILED {msg}")));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // 1: every register keeps its value and leaves its neighbours alone.
    let mut regs = vec![0u8; dense::PAYLOAD_LEN];
    let mut model = vec![0u8; REGISTERS];
    for _ in 0..passes {
        for (i, m) in model.iter_mut().enumerate() {
            let r = rng.gen::<u8>() & 63;
            *m = r;
            dense::set(&mut regs, i, r);
        }
        for (i, &m) in model.iter().enumerate() {
            let got = dense::get(&regs, i);
            if got != m {
                return fail(format!("Register {i} should be {m} but is {got}"));
            }
        }
    }

    // 2: dense and sparse agree, and the error is small.
    let mut dense_hll = new_empty();
    dense_hll = sparse::to_dense(&dense_hll).map_err(crate::Error::from)?;
    let mut dense_enc = Encoding::Dense;
    let mut sparse_hll = new_empty();
    let mut sparse_enc = Encoding::Sparse;
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    for j in 1..=elements {
        let ele = (j ^ seed).to_le_bytes();
        let (index, count) = pattern(&ele);
        raise(
            &mut dense_hll,
            &mut dense_enc,
            index,
            count,
            sparse_max_bytes,
        )?;
        raise(
            &mut sparse_hll,
            &mut sparse_enc,
            index,
            count,
            sparse_max_bytes,
        )?;
        if j != checkpoint {
            continue;
        }
        if j < (sparse_max_bytes / 2) as u64 && sparse_enc != Encoding::Sparse {
            return fail("sparse encoding not used".into());
        }
        let d = estimate(&dense_hll)?;
        if d != estimate(&sparse_hll)? {
            return fail("dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(d);
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return fail(format!("Too big error. card:{checkpoint} abserr:{abserr}"));
        }
        checkpoint = checkpoint.saturating_mul(10);
    }
    Ok(())
}
