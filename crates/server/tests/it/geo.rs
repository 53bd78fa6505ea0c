//! Geospatial commands (GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH, GEOSEARCHSTORE,
//! GEORADIUS, GEORADIUSBYMEMBER and the _RO forms): every reply and error compared byte for
//! byte with a real redis-server in RESP2 and RESP3, a seeded random differential of adds
//! and searches against it, keyspace events and `dirty` against it, WATCH, and AOF logging
//! (GEOADD as the ZADD it becomes) and replay.

use crate::aof_files::{aof_commands, start_aof};
use crate::redis_oracle;

use cinnabar_resp::Frame;
use cinnabar_testkit::{assert_watch_outcomes, err, int, temp_dir, text, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis_oracle::{assert_same_effects, oracle, Pair};

/// Commands covering every reply and error path, run in order on a fresh database.
const SCRIPT: &[&str] = &[
    // GEOADD: options, arity and coordinates.
    "GEOADD k",
    "GEOADD k 1 2",
    "GEOADD k 1 2 m 3",
    "GEOADD k nx xx 1 2 m",
    "GEOADD k NX XX",
    "GEOADD k ch ch ch",
    "GEOADD k ch",
    "GEOADD k foo 1 2 m",
    "GEOADD k ch xx foo 1 2 m",
    "GEOADD k 200 1 m",
    "GEOADD k 1 86 m",
    "GEOADD k 180.0000001 0 m",
    "GEOADD k 0 -85.05112879 m",
    "GEOADD k abc 1 m",
    "GEOADD k 1 abc m",
    "GEOADD k 1 2 m 200 1 m2",
    "GEOADD k inf 1 m",
    "GEOADD k -inf 1 m",
    "GEOADD k nan 1 m",
    "GEOADD k 1 -1e400 m",
    "EXISTS k",
    "GEOADD k xx 1 2 m",
    "EXISTS k",
    "GEOADD k -180 -85.05112878 sw 180 85.05112878 ne 0x10 1e1 hex 0 0 origin",
    "GEOADD k -0 -0 negzero 179.99999999 -85.05 edge",
    "ZRANGE k 0 -1 WITHSCORES",
    "GEOPOS k sw ne hex origin negzero edge missing",
    "GEOHASH k sw ne hex origin negzero edge missing",
    "GEODIST k sw ne",
    "GEODIST k sw ne km",
    "GEODIST k sw ne MI",
    "GEODIST k sw ne ft",
    "GEODIST k origin negzero",
    "GEODIST k origin origin m",
    "GEODIST k origin missing",
    "GEODIST k missing origin",
    "GEODIST k sw ne parsec",
    "GEODIST k sw ne km extra",
    "GEODIST nokey a b",
    "GEODIST nokey a b parsec",
    "GEOPOS nokey a b",
    "GEOHASH nokey a b",
    "GEOPOS k",
    "GEOHASH k",
    "GEORADIUS k 0 0 20000 km WITHCOORD WITHHASH WITHDIST",
    // The NYC set of Redis's own tests.
    "GEOADD nyc -73.9454966 40.747533 lic_market",
    "GEOADD nyc -73.9454966 40.747533 lic_market",
    "GEOADD nyc CH 40.747533 -73.9454966 lic_market",
    "GEOADD nyc NX -73.9454966 40.747533 lic_market",
    "GEOADD nyc XX -83.9454966 40.747533 lic_market",
    "GEOADD nyc CH NX -73.9454966 40.747533 lic_market",
    "GEOADD nyc CH XX -73.9454966 40.747533 lic_market",
    "GEOADD nyc -73.9733487 40.7648057 central_park -73.9903085 40.7362513 union_square -74.0131604 40.7126674 wtc_one -73.7858139 40.6428986 jfk -73.9375699 40.7498929 q4 -73.9564142 40.7480973 4545",
    "ZRANGE nyc 0 -1 WITHSCORES",
    "OBJECT ENCODING nyc",
    "GEORADIUS nyc -73.9798091 40.7598464 3 km asc",
    "GEORADIUS nyc -73.9798091 40.7598464 3 km desc",
    "GEORADIUS nyc -73.9798091 40.7598464 3 km",
    "GEORADIUS_RO nyc -73.9798091 40.7598464 3 km asc",
    "GEORADIUS nyc -73.9798091 40.7598464 3 km withdist asc",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 3",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 3 ANY",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 3 ANY ASC",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 3 ANY DESC",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 2 DESC",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 100",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 9223372036854775807 ANY",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km WITHCOORD WITHHASH COUNT 2",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km WITHHASH WITHCOORD WITHDIST COUNT 2",
    "GEORADIUS nyc -73.9798091 40.7598464 10000 ft WITHDIST",
    "GEORADIUS nyc -73.9798091 40.7598464 10 mi WITHDIST DESC",
    "GEORADIUS nyc -73.9798091 40.7598464 0 m",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km ANY",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 0",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT -1",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT abc",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km BOGUS",
    "GEORADIUS nyc -73.9798091 40.7598464 -1 km",
    "GEORADIUS nyc -73.9798091 40.7598464 abc km",
    "GEORADIUS nyc -73.9798091 40.7598464 nan km",
    "GEORADIUS nyc -73.9798091 40.7598464 10 parsec",
    "GEORADIUS nyc 200 40 10 km",
    "GEORADIUS nyc abc 40 10 km",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STORE",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STORE dst WITHDIST",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STOREDIST dst WITHHASH",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STORE dst WITHCOORDS",
    "GEORADIUS_RO nyc -73.9798091 40.7598464 10 km STORE dst",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km FROMLONLAT 1 1",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STORE dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "OBJECT ENCODING dst",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STOREDIST dst COUNT 2 DESC",
    "ZRANGE dst 0 -1",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STORE dst COUNT 1 ANY",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEORADIUS nyc 0 0 1 km STORE dst",
    "EXISTS dst",
    "GEORADIUS nokey 0 0 1 km STORE dst",
    "GEORADIUS nokey 0 0 1 km",
    "GEORADIUS nokey 0 0 -1 km",
    "GEORADIUSBYMEMBER nyc wtc_one 7 km",
    "GEORADIUSBYMEMBER nyc wtc_one 7 km withdist",
    "GEORADIUSBYMEMBER_RO nyc wtc_one 7 km WITHCOORD",
    "GEORADIUSBYMEMBER nyc missing 7 km",
    "GEORADIUSBYMEMBER nyc missing abc km",
    "GEORADIUSBYMEMBER nyc wtc_one abc km",
    "GEORADIUSBYMEMBER nyc wtc_one 7 parsec",
    "GEORADIUSBYMEMBER nyc wtc_one 7 km STORE dst2",
    "ZRANGE dst2 0 -1 WITHSCORES",
    "GEORADIUSBYMEMBER_RO nyc wtc_one 7 km STORE dst2",
    "GEORADIUSBYMEMBER nokey missing abc parsec",
    "GEORADIUSBYMEMBER nokey missing abc parsec STORE dst2",
    "EXISTS dst2",
    "GEORADIUSBYMEMBER nokey missing abc parsec BOGUS",
    "GEORADIUSBYMEMBER nokey missing 1 km ANY",
    // GEOSEARCH and GEOSEARCHSTORE.
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km ASC",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km WITHDIST ASC",
    "GEOSEARCH nyc FROMMEMBER wtc_one BYBOX 14 14 km",
    "GEOSEARCH nyc FROMMEMBER wtc_one BYRADIUS 7 km WITHCOORD WITHDIST WITHHASH",
    "GEOSEARCH nyc FROMMEMBER wtc_one BYBOX 14 2 km DESC COUNT 2",
    "GEOSEARCH nyc FROMMEMBER wtc_one FROMMEMBER q4 BYRADIUS 3 km",
    "GEOSEARCH nyc FROMLONLAT 0 0 FROMLONLAT -73.9798091 40.7598464 BYRADIUS 3 km",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYRADIUS 1 km BYRADIUS 3 km",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 1 1 km BYBOX 6 6 km",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 FROMMEMBER xxx BYBOX 6 6 km ASC",
    "GEOSEARCH nyc FROMMEMBER wtc_one FROMLONLAT 0 0 BYBOX 6 6 km ASC",
    "GEOSEARCH nyc BYBOX 3 3 km ASC DESC WITHHASH WITHDIST WITHCOORD",
    "GeoSearch nyc BYBOX 3 3 km",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 ASC",
    "geosearch nyc FROMLONLAT -73.9798091 40.7598464",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYRADIUS 3 km BYBOX 3 3 km",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 3 3 km BYRADIUS 3 km",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km STOREDIST",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km STORE dst",
    "GEOSEARCH nyc FROMMEMBER missing BYBOX 6 6 km",
    "GEOSEARCH nyc FROMMEMBER",
    "GEOSEARCH nyc FROMLONLAT 1",
    "GEOSEARCH nyc FROMLONLAT 1 200 BYRADIUS 1 km",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYRADIUS",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYRADIUS 1",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYRADIUS -1 km",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYRADIUS x km",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYRADIUS 1 lightyear",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYBOX 1 1",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYBOX x 1 km",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYBOX 1 x km",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYBOX -1 1 km",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYBOX 1 -1 km",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYBOX x -1 km",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYBOX 1 1 x",
    "GEOSEARCH nyc FROMLONLAT 1 2 BYBOX 0 0 m",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYRADIUS 10 km ANY",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYRADIUS 10 km COUNT 2 ANY WITHDIST",
    "GEOSEARCH nokey FROMMEMBER m BYRADIUS 1 km",
    "GEOSEARCH nokey FROMMEMBER m BYRADIUS -1 km",
    "GEOSEARCH nokey BYRADIUS 1 km",
    "GEOSEARCHSTORE dst nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEOSEARCHSTORE dst nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km STOREDIST",
    "ZRANGE dst 0 -1",
    "GEOSEARCHSTORE dst nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km STOREDIST COUNT 1",
    "ZCARD dst",
    "GEOSEARCHSTORE dst nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km WITHDIST",
    "GEOSEARCHSTORE dst nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km STORE dst",
    "GEOSEARCHSTORE dst nyc FROMLONLAT 0 0 BYRADIUS 1 m",
    "EXISTS dst",
    "GEOSEARCHSTORE dst nokey FROMMEMBER m BYRADIUS 1 km",
    "GeoSearchStore dst nokey BYRADIUS 1 km",
    "GEOSEARCHSTORE nyc2 nyc FROMMEMBER q4 BYRADIUS 100 km",
    "GEOSEARCHSTORE nyc2 nyc2 FROMMEMBER q4 BYRADIUS 5 km",
    "ZRANGE nyc2 0 -1 WITHSCORES",
    // Encodings: a long member makes a skiplist, and so does a stored result holding one.
    "GEOADD long 1 1 a_member_name_that_is_longer_than_sixty_four_bytes_so_no_listpack_fits",
    "OBJECT ENCODING long",
    "GEOADD long 1 1 short",
    "GEOSEARCHSTORE dst long FROMLONLAT 1 1 BYRADIUS 1 km",
    "OBJECT ENCODING dst",
    "CONFIG SET zset-max-listpack-entries 2",
    "GEOADD three 1 1 a 2 2 b 3 3 c",
    "OBJECT ENCODING three",
    "GEOSEARCHSTORE dst three FROMLONLAT 1 1 BYRADIUS 1 km",
    "OBJECT ENCODING dst",
    "GEOSEARCHSTORE dst three FROMLONLAT 1 1 BYRADIUS 1000 km",
    "OBJECT ENCODING dst",
    "CONFIG SET zset-max-listpack-entries 128",
    // Wrong types, as source and as destination.
    "SET str x",
    "GEOADD str 1 1 m",
    "GEOADD str 200 1 m",
    "GEOPOS str m",
    "GEOHASH str m",
    "GEODIST str a b",
    "GEODIST str a b parsec",
    "GEORADIUS str 0 0 1 km",
    "GEORADIUS str 0 0 1 km STORE dst",
    "GEORADIUS str 200 0 1 km",
    "GEORADIUSBYMEMBER str m 1 km",
    "GEOSEARCH str FROMLONLAT 0 0 BYRADIUS 1 km",
    "GEOSEARCHSTORE dst str FROMLONLAT 0 0 BYRADIUS 1 km",
    "GEORADIUS nyc -73.9798091 40.7598464 3 km STORE str",
    "TYPE str",
    "SET str2 x",
    "GEOSEARCHSTORE str2 nyc FROMLONLAT 0 0 BYRADIUS 1 km",
    "EXISTS str2",
    // Huge radii: neighbouring cells coincide; crossing the poles and the antimeridian.
    "GEOADD users -47.271613776683807 -54.534504198047678 user_000000",
    "GEORADIUS users 0 0 50000 km WITHCOORD",
    "GEOADD k1 45 65 n1 -135 85.05 n2",
    "GEORADIUSBYMEMBER k1 n1 5009431 m",
    "GEOADD k2 -0.15307903289794921875 85 n1 0.3515625 85.00019260486917005437 n2",
    "GEORADIUSBYMEMBER k2 n1 4891.94 m",
    "GEOADD k3 179.5 36 point1 -179.5 36 point2",
    "GEOSEARCH k3 FROMLONLAT 179 37 BYBOX 400 400 km ASC",
    "GEOSEARCH k3 FROMLONLAT -179 37 BYBOX 400 400 km ASC WITHDIST",
    "GEOADD k4 -122.407107 37.794300 1 -122.227336 37.794300 2",
    "GEORADIUS k4 -122.407107 37.794300 30 mi ASC WITHDIST",
    "GEOSEARCH k FROMLONLAT 0 0 BYRADIUS 30000 km WITHHASH",
    // Scores GEOADD never writes still decode (x86-64 conversion of the double).
    "ZADD weird -inf a inf b 1.5 c 9007199254740993 d -1 e 1e300 f 4503599627370496 g 0 h",
    "GEOPOS weird a b c d e f g h",
    "GEOHASH weird a b c d e f g h",
    "GEODIST weird a b",
    "GEODIST weird c h km",
    "GEODIST weird e f",
    "GEOSEARCH weird FROMMEMBER h BYRADIUS 30000 km WITHHASH WITHCOORD WITHDIST",
    "GEOSEARCH weird FROMMEMBER a BYBOX 40000 40000 km WITHHASH WITHCOORD WITHDIST",
    "GEORADIUSBYMEMBER weird g 100000 km WITHHASH",
    // Extreme sizes.
    "GEORADIUS k 15 37 inf km WITHDIST",
    "GEORADIUS k 15 37 1e308 km WITHDIST",
    "GEORADIUS k 15 37 1.7976931348623157e308 m WITHDIST",
    "GEOSEARCH k FROMLONLAT 15 37 BYBOX inf inf km WITHDIST",
    "GEOSEARCH k FROMLONLAT 15 37 BYBOX 1e308 1 km WITHDIST",
    "GEOSEARCH k FROMLONLAT 15 37 BYBOX 1 1e308 km WITHDIST",
    "GEOSEARCH k FROMLONLAT 0 0 BYRADIUS 4.9e-324 m",
    "GEORADIUS k -0 -0 20037 km WITHDIST",
    "GEOSEARCH k FROMMEMBER ne BYBOX 40000 40000 km WITHDIST",
    "GEOSEARCH k FROMLONLAT 180 85.05112878 BYBOX 10000 10000 km WITHCOORD",
    "GEOSEARCH k FROMLONLAT -180 -85.05112878 BYRADIUS 1 m WITHDIST WITHHASH",
];

#[test]
fn replies_match_redis_in_resp2_and_resp3() {
    let Some((srv, redis)) = oracle() else { return };
    for resp3 in [false, true] {
        let mut p = Pair::new(srv.addr(), redis.addr(), resp3);
        p.lines(SCRIPT);
        // A repeated STORE/STOREDIST writes the last destination (in whatever shard).
        for i in 0..20 {
            let (a, b) = (format!("first{i}"), format!("last{i}"));
            for line in [
                format!("GEORADIUS nyc -73.9798091 40.7598464 10 km STORE {a} STORE {b}"),
                format!("GEORADIUSBYMEMBER nyc q4 5 km STORE {a} STOREDIST {a} STORE {b}"),
                format!("GEORADIUS nyc 0 0 1 km STOREDIST {a} STORE {b}"),
                format!("EXISTS {a} {b}"),
                format!("GEORADIUSBYMEMBER nyc q4 5 km STOREDIST {a} STORE {b} COUNT 2"),
                format!("ZRANGE {b} 0 -1 WITHSCORES"),
            ] {
                p.line(&line);
            }
        }
        // Arguments that do not split on spaces, and arity errors.
        for args in [
            &[&b"GEOADD"[..], b"k", b" 1", b"2", b"m"][..],
            &[b"GEOADD", b"k", b"1", b"2", b"member with spaces"],
            &[b"GEOADD", b"k", b"1", b"2", b""],
            &[b"GEOPOS", b"k", b"member with spaces", b""],
            &[b"GEOADD"],
            &[b"GEODIST", b"k", b"a"],
            &[b"GEOHASH"],
            &[b"GEOPOS"],
            &[b"GEORADIUS", b"k", b"0", b"0", b"1"],
            &[b"GEORADIUSBYMEMBER", b"k", b"m", b"1"],
            &[b"GEOSEARCH", b"k", b"FROMLONLAT"],
            &[b"GEOSEARCH", b"k"],
            &[b"GEOSEARCHSTORE", b"d", b"k", b"BYBOX"],
            &[b"GEOSEARCHSTORE", b"d", b"k"],
            &[
                b"GEOSEARCH",
                b"k",
                b"FROMMEMBER",
                b"\x00m",
                b"BYRADIUS",
                b"1",
                b"km",
            ],
        ] {
            p.same(args);
        }
        p.assert_clean();
    }
}

/// Random points (clustered, global and on the edges of the ranges), added with random
/// options, and random searches of every form, compared reply by reply.
#[test]
fn random_adds_and_searches_match_redis() {
    let Some((srv, redis)) = oracle() else { return };
    let mut rng = StdRng::seed_from_u64(0x6E0_5EA7C4);
    let mut p = Pair::new(srv.addr(), redis.addr(), false);
    let centres: Vec<(f64, f64)> = (0..4)
        .map(|_| (rng.gen_range(-179.0..179.0), rng.gen_range(-80.0..80.0)))
        .collect();
    let point = |rng: &mut StdRng| -> (f64, f64) {
        match rng.gen_range(0..10) {
            0 => (rng.gen_range(-180.0..=180.0), rng.gen_range(-85.05..=85.05)),
            1 => (
                *[-180.0, 180.0, 0.0].get(rng.gen_range(0..3)).unwrap(),
                rng.gen_range(-85.05112878..=85.05112878),
            ),
            _ => {
                let (lon, lat) = centres[rng.gen_range(0..centres.len())];
                let lon: f64 = lon + rng.gen_range(-1.5..1.5);
                let lat: f64 = lat + rng.gen_range(-1.0..1.0);
                (lon.clamp(-180.0, 180.0), lat.clamp(-85.05, 85.05))
            }
        }
    };
    // Add ~1500 points in batches, some members moved or re-added with NX/XX/CH.
    for key in ["g", "small"] {
        let batches = if key == "g" { 60 } else { 8 };
        for _ in 0..batches {
            let mut args: Vec<String> = vec!["GEOADD".into(), key.into()];
            for opt in ["NX", "XX", "CH"] {
                if rng.gen_bool(0.15) {
                    args.push(opt.into());
                }
            }
            if args.contains(&"NX".to_string()) && args.contains(&"XX".to_string()) {
                args.retain(|a| a != "XX");
            }
            for _ in 0..rng.gen_range(1..40) {
                let (lon, lat) = point(&mut rng);
                args.push(format!("{lon}"));
                args.push(format!("{lat}"));
                args.push(format!("p{}", rng.gen_range(0..2000)));
            }
            let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            p.same(&a);
        }
    }
    p.line("ZRANGE g 0 -1 WITHSCORES");
    let mut nonempty = 0;
    for _ in 0..1200 {
        let key = if rng.gen_bool(0.8) { "g" } else { "small" };
        let member = format!("p{}", rng.gen_range(0..2000));
        let (lon, lat) = point(&mut rng);
        let unit = ["m", "km", "mi", "ft", "KM"][rng.gen_range(0..5)];
        let scale = match unit {
            "m" => 1000.0,
            "ft" => 3000.0,
            _ => 1.0,
        };
        let size = |rng: &mut StdRng| -> String {
            let km: f64 = match rng.gen_range(0..10) {
                0 => 0.0,
                1 => rng.gen_range(1000.0..20000.0),
                _ => rng.gen_range(1.0..300.0),
            };
            format!("{}", (km * scale * 1000.0).round() / 1000.0)
        };
        let mut args: Vec<String> = Vec::new();
        let store = rng.gen_range(0..6) == 0;
        match rng.gen_range(0..4) {
            0 => {
                let ro = !store && rng.gen_bool(0.5);
                args.push(if ro { "GEORADIUS_RO" } else { "GEORADIUS" }.into());
                args.extend([key.into(), format!("{lon}"), format!("{lat}")]);
                args.extend([size(&mut rng), unit.into()]);
            }
            1 => {
                let ro = !store && rng.gen_bool(0.5);
                args.push(
                    if ro {
                        "GEORADIUSBYMEMBER_RO"
                    } else {
                        "GEORADIUSBYMEMBER"
                    }
                    .into(),
                );
                args.extend([key.into(), member.clone(), size(&mut rng), unit.into()]);
            }
            _ => {
                if store {
                    args.extend(["GEOSEARCHSTORE".into(), "dst".into()]);
                } else {
                    args.push("GEOSEARCH".into());
                }
                args.push(key.into());
                if rng.gen_bool(0.5) {
                    args.extend(["FROMMEMBER".into(), member.clone()]);
                } else {
                    args.extend(["FROMLONLAT".into(), format!("{lon}"), format!("{lat}")]);
                }
                if rng.gen_bool(0.5) {
                    args.extend(["BYRADIUS".into(), size(&mut rng), unit.into()]);
                } else {
                    args.extend(["BYBOX".into(), size(&mut rng), size(&mut rng), unit.into()]);
                }
            }
        }
        let searchstore = args[0] == "GEOSEARCHSTORE";
        if !store {
            for w in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
                if rng.gen_bool(0.4) {
                    args.push(w.into());
                }
            }
        }
        match rng.gen_range(0..4) {
            0 => args.push("ASC".into()),
            1 => args.push("DESC".into()),
            _ => {}
        }
        if rng.gen_bool(0.4) {
            args.extend(["COUNT".into(), rng.gen_range(1..30).to_string()]);
            if rng.gen_bool(0.3) {
                args.push("ANY".into());
            }
        }
        let storedist = rng.gen_bool(0.5);
        if store && searchstore && storedist {
            args.push("STOREDIST".into());
        } else if store && !searchstore {
            args.extend([
                if storedist { "STOREDIST" } else { "STORE" }.into(),
                "dst".into(),
            ]);
        }
        if store {
            // An error (a missing member) leaves the destination alone: start empty.
            p.line("DEL dst");
        }
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let reply = p.same(&a);
        // A search that found something: `*N` with N > 0, or a store of N > 0.
        if (reply.starts_with(b"*") || reply.starts_with(b":"))
            && !reply.starts_with(b"*0\r")
            && !reply.starts_with(b":0\r")
        {
            nonempty += 1;
        }
        if store {
            // Distances as scores print differently in Redis 7.0 and 7.2 (ZRANGE uses
            // d2string): compare their order, and geohash scores exactly.
            if storedist {
                p.line("ZRANGE dst 0 -1");
            } else {
                p.line("ZRANGE dst 0 -1 WITHSCORES");
            }
        }
        let other = format!("p{}", rng.gen_range(0..2000));
        let g = [b"GEODIST".as_slice(), key.as_bytes(), member.as_bytes()];
        p.same(&[g[0], g[1], g[2], other.as_bytes(), unit.as_bytes()]);
        p.same(&[
            b"GEOPOS",
            key.as_bytes(),
            member.as_bytes(),
            other.as_bytes(),
        ]);
        p.same(&[
            b"GEOHASH",
            key.as_bytes(),
            member.as_bytes(),
            other.as_bytes(),
        ]);
        if p.mismatches.len() > 5 {
            break;
        }
    }
    p.line("OBJECT ENCODING g");
    p.line("OBJECT ENCODING small");
    p.assert_clean();
    assert!(nonempty > 400, "only {nonempty} searches found anything");
}

