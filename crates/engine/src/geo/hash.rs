//! Geohash cells: encoding a point into interleaved bits at some precision, decoding a cell
//! back to its area, and moving to the neighbouring cells.
//!
//! A hash of `step` bits per coordinate has the latitude's bits in the even positions and the
//! longitude's in the odd ones, most significant first, so it is a Z-order curve over the
//! ranges. Encoding truncates each coordinate's offset, scaled to `2^step`, to an integer; at
//! the very top of a range that integer is `2^step` itself and spills one bit above the hash,
//! which Redis keeps (and so do we). Neighbours wrap around the ranges.

/// A geohash: `bits` holds `2 * step` interleaved bits (more only at the ranges' top edges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeoHashBits {
    pub bits: u64,
    pub step: u8,
}

impl GeoHashBits {
    /// The "no cell" marker (a search neighbour dropped as useless).
    pub const ZERO: GeoHashBits = GeoHashBits { bits: 0, step: 0 };

    /// True for [`GeoHashBits::ZERO`].
    pub fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash shifted to 52 bits, i.e. the smallest score inside the cell.
    pub fn align52(self) -> u64 {
        self.bits << (52 - 2 * u32::from(self.step))
    }

    /// The scores of the members in this cell: `[align52(bits), align52(bits + 1))`.
    pub fn score_range(self) -> super::ScoreRange {
        let next = GeoHashBits {
            bits: self.bits.wrapping_add(1),
            step: self.step,
        };
        super::ScoreRange {
            min: self.align52() as f64,
            max: next.align52() as f64,
        }
    }
}

/// A coordinate range.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    /// Longitudes.
    pub const LON: Range = Range {
        min: super::LON_MIN,
        max: super::LON_MAX,
    };
    /// Latitudes, within the Mercator limits.
    pub const LAT: Range = Range {
        min: super::LAT_MIN,
        max: super::LAT_MAX,
    };

    fn is_zero(self) -> bool {
        self.min == 0.0 && self.max == 0.0
    }
}

/// A cell's extent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Area {
    pub hash: GeoHashBits,
    pub lon: Range,
    pub lat: Range,
}

impl Area {
    /// The centre of the cell, clamped to the longitude and Mercator latitude limits: the
    /// position GEOPOS reports.
    pub fn center(&self) -> (f64, f64) {
        let lon = ((self.lon.min + self.lon.max) / 2.0).clamp(super::LON_MIN, super::LON_MAX);
        let lat = ((self.lat.min + self.lat.max) / 2.0).clamp(super::LAT_MIN, super::LAT_MAX);
        (lon, lat)
    }
}

/// Spreads the low 32 bits of `v` to the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// Gathers the even bits of `x` into the low 32 bits.
fn gather(mut x: u64) -> u32 {
    x &= 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x >> 4)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x >> 8)) & 0x0000_ffff_0000_ffff;
    x = (x | (x >> 16)) & 0x0000_0000_ffff_ffff;
    x as u32
}

/// A non-negative double converted to `uint32_t` as x86-64 does it (truncation through a
/// 64-bit conversion, keeping the low 32 bits).
fn to_u32(x: f64) -> u32 {
    (x as i64) as u32
}

