//! Corner cases across the libraries: argument-count and stack-slot limits, C conversions at
//! the edges of their ranges. Expected strings come from running each expression through
//! `testutil::HARNESS` on a real Redis 7.0.

use crate::testutil::{check_cases, lua};

const REDIS_CASES: &[(&str, &str)] = &[
        ("(function() local t = {} for i = 1, 5000 do t[i] = i end return #cmsgpack.pack(unpack(t)) end)()", "ERR user_script:1: bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)"),
        ("(function() local t = {} for i = 1, 3999 do t[i] = i end return #cmsgpack.pack(unpack(t)) end)()", "11615"),
        ("(function() local t = {} for i = 1, 4000 do t[i] = i end return #cmsgpack.pack(unpack(t)) end)()", "11618"),
        ("(function() local t = {} for i = 1, 4001 do t[i] = i end return #cmsgpack.pack(unpack(t)) end)()", "ERR user_script:1: bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)"),
        ("select('#', struct.unpack(string.rep('b', 7990), string.rep('\\1', 7990)))", "7991"),
        ("select('#', struct.unpack(string.rep('b', 7997), string.rep('\\1', 7997)))", "7998"),
        ("select('#', struct.unpack(string.rep('b', 7998), string.rep('\\1', 7998)))", "ERR user_script:1: stack overflow (too many results)"),
        ("select('#', struct.unpack(string.rep('c1', 3000), string.rep('a', 3000)))", "3001"),
        ("(function() local t = {} for i = 1, 7000 do t[i] = 1 end return bit.bor(unpack(t)) end)()", "1"),
        ("struct.pack('>i', 1, 2, 3)", "\"\\0\\0\\0\\1\""),
        ("cjson.encode(setmetatable({}, {__index = function() return 1 end}))", "\"{}\""),
        ("cjson.encode(setmetatable({1,2}, {__len = function() return 5 end}))", "\"[1,2]\""),
        ("bit.tohex(-1, -2^31)", "\"FFFFFFFF\""),
        ("bit.tohex(1, 2^31)", "\"00000001\""),
        ("bit.tobit(2^53)", "0"),
        ("bit.tobit(-0.5)", "0"),
        ("bit.tobit(0.5)", "0"),
        ("bit.tobit(1/0)", "0"),
        ("bit.tobit(0/0)", "0"),
        ("bit.band()", "ERR user_script:1: bad argument #1 to 'band' (number expected, got no value)"),
        ("bit.tohex()", "ERR user_script:1: bad argument #1 to 'tohex' (number expected, got no value)"),
        ("struct.unpack('i', 'abcd', 2^53)", "ERR user_script:1: bad argument #2 to 'unpack' (data string too short)"),
        ("struct.unpack('c0', 'abc', 1)", "ERR user_script:1: format 'c0' needs a previous size"),
        ("struct.unpack('b', 'a', '1')", "97 2"),
        ("struct.unpack('b', 'a', 'x')", "ERR user_script:1: bad argument #3 to 'unpack' (number expected, got string)"),
        ("struct.pack('s', 'a\\0b')", "\"a\\0b\\0\""),
        ("struct.unpack('>I8', '\\255\\255\\255\\255\\255\\255\\255\\255')", "1.844674407371e+19 9"),
        ("struct.unpack('>i8', '\\127\\255\\255\\255\\255\\255\\255\\255')", "9.2233720368548e+18 9"),
        ("struct.pack('<I8', 2^64 - 2048)", "\"\\0\\248\\255\\255\\255\\255\\255\\255\""),
        ("struct.size('!16 b d')", "16"),
        ("struct.size('!1 b d')", "9"),
        ("struct.size('! b i')", "8"),
        ("struct.pack('! b i', 1, 2)", "\"\\1\\0\\0\\0\\2\\0\\0\\0\""),
        ("struct.size('i0')", "0"),
        ("struct.pack('i0', 5)", "\"\""),
        ("struct.unpack('i0', '')", "0 1"),
        ("math.random(2^31)", "ERR user_script:1: bad argument #1 to 'random' (interval is empty)"),
        ("math.random(-2^31, 2^31-1)", "-2147483648"),
        ("math.randomseed(2^40) or math.random()", "0.17082803611217"),
        ("math.randomseed('12') or math.random()", "0.6204557403086"),
        ("(function() math.randomseed(5) return math.random(3.7), math.random('4'), math.random(10, 20.9), math.random() end)()", "2 2 18 0.19806924238711"),
        ("cjson:encode(1)", "ERR user_script:1: calling 'encode' on bad self (expected 1 argument)"),
        ("cjson:encode()", "ERR user_script:1: Cannot serialise function: type not supported"),
        ("struct:pack('b')", "ERR user_script:1: calling 'pack' on bad self (string expected, got table)"),
        ("bit:band(1)", "ERR user_script:1: calling 'band' on bad self (number expected, got table)"),
        ("cmsgpack:unpack_one()", "ERR user_script:1: calling 'unpack_one' on bad self (string expected, got table)"),
        ("(function() local f = cjson.decode return f('[') end)()", "ERR user_script:1: Expected value but found T_END at character 2"),
        ("(function() local t = {f = struct.size} return t.f('s') end)()", "ERR user_script:1: bad argument #1 to 'f' (option 's' has no fixed size)"),
        ("cjson.encode({[2^31]=1})", "\"{\"2147483648\":1}\""),
        ("cjson.encode({[2^32+1]=1, [1]=2})", "\"[2]\""),
        ("cjson.encode({[1]=2, [2^32+1]=1})", "\"{\"1\":2,\"4294967297\":1}\""),
        ("cjson.encode({[1]=2, [-2^31]=1})", "\"{\"1\":2,\"-2147483648\":1}\""),
        ("cjson.encode({[3]=1, [2]=1, [1]=1})", "\"[1,1,1]\""),
        ("cjson.encode({1, 2, [4]=4, x=nil})", "\"[1,2,null,4]\""),
        ("cjson.encode({[1]=1, [2]=2, ['3']=3})", "\"{\"1\":1,\"2\":2,\"3\":3}\""),
        ("cjson.encode({[1e300]=1})", "\"{\"1e+300\":1}\""),
        ("cmsgpack.pack({[2^31]=1, [1]=2})", "\"\\130\\206\\128\\0\\0\\0\\1\\1\\2\""),
        ("H(cmsgpack.pack({[2^32+1]=1}))", "\"81cf000000010000000101\""),
        ("H(cmsgpack.pack({1, 2, [3.0]=3}))", "\"93010203\""),
        ("H(cmsgpack.pack({[1]=1, [2]=2, [2^31 - 1]=3}))", "\"8301010202ce7fffffff03\""),
        ("coroutine.wrap(function() return cjson.encode({1, {a=2}}), cjson.decode('[1,{\"b\":[]}]') end)()", "\"[1,{\"a\":2}]\" {1=1,2={\"b\"={}}}"),
        ("coroutine.wrap(function() return cmsgpack.unpack(cmsgpack.pack({1, 2}, 'x')) end)()", "{1=1,2=2} \"x\""),
        ("coroutine.wrap(function() return struct.unpack('bb', '\\1\\2') end)()", "1 2 3"),
        ("coroutine.wrap(function() local ok, e = pcall(cjson.decode, '[') return ok, e end)()", "false \"Expected value but found T_END at character 2\""),
        ("coroutine.wrap(function() return cjson.decode('[') end)()", "ERR user_script:1: user_script:1: Expected value but found T_END at character 2"),
];