/// Effects as Redis raises them (and keyspace hits and misses as its lookups count them):
/// GEOADD as ZADD (`new`, then `zadd` only when a member was
/// added or moved, `dirty` = added + updated); the STORE forms as setKey (`new` when
/// created), `georadiusstore` / `geosearchstore`, one change per stored member; `del` and
/// one change when an empty result or a missing source deletes the destination.
#[test]
fn keyspace_events_and_dirty_match_redis() {
    let Some((srv, redis)) = oracle() else { return };
    let ours = assert_same_effects(
        srv.addr(),
        redis.addr(),
        &[
            "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "GEOADD g 13.361389 38.115556 Palermo",
            "GEOADD g XX 1 1 Palermo 2 2 nope",
            "GEOADD g NX 5 5 Palermo 3 3 x 3 3 x",
            "GEOADD g CH 5 5 Palermo 3 3 x",
            "GEOADD g 200 1 bad",
            "GEOADD nokey XX 1 1 a",
            "GEORADIUS g 15 37 2000 km STORE d",
            "GEORADIUS g 15 37 2000 km STOREDIST d COUNT 1",
            "GEORADIUSBYMEMBER g Catania 10 km STORE d",
            "GEOSEARCHSTORE d g FROMLONLAT 0 0 BYRADIUS 1 km",
            "GEOSEARCHSTORE d g FROMLONLAT 0 0 BYRADIUS 1 km",
            "GEOSEARCHSTORE d2 g FROMLONLAT 15 37 BYBOX 4000 4000 km STOREDIST",
            "GEORADIUS nokey 0 0 1 km STORE d2",
            "GEORADIUS nokey 0 0 1 km STORE d2",
            "GEOSEARCHSTORE d3 nokey FROMMEMBER m BYRADIUS 1 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 1000 km",
            "GEORADIUS g 15 37 1000 km",
            "GEORADIUS_RO g 15 37 1000 km",
            "GEOPOS g Palermo",
            "GEOPOS nokey Palermo",
            "GEODIST g Palermo Catania",
            "GEODIST nokey Palermo Catania",
            "GEODIST g Palermo Catania parsec",
            "GEOHASH g Palermo",
            "GEOHASH nokey Palermo",
            "GEORADIUSBYMEMBER_RO g Palermo 10 km",
            "GEORADIUSBYMEMBER_RO nokey Palermo 10 km",
            "SET s x",
            "GEORADIUS g 15 37 2000 km STORE s",
            "GEOSEARCHSTORE g g FROMMEMBER Catania BYRADIUS 1 km",
            "GEORADIUS g 15 37 1 km STORE s",
        ],
    );
    assert_eq!(
        ours[..4],
        [
            "2 0/0: new g, zadd g",
            "0 0/0: ",
            "1 0/0: zadd g",
            "1 0/0: zadd g"
        ]
    );
}

