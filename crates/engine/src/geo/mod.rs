//! Redis's geospatial math, as pure functions: what GEOADD stores, what GEOPOS, GEOHASH and
//! GEODIST report, and how GEOSEARCH/GEORADIUS find members.
//!
//! A geo set is an ordinary sorted set whose scores are 52-bit geohashes: the longitude
//! (-180..180) and the latitude (-85.05112878..85.05112878, the Web Mercator limits) are each
//! cut into 2^26 steps and their bits interleaved, latitude in the even bits and longitude in
//! the odd ones. Nearby points then mostly share score prefixes, and a search scans a few
//! score ranges (the geohash cell around the centre and its eight neighbours, at a precision
//! chosen from the radius) and keeps the members that pass an exact distance test.
//!
//! Replies must match Redis to the last digit, and members on a search boundary must be found
//! or missed as in Redis. So every computation here is Redis's own, done in the same order
//! with the same double-precision operations and the C library's trigonometry (which Rust's
//! `sin`/`cos`/`asin` call too): the cell a point falls in, the cell centre GEOPOS returns,
//! the haversine with Redis's earth radius, the step estimate and its corrections near the
//! edges, the score ranges, the membership tests. Conversions that C leaves to the hardware
//! (a score that is not a geohash turned into an integer) are reproduced as x86-64 does them.
//!
//! The command layer owns the sorted set: it parses arguments, scans the score ranges this
//! module gives it ([`Shape::search`] drives the scan), sorts and trims the results, and
//! formats replies with [`format_distance`] and [`format_coord`].

mod hash;
#[cfg(test)]
mod tests;

pub use hash::{decode, encode, neighbors, Area, GeoHashBits, Neighbors, Range};

/// Longitude limits.
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
/// Latitude limits (EPSG:900913 / Web Mercator): geohashes cannot reach the poles.
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
/// Bits per coordinate in a stored score (2 × 26 = 52 bits).
pub const STEP_MAX: u8 = 26;
/// Redis's earth radius for distances (the quadratic mean radius of WGS-84), in metres.
pub const EARTH_RADIUS_IN_METERS: f64 = 6_372_797.560_856;
/// Half the Mercator world width, in metres, for the step estimate.
const MERCATOR_MAX: f64 = 20_037_726.37;
/// Degrees to radians, as Redis computes it (`M_PI / 180.0`).
const D_R: f64 = std::f64::consts::PI / 180.0;

/// GEOADD/GEOSEARCH... with a bad unit.
pub const ERR_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
/// BYRADIUS / GEORADIUS radius that is not a number (NaN included).
pub const ERR_NEED_NUMERIC_RADIUS: &str = "ERR need numeric radius";
/// A negative radius.
pub const ERR_NEGATIVE_RADIUS: &str = "ERR radius cannot be negative";
/// BYBOX width that is not a number.
pub const ERR_NEED_NUMERIC_WIDTH: &str = "ERR need numeric width";
/// BYBOX height that is not a number.
pub const ERR_NEED_NUMERIC_HEIGHT: &str = "ERR need numeric height";
/// BYBOX with a negative side.
pub const ERR_NEGATIVE_BOX: &str = "ERR height or width cannot be negative";
/// COUNT 0 or negative.
pub const ERR_COUNT: &str = "ERR COUNT must be > 0";
/// ANY without COUNT.
pub const ERR_ANY_WITHOUT_COUNT: &str = "ERR the ANY argument requires COUNT argument";
/// GEORADIUSBYMEMBER / FROMMEMBER with a member that is not in the set.
pub const ERR_MEMBER: &str = "ERR could not decode requested zset member";

/// STORE/STOREDIST (or GEOSEARCHSTORE) combined with WITHDIST/WITHHASH/WITHCOORD.
pub fn err_store_with_options(geosearchstore: bool) -> String {
    format!(
        "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        if geosearchstore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        }
    )
}

/// GEOSEARCH without FROMMEMBER or FROMLONLAT; `command` is the name as the client typed it.
pub fn err_from_missing(command: &str) -> String {
    format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {command}")
}