/// Encodes a point at `step` bits per coordinate (1..=32) over the given ranges. None when the
/// step is invalid, a range is empty, or the point lies outside the ranges or outside the
/// Mercator limits (checked even for other ranges, as Redis does).
#[allow(clippy::manual_range_contains)] // comparisons, so that NaN behaves as in C
pub fn encode(
    lon_range: Range,
    lat_range: Range,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<GeoHashBits> {
    if step == 0 || step > 32 || lat_range.is_zero() || lon_range.is_zero() {
        return None;
    }
    if lon > super::LON_MAX || lon < super::LON_MIN || lat > super::LAT_MAX || lat < super::LAT_MIN
    {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * scale;
    Some(GeoHashBits {
        bits: spread(to_u32(lat_offset)) | (spread(to_u32(lon_offset)) << 1),
        step,
    })
}

/// The area of a cell. None for the zero hash or empty ranges. Bits beyond the step (from
/// scores GEOADD never writes) give areas outside the ranges; [`Area::center`] clamps them.
pub fn decode(lon_range: Range, lat_range: Range, hash: GeoHashBits) -> Option<Area> {
    if hash.is_zero() || lat_range.is_zero() || lon_range.is_zero() {
        return None;
    }
    let lat_i = gather(hash.bits);
    let lon_i = gather(hash.bits >> 1);
    let cells = (1u64 << hash.step) as f64;
    let lat_scale = lat_range.max - lat_range.min;
    let lon_scale = lon_range.max - lon_range.min;
    // `+ 1` wraps in 32 bits, as in C.
    Some(Area {
        hash,
        lat: Range {
            min: lat_range.min + (f64::from(lat_i) / cells) * lat_scale,
            max: lat_range.min + (f64::from(lat_i.wrapping_add(1)) / cells) * lat_scale,
        },
        lon: Range {
            min: lon_range.min + (f64::from(lon_i) / cells) * lon_scale,
            max: lon_range.min + (f64::from(lon_i.wrapping_add(1)) / cells) * lon_scale,
        },
    })
}

/// The eight cells around a cell, at the same step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Neighbors {
    pub north: GeoHashBits,
    pub east: GeoHashBits,
    pub west: GeoHashBits,
    pub south: GeoHashBits,
    pub north_east: GeoHashBits,
    pub south_east: GeoHashBits,
    pub north_west: GeoHashBits,
    pub south_west: GeoHashBits,
}

/// Moves one cell along the longitude (odd bits) or latitude (even bits) axis, `+1` or `-1`,
/// wrapping around the range: the other coordinate's bits are held at 1 while adding, so
/// the carry runs through this coordinate's bits only.
fn step_axis(hash: GeoHashBits, odd: bool, up: bool) -> GeoHashBits {
    const ODD: u64 = 0xaaaa_aaaa_aaaa_aaaa;
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let (mine, other) = if odd { (ODD, EVEN) } else { (EVEN, ODD) };
    let shift = 64 - 2 * u32::from(hash.step);
    // Redis shifts by 64 for step 0, which x86 takes as a shift by 0.
    let shr = |v: u64| v.checked_shr(shift).unwrap_or(v);
    let filler = shr(other);
    let mut c = hash.bits & mine;
    let keep = hash.bits & other;
    if up {
        c = c.wrapping_add(filler + 1);
    } else {
        c |= filler;
        c = c.wrapping_sub(filler + 1);
    }
    c &= shr(mine);
    GeoHashBits {
        bits: c | keep,
        step: hash.step,
    }
}

/// The neighbours of a cell (east/west wrap at the antimeridian, north/south at the limits).
pub fn neighbors(hash: GeoHashBits) -> Neighbors {
    let x = |h, d: i8| match d {
        0 => h,
        d => step_axis(h, true, d > 0),
    };
    let y = |h, d: i8| match d {
        0 => h,
        d => step_axis(h, false, d > 0),
    };
    Neighbors {
        east: y(x(hash, 1), 0),
        west: y(x(hash, -1), 0),
        south: y(x(hash, 0), -1),
        north: y(x(hash, 0), 1),
        north_west: y(x(hash, -1), 1),
        north_east: y(x(hash, 1), 1),
        south_east: y(x(hash, 1), -1),
        south_west: y(x(hash, -1), -1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_roundtrips() {
        for v in [0u32, 1, 0xffff_ffff, 0x1234_5678, 1 << 26] {
            assert_eq!(gather(spread(v)), v);
            assert_eq!(spread(v) & 0xaaaa_aaaa_aaaa_aaaa, 0);
        }
        assert_eq!(spread(0b11), 0b101);
    }

    #[test]
    fn neighbours_wrap_and_invert() {
        let h = encode(Range::LON, Range::LAT, 179.99, 0.0, 10).unwrap();
        let n = neighbors(h);
        let east = decode(Range::LON, Range::LAT, n.east).unwrap();
        assert!(
            east.lon.min < -179.0,
            "east of the antimeridian wraps: {east:?}"
        );
        assert_eq!(neighbors(n.east).west, h);
        assert_eq!(neighbors(n.north).south, h);
        assert_eq!(neighbors(n.south_west).north_east, h);
        let c = decode(Range::LON, Range::LAT, h).unwrap();
        let north = decode(Range::LON, Range::LAT, n.north).unwrap();
        assert_eq!(north.lat.min, c.lat.max);
        assert_eq!(north.lon, c.lon);
    }
}
