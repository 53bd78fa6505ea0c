//! cmsgpack tests. The expected strings of `REDIS_CASES` were produced by running each
//! expression through `testutil::HARNESS` on a real Redis 7.0 (`redis-cli EVAL`); `H` is the
//! harness's hex dump of a string.

use crate::testutil::{check_cases, eval, eval_bytes, lua};
use proptest::prelude::*;

const REDIS_CASES: &[(&str, &str)] = &[
        ("H(cmsgpack.pack(0.1))", "\"cb3fb999999999999a\""),
        ("H(cmsgpack.pack(-1099511627776))", "\"d3ffffff0000000000\""),
        ("H(cmsgpack.pack(0, 1, 127, 128, 255, 256, 65535, 65536, 2^32-1, 2^32, 2^53))", "\"00017fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000cf0020000000000000\""),
        ("H(cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31-1, -2^63))", "\"ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffffd38000000000000000\""),
        ("H(cmsgpack.pack(2^63, 2^64, -2^64, 1.5, -0.0, 1/0, -1/0, 3.4e38, 1e39, 0.3))", "\"ca5f000000ca5f800000cadf800000ca3fc0000000caff800000ca7f800000cb47eff933c78cdfadcb48078287f49c4a1dcb3fd3333333333333\""),
        ("H(cmsgpack.pack(0/0))", "\"cbfff8000000000000\""),
        ("H(cmsgpack.pack(nil, true, false, tostring, coroutine.create(function() end), cjson.null))", "\"c0c3c2c0c0c0\""),
        ("H(cmsgpack.pack('', 'abc', string.rep('x', 31), string.rep('x', 32)))", "\"a0a3616263bf78787878787878787878787878787878787878787878787878787878787878d9207878787878787878787878787878787878787878787878787878787878787878\""),
        ("H(cmsgpack.pack(string.rep('x', 255))):sub(1, 8)", "\"d9ff7878\""),
        ("H(cmsgpack.pack(string.rep('x', 256))):sub(1, 8)", "\"da010078\""),
        ("H(cmsgpack.pack(string.rep('x', 65535))):sub(1, 8)", "\"daffff78\""),
        ("H(cmsgpack.pack(string.rep('x', 65536))):sub(1, 12)", "\"db0001000078\""),
        ("H(cmsgpack.pack({}))", "\"90\""),
        ("H(cmsgpack.pack({1, 2, 3}))", "\"93010203\""),
        ("H(cmsgpack.pack({1, 2, nil, 4}))", "\"83010102020404\""),
        ("H(cmsgpack.pack({[1]=1, [3]=3}))", "\"8201010303\""),
        ("H(cmsgpack.pack({[0]=1}))", "\"810001\""),
        ("H(cmsgpack.pack({[1.5]=1}))", "\"81ca3fc0000001\""),
        ("H(cmsgpack.pack({[2^31]=1}))", "\"81ce8000000001\""),
        ("H(cmsgpack.pack({[2^31-1]=1}))", "\"81ce7fffffff01\""),
        ("H(cmsgpack.pack({a=1}))", "\"81a16101\""),
        ("H(cmsgpack.pack({[true]=false}))", "\"81c3c2\""),
        ("H(cmsgpack.pack({'a', x='y'}))", "\"8201a161a178a179\""),
        ("H(cmsgpack.pack({{{{}}}}))", "\"91919190\""),
        ("H(cmsgpack.pack({1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16}))", "\"dc00100102030405060708090a0b0c0d0e0f10\""),
        ("(function() local t = {} for i = 1, 70000 do t[i] = true end return H(cmsgpack.pack(t)):sub(1, 12) end)()", "\"dd00011170c3\""),
        ("(function() local t = {} for i = 1, 70000 do t['k' .. i] = true end return H(cmsgpack.pack(t)):sub(1, 12) end)()", "\"df00011170a6\""),
        ("(function() local t = {} for i = 1, 16 do t['k' .. i] = true end return H(cmsgpack.pack(t)):sub(1, 8) end)()", "\"de0010a3\""),
        ("(function() local a = {x=nil,y=5} local b = {x=a} a['x'] = b return H(cmsgpack.pack(a)) end)()", "\"82a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a178c0\""),
        ("(function() local a = {} a[1] = a return H(cmsgpack.pack(a)) end)()", "\"91919191919191919191919191919191c0\""),
        ("H(cmsgpack.pack(setmetatable({}, {__index = function(t, k) return 7 end})))", "\"90\""),
        ("cmsgpack.pack()", "ERR user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"),
        ("cmsgpack.unpack(cmsgpack.pack(1, 'a', {2, 3}, {k='v'}, true, false, 0.5, -7))", "1 \"a\" {1=2,2=3} {\"k\"=\"v\"} true false 0.5 -7"),
        ("cmsgpack.unpack('')", ""),
        ("cmsgpack.unpack('\\192\\192\\1')", "nil nil 1"),
        ("cmsgpack.unpack('\\204\\255\\205\\1\\0\\206\\0\\1\\0\\0\\207\\0\\0\\1\\0\\0\\0\\0\\0')", "255 256 65536 1099511627776"),
        ("cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')", "-1"),
        ("cmsgpack.unpack('\\207\\128\\0\\0\\0\\0\\0\\0\\0')", "-9.2233720368548e+18"),
        ("cmsgpack.unpack('\\208\\128\\209\\128\\0\\210\\128\\0\\0\\0\\211\\128\\0\\0\\0\\0\\0\\0\\0\\211\\255\\255\\255\\255\\255\\255\\255\\254')", "-128 -32768 -2147483648 -9.2233720368548e+18 -2"),
        ("cmsgpack.unpack('\\202\\63\\128\\0\\0\\203\\63\\240\\0\\0\\0\\0\\0\\0\\202\\127\\192\\0\\0')", "1 1 nan"),
        ("cmsgpack.unpack('\\217\\3abc\\218\\0\\2de\\219\\0\\0\\0\\1f\\163xyz')", "\"abc\" \"de\" \"f\" \"xyz\""),
        ("cmsgpack.unpack('\\220\\0\\2\\1\\2\\221\\0\\0\\0\\1\\3\\222\\0\\1\\1\\2\\223\\0\\0\\0\\1\\3\\4')", "{1=1,2=2} {1=3} {1=2} {3=4}"),
        ("cmsgpack.unpack('\\146\\145\\144\\129\\161a\\128')", "{1={1={}},2={\"a\"={}}}"),
        ("cmsgpack.unpack('\\255\\224\\127')", "-1 -32 127"),
        ("cmsgpack.unpack('\\193')", "ERR user_script:1: Bad data format in input."),
        ("cmsgpack.unpack('\\196\\1a')", "ERR user_script:1: Bad data format in input."),
        ("cmsgpack.unpack('\\212\\1\\2')", "ERR user_script:1: Bad data format in input."),
        ("cmsgpack.unpack('\\205\\1')", "ERR user_script:1: Missing bytes in input."),
        ("cmsgpack.unpack('\\163ab')", "ERR user_script:1: Missing bytes in input."),
        ("cmsgpack.unpack('\\147\\1\\2')", "ERR user_script:1: Missing bytes in input."),
        ("cmsgpack.unpack('\\130\\1')", "ERR user_script:1: Missing bytes in input."),
        ("cmsgpack.unpack('\\129\\192\\1')", "ERR table index is nil"),
        ("cmsgpack.unpack('\\129\\203\\127\\248\\0\\0\\0\\0\\0\\0\\1')", "ERR table index is NaN"),
        ("cmsgpack.unpack('\\145\\192')", "{}"),
        ("cmsgpack.unpack('\\146\\192\\1')", "{2=1}"),
        ("cmsgpack.unpack('\\129\\1\\192')", "{}"),
        ("cmsgpack.unpack()", "ERR user_script:1: bad argument #1 to 'unpack' (string expected, got no value)"),
        ("cmsgpack.unpack({})", "ERR user_script:1: bad argument #1 to 'unpack' (string expected, got table)"),
        ("cmsgpack.unpack(12)", "49 50"),
        ("cmsgpack.unpack('\\1', 'ignored')", "1"),
        ("cmsgpack.unpack_one('\\1\\2\\3')", "1 1"),
        ("cmsgpack.unpack_one('\\1\\2\\3', 1)", "2 2"),
        ("cmsgpack.unpack_one('\\1\\2\\3', 2)", "-1 3"),
        ("cmsgpack.unpack_one('\\1\\2\\3', 3)", "-1"),
        ("cmsgpack.unpack_one('\\1\\2\\3', 4)", "ERR user_script:1: Start offset 4 greater than input length 3."),
        ("cmsgpack.unpack_one('\\1\\2\\3', -1)", "ERR user_script:1: Invalid request to unpack with offset of -1 and limit of 3."),
        ("cmsgpack.unpack_one('\\1\\2\\3', 'x')", "ERR user_script:1: bad argument #2 to 'unpack_one' (number expected, got string)"),
        ("cmsgpack.unpack_one('')", "-1"),
        ("cmsgpack.unpack_one('\\1\\2\\3', 0, 'extra')", "1 1"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 2)", "2 1 2"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 2, 1)", "-1 2 3"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 0)", "1 2 3"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 0, 1)", "1"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 5, 1)", "-1 2 3"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', -1)", "ERR user_script:1: Invalid request to unpack with offset of 0 and limit of 3."),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 1, -5)", "ERR user_script:1: Invalid request to unpack with offset of -5 and limit of 3."),
        ("cmsgpack.unpack_limit('\\1\\2\\3')", "ERR user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 1.9)", "1 1"),
        ("cmsgpack.unpack_limit('\\1\\2\\205', 5)", "ERR user_script:1: Missing bytes in input."),
        ("cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION", "\"cmsgpack\" \"lua-cmsgpack 0.4.0\" \"Copyright (C) 2012, Salvatore Sanfilippo\" \"MessagePack C implementation for Lua\""),
        ("select('#', cmsgpack.unpack(string.rep('\\1', 7990)))", "7990"),
        ("select('#', cmsgpack.unpack(string.rep('\\1', 7999)))", "7999"),
        ("select('#', cmsgpack.unpack(string.rep('\\1', 8000)))", "ERR user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"),
        ("select('#', cmsgpack.unpack(string.rep('\\161a', 7998)))", "7998"),
        ("select('#', cmsgpack.unpack_limit(string.rep('\\1', 8000), 7998))", "7999"),
        ("select('#', cmsgpack.unpack_limit(string.rep('\\1', 8000), 7999))", "ERR user_script:1: stack overflow (in function mp_unpack_full)"),
        ("select('#', cmsgpack.unpack(string.rep('\\145', 3998) .. '\\1'))", "1"),
        ("select('#', cmsgpack.unpack(string.rep('\\145', 3999) .. '\\1'))", "1"),
        ("select('#', cmsgpack.unpack(string.rep('\\145', 50000) .. '\\1'))", "ERR user_script:1: stack overflow (in function mp_decode_to_lua_array)"),
        ("select('#', cmsgpack.unpack(string.rep('\\129\\1', 3998) .. '\\1'))", "1"),
        ("select('#', cmsgpack.unpack(string.rep('\\129\\1', 3999) .. '\\1'))", "1"),
        ("select('#', cmsgpack.unpack(string.rep('\\129\\1', 5000) .. '\\1'))", "ERR user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"),
];