/// GEOSEARCH without BYRADIUS or BYBOX; `command` is the name as the client typed it.
pub fn err_by_missing(command: &str) -> String {
    format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {command}")
}

/// A coordinate error. `Display` is Redis's reply text.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// Longitude or latitude out of range; the values are printed with C's `%f`.
    #[error("ERR invalid longitude,latitude pair {0:.6},{1:.6}")]
    InvalidLonLat(f64, f64),
    #[error("ERR unsupported unit provided. please use M, KM, FT, MI")]
    UnsupportedUnit,
}

impl From<GeoError> for crate::Error {
    fn from(e: GeoError) -> crate::Error {
        crate::Error::msg(e.to_string())
    }
}

/// Checks a longitude/latitude pair as GEOADD, GEORADIUS and FROMLONLAT do (bounds
/// included). NaN passes, as in Redis, but Redis's float parser never produces it.
#[allow(clippy::manual_range_contains)] // comparisons, so that NaN passes as in C
pub fn check_lonlat(lon: f64, lat: f64) -> Result<(), GeoError> {
    if lon < LON_MIN || lon > LON_MAX || lat < LAT_MIN || lat > LAT_MAX {
        Err(GeoError::InvalidLonLat(lon, lat))
    } else {
        Ok(())
    }
}

/// A unit's size in metres (`m`, `km`, `ft`, `mi`, any case); divide metres by it.
pub fn parse_unit(unit: &[u8]) -> Result<f64, GeoError> {
    if unit.eq_ignore_ascii_case(b"m") {
        Ok(1.0)
    } else if unit.eq_ignore_ascii_case(b"km") {
        Ok(1000.0)
    } else if unit.eq_ignore_ascii_case(b"ft") {
        Ok(0.3048)
    } else if unit.eq_ignore_ascii_case(b"mi") {
        Ok(1609.34)
    } else {
        Err(GeoError::UnsupportedUnit)
    }
}

/// The integer GEOADD stores for a point (usually 52 bits; the top edges of the ranges
/// spill into bits 52 and 53, as in Redis).
pub fn score_bits(lon: f64, lat: f64) -> Result<u64, GeoError> {
    check_lonlat(lon, lat)?;
    let hash = encode(Range::LON, Range::LAT, lon, lat, STEP_MAX)
        .ok_or(GeoError::InvalidLonLat(lon, lat))?;
    Ok(hash.align52())
}

/// The sorted-set score GEOADD gives a point (ZADD of [`score_bits`] as a decimal string,
/// hence rounded to the nearest double above 2^53).
pub fn score(lon: f64, lat: f64) -> Result<f64, GeoError> {
    score_bits(lon, lat).map(|b| b as f64)
}

/// A double converted to `uint64_t` as x86-64 code compiled by GCC does it: truncation for
/// `(-2^63, 2^64)` (negative values wrap), `2^63` for NaN and for values at or below
/// `-2^63`, and 0 from `2^64` up.
pub fn c_double_to_u64(x: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let cvtt = |v: f64| -> u64 {
        // cvttsd2si: truncation, or the "integer indefinite" value when out of range.
        if (-TWO_63..TWO_63).contains(&v) {
            (v as i64) as u64
        } else {
            1u64 << 63
        }
    };
    if x >= TWO_63 {
        cvtt(x - TWO_63) ^ (1u64 << 63)
    } else {
        cvtt(x)
    }
}

/// A double converted to `long long` as x86-64 does it (WITHHASH's integer): truncation, or
/// `i64::MIN` when out of range or NaN.
pub fn c_double_to_i64(x: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_63..TWO_63).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

/// The point a score stands for, as GEOPOS, WITHCOORD and the searches see it: the centre of
/// its cell, clamped to the ranges. Any score decodes, even one GEOADD never writes.
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = GeoHashBits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    // A step of 26 is never the all-zero hash, so decoding cannot fail.
    decode(Range::LON, Range::LAT, hash).map_or((0.0, 0.0), |a| a.center())
}