/// A GEOADD that changed nothing fails no WATCHer; one that moved a member does, and so
/// does a search storing into a watched key.
#[test]
fn watchers_see_real_changes_only() {
    let srv = TestServer::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    assert_eq!(a.cmd(&["GEOADD", "g", "1", "1", "m"]), int(1));
    assert_watch_outcomes(
        &mut a,
        &mut b,
        "g",
        &[
            (&["GEOADD", "g", "1", "1", "m"][..], false),
            (&["GEOADD", "g", "NX", "2", "2", "m"], false),
            (&["GEOADD", "g", "XX", "2", "2", "m"], true),
            (
                &["GEOSEARCH", "g", "FROMMEMBER", "m", "BYRADIUS", "1", "km"],
                false,
            ),
            (&["GEORADIUS", "g", "2", "2", "1", "km", "STORE", "g"], true),
            (
                &["GEORADIUS", "g", "50", "50", "1", "km", "STORE", "g"],
                true,
            ),
            (
                &["GEORADIUS", "g", "50", "50", "1", "km", "STORE", "g"],
                false,
            ),
        ],
    );
    assert_eq!(a.cmd(&["EXISTS", "g"]), int(0));
}

/// A client blocked on a sorted set is served by a GEOADD that creates it, and by a search
/// that stores into it.
#[test]
fn blocked_pops_are_served_by_geo_writes() {
    let srv = TestServer::start();
    let mut r = srv.raw();
    assert_eq!(
        r.cmd(&["GEOADD", "src", "13.361389", "38.115556", "Palermo"]),
        int(1)
    );
    let score = r.cmd(&["ZSCORE", "src", "Palermo"]);
    for (key, write) in [
        (
            "z1",
            &["GEOADD", "z1", "13.361389", "38.115556", "Palermo"][..],
        ),
        (
            "z2",
            &["GEORADIUS", "src", "13", "38", "100", "km", "STORE", "z2"],
        ),
        (
            "z3",
            &[
                "GEOSEARCHSTORE",
                "z3",
                "src",
                "FROMMEMBER",
                "Palermo",
                "BYBOX",
                "1",
                "1",
                "km",
            ],
        ),
    ] {
        let mut waiter = srv.raw();
        waiter.send(&[b"BZPOPMIN", key.as_bytes(), b"0"]);
        // Wait until the waiter is registered.
        r.wait_blocked(1);
        assert_eq!(r.cmd(write), int(1));
        assert_eq!(
            waiter.read(),
            Frame::Array(vec![
                Frame::Bulk(key.as_bytes().to_vec().into()),
                Frame::Bulk(b"Palermo".to_vec().into()),
                score.clone()
            ])
        );
        assert_eq!(r.cmd(&["EXISTS", key]), int(0));
    }
}