#[test]
fn matches_redis() {
    check_cases(&lua(), REDIS_CASES);
}

/// Errors carry the line of the call, like `luaL_error` (Redis: "user_script:3: ...").
#[test]
fn error_position_is_the_callers_line() {
    let l = lua();
    let e = crate::testutil::eval_err(&l, "local x = 1\n\nreturn cjson.decode('[')");
    assert_eq!(
        e,
        "user_script:3: Expected value but found T_END at character 2"
    );
}

/// Rough cost per call, for comparison with the same loops run by `EVAL` on Redis:
/// `cargo test -p cinnabar-lualibs --release timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing() {
    let l = lua();
    let pre = "local x = {a=1,b='hello',c={1,2,3,4,5},d={e=true,f=0.5}} \
               local s = cjson.encode(x) local m = cmsgpack.pack(x) for i=1,200000 do";
    for op in [
        "local _ = i",
        "cjson.encode(1)",
        "cjson.encode('abc')",
        "cjson.encode({})",
        "cjson.encode({1,2,3,4,5})",
        "cjson.encode({a=1})",
        "cjson.encode(x)",
        "cjson.decode(s)",
        "cmsgpack.pack(x)",
        "cmsgpack.unpack(m)",
        "bit.band(i, 255)",
        "struct.pack('>iH', i, 7)",
        "math.random(100)",
    ] {
        let start = std::time::Instant::now();
        l.load(format!("{pre} {op} end")).exec().unwrap();
        println!("{op}: {:?} for 200000 calls", start.elapsed());
    }
}