/// GEOHASH's 11-character string for a score: the decoded point re-encoded with the standard
/// latitude range -90..90, as ten base-32 characters from the top 50 bits and a final '0'.
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let std_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(Range::LON, std_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

fn deg_rad(deg: f64) -> f64 {
    deg * D_R
}

fn rad_deg(rad: f64) -> f64 {
    rad / D_R
}

/// Distance in metres along a meridian between two latitudes.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Great-circle distance in metres (haversine), Redis's `geohashGetDistance`: points on the
/// same meridian take the exact meridian formula.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// GEODIST between two scores, in the unit whose size is `to_meters`.
pub fn distance_between_scores(score1: f64, score2: f64, to_meters: f64) -> f64 {
    let (lon1, lat1) = decode_score(score1);
    let (lon2, lat2) = decode_score(score2);
    distance(lon1, lat1, lon2, lat2) / to_meters
}

/// The distance to `(lon2, lat2)` if it is within `radius_m` of `(lon1, lat1)` (boundary
/// included).
pub fn within_radius(lon1: f64, lat1: f64, radius_m: f64, lon2: f64, lat2: f64) -> Option<f64> {
    let d = distance(lon1, lat1, lon2, lat2);
    (d <= radius_m).then_some(d)
}

/// The distance from the centre `(lon1, lat1)` to `(lon2, lat2)` if the point lies in the
/// box of `width_m` × `height_m` around the centre (boundary included). As in Redis the box
/// is measured along the point's own parallel and meridian: the latitude distance against
/// half the height, then the distance along the point's parallel against half the width.
pub fn within_box(
    lon1: f64,
    lat1: f64,
    width_m: f64,
    height_m: f64,
    lon2: f64,
    lat2: f64,
) -> Option<f64> {
    if lat_distance(lat2, lat1) > height_m / 2.0 {
        return None;
    }
    if distance(lon2, lat2, lon1, lat2) > width_m / 2.0 {
        return None;
    }
    Some(distance(lon1, lat1, lon2, lat2))
}

/// The geohash precision (bits per coordinate) of the search cells for a radius: the
/// smallest cell that still spans the radius, coarser towards the poles.
#[allow(clippy::manual_range_contains)] // comparisons, so that NaN behaves as in C
pub fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if lat > 66.0 || lat < -66.0 {
        step -= 1;
        if lat > 80.0 || lat < -80.0 {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// What a search covers, in the user's unit (as Redis keeps it, so that conversions round
/// the same way).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    /// BYRADIUS / GEORADIUS.
    Radius(f64),
    /// BYBOX: full width and height.
    Box { width: f64, height: f64 },
}

/// A search area: its centre, its size in the unit, and the unit's size in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    pub conversion: f64,
    pub kind: ShapeKind,
}

/// A score range to scan: `min <= score < max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
}

/// The nine cells of a search (Redis's `GeoHashRadius`): the centre cell, its neighbours
/// (the all-zero hash for the ones excluded as useless), and the centre cell's area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchCells {
    pub hash: GeoHashBits,
    pub neighbors: Neighbors,
    pub area: Area,
}

impl SearchCells {
    /// The cells in the order Redis scans them: centre, N, S, E, W, NE, NW, SE, SW.
    pub fn in_scan_order(&self) -> [GeoHashBits; 9] {
        let n = &self.neighbors;
        [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }

    /// The score ranges to scan, in order: excluded cells are skipped, and so is a cell equal
    /// to the last one scanned (huge radii make neighbours coincide). Like Redis, the first
    /// neighbour is never compared with the centre cell, so it can repeat it; the repeated
    /// members then appear twice in the results, as in Redis.
    pub fn ranges(&self) -> Vec<ScoreRange> {
        let cells = self.in_scan_order();
        let mut out = Vec::with_capacity(9);
        let mut last: Option<usize> = None;
        for (i, c) in cells.iter().enumerate() {
            if c.is_zero() {
                continue;
            }
            // Redis's `last_processed` is an index where 0 also means "none yet".
            if let Some(l) = last.filter(|&l| l != 0) {
                if cells[l] == *c {
                    continue;
                }
            }
            out.push(c.score_range());
            last = Some(i);
        }
        out
    }
}

/// A member found by [`Shape::search`].
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub member: Vec<u8>,
    pub score: f64,
    /// The member's decoded position (WITHCOORD).
    pub lon: f64,
    pub lat: f64,
    /// Distance from the centre in metres; divide by the unit (`Shape::conversion`) for
    /// WITHDIST and STOREDIST.
    pub dist: f64,
}