/// The plain errors, without a Redis to compare with.
#[test]
fn errors() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&["GEOADD", "g", "181", "1", "m"]),
        err("ERR invalid longitude,latitude pair 181.000000,1.000000")
    );
    assert_eq!(
        c.cmd(&["GEOADD", "g", "1", "85.06", "m"]),
        err("ERR invalid longitude,latitude pair 1.000000,85.060000")
    );
    assert_eq!(
        c.cmd(&[
            "GEOSEARCH",
            "g",
            "FROMLONLAT",
            "-190",
            "0",
            "BYRADIUS",
            "1",
            "km"
        ]),
        err("ERR invalid longitude,latitude pair -190.000000,0.000000")
    );
    assert_eq!(
        c.cmd(&["GEOADD", "g", "1", "1", "m", "2"]),
        err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["EXISTS", "g"]), int(0));
    assert_eq!(
        c.cmd(&["GEODIST", "g", "a", "b", "yd"]),
        err("ERR unsupported unit provided. please use M, KM, FT, MI")
    );
    assert_eq!(c.cmd(&["GEOADD", "g", "1", "1", "m"]), int(1));
    assert_eq!(
        c.cmd(&["GEORADIUSBYMEMBER", "g", "nope", "1", "km"]),
        err("ERR could not decode requested zset member")
    );
    assert_eq!(
        c.cmd(&["geosearch", "g", "BYRADIUS", "1", "km", "ASC", "WITHDIST"]),
        err("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch")
    );
}

