//! DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis's order-independent SHA1 digest of the
//! dataset (debug.c's computeDatasetDigest / xorObjectDigest), which test suites use to
//! check that a replica, or a reloaded dataset, holds exactly what the primary holds.

use cinnabar_engine::entry::ValueRef;
use cinnabar_engine::types::set::Member;
use cinnabar_engine::types::stream::StreamId;
use cinnabar_engine::{Entry, Object, Result};

use crate::dispatch::Ctx;

type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

fn xor(d: &mut Digest, data: &[u8]) {
    let h = sha1(data);
    for (a, b) in d.iter_mut().zip(h) {
        *a ^= b;
    }
}

fn mix(d: &mut Digest, data: &[u8]) {
    xor(d, data);
    *d = sha1(&d[..]);
}

fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value part of an entry's digest (its type, content and whether it expires).
fn value_digest(d: &mut Digest, e: &Entry) {
    let ty: u32 = match e.value() {
        ValueRef::Str(_) | ValueRef::Int(_) | ValueRef::Obj(Object::Str(_)) => 0,
        ValueRef::Obj(Object::List(_)) => 1,
        ValueRef::Obj(Object::Set(_)) => 2,
        ValueRef::Obj(Object::ZSet(_)) => 3,
        ValueRef::Obj(Object::Hash(_)) => 4,
        ValueRef::Obj(Object::Stream(_)) => 6,
    };
    mix(d, &ty.to_be_bytes());
    match e.value() {
        ValueRef::Str(s) => mix(d, s),
        ValueRef::Int(n) => mix(d, itoa::Buffer::new().format(n).as_bytes()),
        ValueRef::Obj(o) => match o {
            Object::Str(s) => mix(d, s),
            Object::List(l) => {
                for x in l.iter() {
                    mix(d, x);
                }
            }
            Object::Set(s) => {
                for m in s.iter() {
                    match m {
                        Member::Str(b) => xor(d, b),
                        Member::Int(n) => xor(d, itoa::Buffer::new().format(n).as_bytes()),
                    }
                }
            }
            Object::ZSet(z) => {
                for (m, score) in z.to_vec() {
                    let mut el = [0u8; 20];
                    mix(&mut el, &m);
                    mix(
                        &mut el,
                        cinnabar_engine::num::double_to_string(score).as_bytes(),
                    );
                    xor(d, &el);
                }
            }
            Object::Hash(h) => h.for_each(|f, v| {
                let mut el = [0u8; 20];
                mix(&mut el, f);
                mix(&mut el, v);
                xor(d, &el);
            }),
            Object::Stream(s) => {
                for entry in s.range(StreamId::MIN, StreamId::MAX) {
                    mix(d, format!("{}.{}", entry.id.ms, entry.id.seq).as_bytes());
                    for (f, v) in entry.fields() {
                        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
                        mix(d, f.as_bytes(&mut a));
                        mix(d, v.as_bytes(&mut b));
                    }
                }
            }
        },
    }
    if e.expire().is_some() {
        xor(d, b"!!expire!!");
    }
}

/// DEBUG DIGEST: 40 hex digits, all zeros for an empty dataset. Like Redis it covers every
/// key held, logically expired or not (a replica holds those until the primary's DEL).
pub fn dataset(ctx: &mut Ctx) -> Result<()> {
    let ks = &ctx.server.keyspace;
    let mut fin = [0u8; 20];
    let mut locked = ks.lock_all();
    let shards: Vec<_> = locked.shards().map(|s| &*s).collect();
    for db in 0..ks.databases() {
        let mut any = false;
        for s in &shards {
            for e in s.dbs[db].table.iter() {
                if !any {
                    mix(&mut fin, &(db as u32).to_be_bytes());
                    any = true;
                }
                let mut d = [0u8; 20];
                mix(&mut d, e.key());
                value_digest(&mut d, e);
                xor(&mut fin, &d);
            }
        }
    }
    drop(shards);
    drop(locked);
    ctx.out.simple(hex(&fin).as_bytes());
    Ok(())
}

/// DEBUG DIGEST-VALUE key...: each key's value digest (zeros for a missing key).
pub fn values(ctx: &mut Ctx) -> Result<()> {
    let ks = &ctx.server.keyspace;
    let db = ctx.client.db;
    let keys = &ctx.args[2..];
    ctx.out.array(keys.len());
    for k in keys {
        let mut d = [0u8; 20];
        {
            let mut shard = ks.lock_shard(ks.shard_of_key(k));
            let h = cinnabar_engine::hash_key(k);
            let dbr = shard.db(db);
            if let Some(slot) = dbr.find_raw(h, k) {
                value_digest(&mut d, dbr.entry(slot));
            }
        }
        ctx.out.simple(hex(&d).as_bytes());
    }
    Ok(())
}

/// DEBUG OBJECT key: Redis's one-line description; like Redis it finds a key whose deadline
/// has passed but which is still held (a replica's, until its primary's DEL).
pub fn debug_object(ctx: &mut Ctx) -> Result<()> {
    let ks = &ctx.server.keyspace;
    let key = ctx.arg(2);
    let line = {
        let mut shard = ks.lock_shard(ks.shard_of_key(key));
        let dbr = shard.db(ctx.client.db);
        let Some(slot) = dbr.find_raw(cinnabar_engine::hash_key(key), key) else {
            return Err(cinnabar_engine::Error::NoSuchKey);
        };
        let e = dbr.entry(slot);
        let enc = match e.value() {
            ValueRef::Int(_) => "int",
            ValueRef::Str(s) if s.len() <= 44 => "embstr",
            ValueRef::Str(_) => "raw",
            ValueRef::Obj(o) => o.encoding(),
        };
        let mut buf = Vec::new();
        cinnabar_engine::rdb::put_entry(
            &mut buf,
            e,
            &crate::persist::save_opts(ctx.server),
            i64::MIN,
        );
        // Redis's lru field: under LRU the last access on a seconds clock of 24 bits (from
        // the 100 ms stamp, so it does not move while the key is not touched), under LFU the
        // raw bits; and the idle time in seconds.
        let (bits, now) = (e.clock(), ctx.now);
        let idle_ms = dbr.access.idle_ms(bits, now);
        let lru = if dbr.access.is_lfu() {
            u64::from(bits)
        } else {
            ((now / 100) as u64).saturating_sub(idle_ms / 100) / 10 % (1 << 24)
        };
        format!(
            "Value at:0x{:x} refcount:1 encoding:{enc} serializedlength:{} lru:{lru} lru_seconds_idle:{}",
            e as *const Entry as usize,
            buf.len().saturating_sub(key.len() + 2),
            idle_ms / 1000
        )
    };
    ctx.out.simple(line.as_bytes());
    Ok(())
}