impl Shape {
    /// BYRADIUS / GEORADIUS: `radius` in the unit of size `conversion` metres.
    pub fn radius(lon: f64, lat: f64, radius: f64, conversion: f64) -> Shape {
        Shape {
            lon,
            lat,
            conversion,
            kind: ShapeKind::Radius(radius),
        }
    }

    /// BYBOX: `width` × `height` in the unit of size `conversion` metres.
    pub fn rect(lon: f64, lat: f64, width: f64, height: f64, conversion: f64) -> Shape {
        Shape {
            lon,
            lat,
            conversion,
            kind: ShapeKind::Box { width, height },
        }
    }

    /// The bounding box `[min_lon, min_lat, max_lon, max_lat]` Redis derives for the shape:
    /// the box's half-sides (or the radius) turned into degrees, the longitude span taken at
    /// the edge nearer the pole, where it is widest.
    pub fn bounding_box(&self) -> [f64; 4] {
        let (h, w) = match self.kind {
            ShapeKind::Radius(r) => (r, r),
            ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let lon_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let lon_delta = if self.lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        ]
    }

    /// The search radius in metres used to pick the precision (a box's half-diagonal).
    fn radius_meters(&self) -> f64 {
        let r = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        r * self.conversion
    }

    /// The nine cells covering the shape (Redis's `geohashCalculateAreasByShapeWGS84`): the
    /// precision from the radius, one step coarser when a neighbour does not reach past the
    /// bounding box, then the neighbours lying wholly outside the bounding box dropped.
    /// The centre must be a valid point ([`check_lonlat`]).
    pub fn cells(&self) -> SearchCells {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let mut steps = estimate_steps(self.radius_meters(), self.lat);
        let at = |steps: u8| {
            let hash =
                encode(Range::LON, Range::LAT, self.lon, self.lat, steps).unwrap_or(GeoHashBits {
                    bits: 0,
                    step: steps,
                });
            let area = decode(Range::LON, Range::LAT, hash).unwrap_or_default();
            (hash, neighbors(hash), area)
        };
        let (mut hash, mut n, mut area) = at(steps);

        let dec = |h: GeoHashBits| decode(Range::LON, Range::LAT, h).unwrap_or_default();
        let decrease = dec(n.north).lat.max < max_lat
            || dec(n.south).lat.min > min_lat
            || dec(n.east).lon.max < max_lon
            || dec(n.west).lon.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            (hash, n, area) = at(steps);
        }