#[test]
fn matches_redis() {
    check_cases(&lua(), REDIS_CASES);
}

/// Redis's own cmsgpack tests from scripting.tcl.
#[test]
fn redis_suite() {
    let l = lua();
    let hex = "local function hex(encoded) local h = '' for i = 1, #encoded do \
               h = h .. string.format('%02x', string.byte(encoded, i)) end return h end ";
    assert_eq!(
        eval_bytes(&l, &format!("{hex} return hex(cmsgpack.pack(0.1))")),
        b"cb3fb999999999999a"
    );
    assert_eq!(
        eval_bytes(
            &l,
            &format!("{hex} return hex(cmsgpack.pack(-1099511627776))")
        ),
        b"d3ffffff0000000000"
    );
    let ok: bool = eval(
        &l,
        r#"
        local str_lt_32 = string.rep("x", 30)
        local str_lt_255 = string.rep("x", 250)
        local str_lt_65535 = string.rep("x", 65530)
        local str_long = string.rep("x", 100000)
        local array_lt_15 = {1, 2, 3, 4, 5}
        local array_lt_65535 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
        local array_big = {}
        for i=1, 100000 do array_big[i] = i end
        local map_lt_15 = {a=1, b=2}
        local map_big = {}
        for i=1, 100000 do map_big[tostring(i)] = i end
        local some_map = {
            s1=str_lt_32, s2=str_lt_255, s3=str_lt_65535, s4=str_long,
            d1=0.1, i1=1, i2=250, i3=65530, i4=100000, i5=2^40, i6=-1, i7=-120, i8=-32000,
            i9=-100000, i10=-3147483648, a1=array_lt_15, a2=array_lt_65535, a3=array_big,
            m1=map_lt_15, m2=map_big, b1=false, b2=true, n=nil
        }
        local encoded = cmsgpack.pack(some_map)
        local decoded = cmsgpack.unpack(encoded)
        assert(table.concat(some_map) == table.concat(decoded))
        local offset, decoded_one = cmsgpack.unpack_one(encoded, 0)
        assert(table.concat(some_map) == table.concat(decoded_one))
        assert(offset == -1)
        assert(decoded.m2["77777"] == 77777 and decoded.a3[99999] == 99999)
        assert(decoded.s4 == str_long and decoded.i10 == -3147483648 and decoded.i5 == 2^40)

        local encoded_multiple = cmsgpack.pack(str_lt_32, str_lt_255, str_lt_65535, str_long)
        local offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, 0)
        assert(obj == str_lt_32)
        offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
        assert(obj == str_lt_255)
        offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
        assert(obj == str_lt_65535)
        offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
        assert(obj == str_long)
        assert(offset == -1)
        return true
        "#,
    );
    assert!(ok);
    let v: Vec<mlua::Value> = eval(
        &l,
        r#"
        local a = {x=nil,y=5}
        local b = {x=a}
        a['x'] = b
        local encoded = cmsgpack.pack(a)
        local re = cmsgpack.unpack(encoded)
        assert(re)
        assert(re.x)
        assert(re.x.x.y == re.y)
        assert(re.x.x.x.x.y == re.y)
        assert(re.x.x.x.x.x.x.y == re.y)
        assert(re.x.x.x.x.x.x.x.x.x.x.y == re.y)
        assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.y == re.y)
        assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x)
        assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x == nil)
        return {re.x.x.x.x.x.x.x.x.y == re.y, re.y == 5}
        "#,
    );
    assert!(matches!(
        v[..],
        [mlua::Value::Boolean(true), mlua::Value::Boolean(true)]
    ));
}