// --- AOF ------------------------------------------------------------------------------------

/// GEOADD reaches the AOF as the ZADD it became (the scores as integers, the options as
/// given), no-ops not at all; the STORE forms as given. Replay rebuilds the same sets.
#[test]
fn aof_logs_geoadd_as_zadd_and_replays() {
    let dir = temp_dir("aof");
    let keys = ["g", "d", "d2", "s"];
    let describe = |r: &mut cinnabar_testkit::RawConn| -> Vec<String> {
        keys.iter()
            .map(|k| {
                let t = text(&r.cmd(&["TYPE", k]));
                let v = text(&r.cmd(&["ZRANGE", k, "0", "-1", "WITHSCORES"]));
                format!("{k} {t} {v}")
            })
            .collect()
    };
    let (before, palermo) = {
        let srv = start_aof(&dir);
        let mut r = srv.raw();
        assert_eq!(
            r.cmd(&["GEOADD", "g", "13.361389", "38.115556", "Palermo"]),
            int(1)
        );
        assert_eq!(
            r.cmd(&["GEOADD", "g", "13.361389", "38.115556", "Palermo"]),
            int(0)
        );
        assert_eq!(
            r.cmd(&[
                "GEOADD",
                "g",
                "xx",
                "CH",
                "15.087269",
                "37.502669",
                "Palermo",
                "1",
                "1",
                "x"
            ]),
            int(1)
        );
        assert_eq!(
            r.cmd(&[
                "GEOADD",
                "g",
                "13.361389",
                "38.115556",
                "Palermo",
                "12.758489",
                "38.788135",
                "edge1"
            ]),
            int(1)
        );
        assert_eq!(
            r.cmd(&["GEORADIUS", "g", "15", "37", "300", "km", "STORE", "d"]),
            int(2)
        );
        assert_eq!(
            r.cmd(&[
                "GEOSEARCHSTORE",
                "d2",
                "g",
                "FROMMEMBER",
                "edge1",
                "BYRADIUS",
                "500",
                "km",
                "STOREDIST"
            ]),
            int(2)
        );
        r.cmd(&["SET", "s", "x"]);
        assert_eq!(
            r.cmd(&[
                "GEOSEARCHSTORE",
                "s",
                "g",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km"
            ]),
            int(0)
        );
        assert!(matches!(
            r.cmd(&["GEORADIUS", "g", "15", "37", "200", "km"]),
            Frame::Array(_)
        ));
        let palermo = text(&r.cmd(&["ZSCORE", "g", "Palermo"]));
        (describe(&mut r), palermo)
    };
    let log: Vec<Vec<String>> = aof_commands(&dir)
        .into_iter()
        .filter(|c| !c[0].eq_ignore_ascii_case("select"))
        .collect();
    let firsts: Vec<&str> = log.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(
        firsts,
        [
            "zadd",
            "zadd",
            "zadd",
            "GEORADIUS",
            "GEOSEARCHSTORE",
            "SET",
            "GEOSEARCHSTORE"
        ],
        "{log:?}"
    );
    assert_eq!(log[0], ["zadd", "g", &palermo, "Palermo"]);
    assert_eq!(log[1][..4], ["zadd", "g", "xx", "CH"]);
    assert_eq!(log[1].len(), 8);
    let srv = start_aof(&dir);
    let mut r = srv.raw();
    assert_eq!(describe(&mut r), before);
}