        if steps >= 2 {
            let zero = GeoHashBits::ZERO;
            if area.lat.min < min_lat {
                n.south = zero;
                n.south_west = zero;
                n.south_east = zero;
            }
            if area.lat.max > max_lat {
                n.north = zero;
                n.north_east = zero;
                n.north_west = zero;
            }
            if area.lon.min < min_lon {
                n.west = zero;
                n.south_west = zero;
                n.north_west = zero;
            }
            if area.lon.max > max_lon {
                n.east = zero;
                n.south_east = zero;
                n.north_east = zero;
            }
        }
        SearchCells {
            hash,
            neighbors: n,
            area,
        }
    }

    /// The score ranges to scan, in Redis's order (see [`SearchCells::ranges`]).
    pub fn ranges(&self) -> Vec<ScoreRange> {
        self.cells().ranges()
    }

    /// Redis's membership test for one score: the decoded point and its distance in metres
    /// when it lies in the shape (boundary included).
    pub fn contains(&self, score: f64) -> Option<(f64, f64, f64)> {
        let (lon, lat) = decode_score(score);
        let d = match self.kind {
            ShapeKind::Radius(r) => {
                within_radius(self.lon, self.lat, r * self.conversion, lon, lat)
            }
            ShapeKind::Box { width, height } => within_box(
                self.lon,
                self.lat,
                width * self.conversion,
                height * self.conversion,
                lon,
                lat,
            ),
        }?;
        Some((lon, lat, d))
    }

    /// Runs the search over a sorted set. `scan(range, visit)` must call `visit(member,
    /// score)` for each member with `range.min <= score < range.max`, in the set's order
    /// (score, then member), and stop as soon as `visit` returns false. `any_limit` is COUNT
    /// with ANY (0 for none): the search then stops once that many members were found, as
    /// Redis's does, so which members come back depends on the scan order.
    ///
    /// The results are in scan order; the caller sorts them (ASC/DESC, or ASC when COUNT is
    /// given without ANY; see [`sort_found`]), keeps the first COUNT, and divides `dist` by
    /// `conversion`.
    pub fn search<F>(&self, any_limit: usize, mut scan: F) -> Vec<Found>
    where
        F: FnMut(ScoreRange, &mut dyn FnMut(&[u8], f64) -> bool),
    {
        let mut found: Vec<Found> = Vec::new();
        for range in self.ranges() {
            if any_limit != 0 && found.len() >= any_limit {
                break;
            }
            let mut visit = |member: &[u8], score: f64| {
                if let Some((lon, lat, dist)) = self.contains(score) {
                    found.push(Found {
                        member: member.to_vec(),
                        score,
                        lon,
                        lat,
                        dist,
                    });
                }
                !(any_limit != 0 && found.len() >= any_limit)
            };
            scan(range, &mut visit);
        }
        found
    }
}

/// The score ranges `[min, max)` to scan for a radius search (BYRADIUS, GEORADIUS*) around
/// `(lon, lat)`: `radius` in the unit of size `conversion` metres. Same as
/// `Shape::radius(..).ranges()`.
pub fn areas_for_radius(lon: f64, lat: f64, radius: f64, conversion: f64) -> Vec<ScoreRange> {
    Shape::radius(lon, lat, radius, conversion).ranges()
}

/// The score ranges `[min, max)` to scan for a box search (BYBOX) centred on `(lon, lat)`:
/// `width` × `height` in the unit of size `conversion` metres.
pub fn areas_for_box(
    lon: f64,
    lat: f64,
    width: f64,
    height: f64,
    conversion: f64,
) -> Vec<ScoreRange> {
    Shape::rect(lon, lat, width, height, conversion).ranges()
}

/// Sorts search results by distance, ascending or descending. Redis uses `qsort` (or a
/// partial quicksort when COUNT cuts the list), which orders equal distances arbitrarily;
/// this sort is stable, keeping scan order among equal distances.
pub fn sort_found(found: &mut [Found], descending: bool) {
    if descending {
        found.sort_by(|a, b| b.dist.total_cmp(&a.dist));
    } else {
        found.sort_by(|a, b| a.dist.total_cmp(&b.dist));
    }
}

/// A distance as Redis replies it (WITHDIST, GEODIST): fixed point with four decimals,
/// rounded half to even after scaling by 10^4 (`fixedpoint_d2string`).
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let scaled = (d * 10_000.0).round_ties_even();
    // llrint gives LLONG_MIN when the result does not fit.
    let v: i64 = if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&scaled) {
        scaled as i64
    } else {
        i64::MIN
    };
    let mag = v.unsigned_abs();
    format!(
        "{}{}.{:04}",
        if v < 0 { "-" } else { "" },
        mag / 10_000,
        mag % 10_000
    )
}

/// A coordinate as Redis replies it (GEOPOS, WITHCOORD): `%.17Lf` of the value, trailing
/// zeros and a trailing dot removed, `-0` printed as `0`.
pub fn format_coord(c: f64) -> String {
    if c.is_infinite() {
        return if c > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if c.is_nan() {
        return "nan".to_string();
    }
    let mut s = format!("{c:.17}");
    let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
    s.truncate(trimmed);
    if s == "-0" {
        s = "0".to_string();
    }
    s
}