/// A Lua literal for a value cmsgpack round-trips exactly: integers, exact floats, strings,
/// booleans, arrays and string-keyed maps, nested under the 16-level limit.
fn lua_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("true".to_string()),
        Just("false".to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(|n| n.to_string()),
        (-1000i32..1000).prop_map(|n| format!("{}.5", n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{:e}", f)),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| {
            format!(
                "'{}'",
                b.iter().map(|c| format!("\\{c}")).collect::<String>()
            )
        }),
    ];
    leaf.prop_recursive(5, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("{{{}}}", v.join(","))),
            prop::collection::btree_map("[a-z]{1,5}", inner, 1..5).prop_map(|m| format!(
                "{{{}}}",
                m.into_iter()
                    .map(|(k, v)| format!("[\"{k}\"]={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// pack then unpack gives an equal value, and packing that again gives as many bytes (map
    /// order may differ between the two tables).
    #[test]
    fn round_trip(v in lua_value()) {
        let l = lua();
        let code = format!(
            "local function eq(a, b)
               if type(a) ~= type(b) then return false end
               if type(a) ~= 'table' then return a == b end
               for k, x in pairs(a) do if not eq(x, b[k]) then return false end end
               for k in pairs(b) do if a[k] == nil then return false end end
               return true
             end
             local v = {v}
             local p = cmsgpack.pack(v)
             local u = cmsgpack.unpack(p)
             return eq(v, u) and #cmsgpack.pack(u) == #p"
        );
        let ok: bool = eval(&l, &code);
        prop_assert!(ok, "{}", v);
    }
}
