//! cjson tests. The expected strings of `REDIS_CASES` were produced by running each expression
//! through `testutil::HARNESS` on a real Redis 7.0 (`redis-cli EVAL`).

use crate::testutil::{check_cases, eval, eval_bytes, lua};
use proptest::prelude::*;

const REDIS_CASES: &[(&str, &str)] = &[
        ("cjson.encode({1,2,3,{a=1}})", "\"[1,2,3,{\"a\":1}]\""),
        ("cjson.encode({[1]=1,[12]=2})", "ERR user_script:1: Cannot serialise table: excessively sparse array"),
        ("cjson.encode({[1]=1,[11]=2})", "ERR user_script:1: Cannot serialise table: excessively sparse array"),
        ("cjson.encode({[1]=1,[10]=2})", "\"[1,null,null,null,null,null,null,null,null,2]\""),
        ("cjson.encode({[1]=1,[3]=2})", "\"[1,null,2]\""),
        ("cjson.encode({[1]=1,[2]=2,[3]=3,[4]=4,[5]=5,[6]=6,[13]=7})", "\"[1,2,3,4,5,6,null,null,null,null,null,null,7]\""),
        ("cjson.encode(\"a/b\\\"c\\\\d\\1\\127\\r\\n\\t\\b\\f\\11\\200\\255\")", "\"\"a\\/b\\\"c\\\\d\\u0001\\u007f\\r\\n\\t\\b\\f\\u000b\\200\\255\"\""),
        ("cjson.encode(0.1)", "\"0.1\""),
        ("cjson.encode(1/3)", "\"0.33333333333333\""),
        ("cjson.encode(1e300)", "\"1e+300\""),
        ("cjson.encode(-0)", "\"-0\""),
        ("cjson.encode(123456789012345)", "\"1.2345678901234e+14\""),
        ("cjson.encode(12345678901234)", "\"12345678901234\""),
        ("cjson.encode(0.00001)", "\"1e-05\""),
        ("cjson.encode(-1.5e-7)", "\"-1.5e-07\""),
        ("cjson.encode(2^53)", "\"9.007199254741e+15\""),
        ("cjson.encode({[2^40]=1})", "\"{\"1099511627776\":1}\""),
        ("cjson.encode({[1.5]=1})", "\"{\"1.5\":1}\""),
        ("cjson.encode({[-1]=1})", "\"{\"-1\":1}\""),
        ("cjson.encode({[0]=1})", "\"{\"0\":1}\""),
        ("cjson.encode({[1]='a', x='b'})", "\"{\"1\":\"a\",\"x\":\"b\"}\""),
        ("cjson.encode({})", "\"{}\""),
        ("cjson.encode({{}, {{}}})", "\"[{},[{}]]\""),
        ("cjson.encode(cjson.null)", "\"null\""),
        ("cjson.encode({cjson.null, true, false})", "\"[null,true,false]\""),
        ("cjson.encode(nil)", "\"null\""),
        ("cjson.encode('')", "\"\"\"\""),
        ("cjson.encode(0/0)", "ERR user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("cjson.encode(1/0)", "ERR user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("cjson.encode(-1/0)", "ERR user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("cjson.encode({[true]=1})", "ERR user_script:1: Cannot serialise boolean: table key must be a number or string"),
        ("cjson.encode({a=function() end})", "ERR user_script:1: Cannot serialise function: type not supported"),
        ("cjson.encode(coroutine.create(function() end))", "ERR user_script:1: Cannot serialise thread: type not supported"),
        ("cjson.encode()", "ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)"),
        ("cjson.encode(1, 2)", "ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)"),
        ("cjson.encode({[1/0]=1})", "ERR user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("cjson.encode({'x', [1.5]='y'})", "\"{\"1\":\"x\",\"1.5\":\"y\"}\""),
        ("cjson.encode_sparse_array()", "false 2 10"),
        ("cjson.encode_max_depth()", "1000"),
        ("cjson.decode_max_depth()", "1000"),
        ("cjson.encode_number_precision()", "14"),
        ("cjson.encode_keep_buffer()", "true"),
        ("cjson.encode_invalid_numbers()", "false"),
        ("cjson.decode_invalid_numbers()", "true"),
        ("cjson.new().encode_sparse_array(true, 0, 3)", "true 0 3"),
        ("cjson.new().encode_sparse_array('off', 5)", "false 5 10"),
        ("cjson.new().encode_sparse_array('on')", "true 2 10"),
        ("cjson.new().encode_sparse_array('bad')", "ERR user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option 'bad')"),
        ("cjson.new().encode_sparse_array(1)", "ERR user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option '1')"),
        ("cjson.new().encode_sparse_array(nil, -1)", "ERR user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"),
        ("cjson.new().encode_sparse_array(nil, nil, 'x')", "ERR user_script:1: bad argument #3 to 'encode_sparse_array' (number expected, got string)"),
        ("cjson.new().encode_sparse_array(1, 2, 3, 4)", "ERR user_script:1: bad argument #4 to 'encode_sparse_array' (found too many arguments)"),
        ("cjson.new().encode_max_depth(0)", "ERR user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"),
        ("cjson.new().encode_max_depth(1, 2)", "ERR user_script:1: bad argument #2 to 'encode_max_depth' (found too many arguments)"),
        ("cjson.new().encode_max_depth(3.7)", "3"),
        ("cjson.new().decode_max_depth('12')", "12"),
        ("cjson.new().encode_number_precision(15)", "ERR user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"),
        ("cjson.new().encode_number_precision('5')", "5"),
        ("cjson.new().encode_invalid_numbers('null')", "\"null\""),
        ("cjson.new().encode_invalid_numbers(true)", "true"),
        ("cjson.new().encode_invalid_numbers(false)", "false"),
        ("cjson.new().encode_invalid_numbers('nope')", "ERR user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option 'nope')"),
        ("cjson.new().encode_keep_buffer('off')", "false"),
        ("cjson.new().decode_invalid_numbers(false)", "false"),
        ("cjson._NAME, cjson._VERSION, cjson.null, cjson.new()._NAME", "\"cjson\" \"2.1.0\" null \"cjson\""),
        ("(function() local c = cjson.new() c.encode_sparse_array(true) return c.encode({[1]=1,[20]=2}) end)()", "\"{\"1\":1,\"20\":2}\""),
        ("(function() local c = cjson.new() c.encode_sparse_array(false, 0) return c.encode({[1]=1,[20]=2}) end)()", "\"[1,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,2]\""),
        ("(function() local c = cjson.new() c.encode_sparse_array(false, 1, 0) return c.encode({[1]=1,[3]=2}) end)()", "ERR user_script:1: Cannot serialise table: excessively sparse array"),
        ("(function() local c = cjson.new() c.encode_number_precision(3) return c.encode({3.14159, 1234567, 0.5}) end)()", "\"[3.14,1.23e+06,0.5]\""),
        ("(function() local c = cjson.new() c.encode_invalid_numbers(true) return c.encode({0/0, 1/0, -1/0}) end)()", "\"[nan,inf,-inf]\""),
        ("(function() local c = cjson.new() c.encode_invalid_numbers('null') return c.encode({0/0, 1/0, -1/0}) end)()", "\"[null,null,null]\""),
        ("(function() local c = cjson.new() c.encode_max_depth(2) return c.encode({{1}}) end)()", "\"[[1]]\""),
        ("(function() local c = cjson.new() c.encode_max_depth(2) return c.encode({{{1}}}) end)()", "ERR user_script:1: Cannot serialise, excessive nesting (3)"),
        ("(function() local c = cjson.new() c.decode_max_depth(2) return c.decode('[[1]]') end)()", "{1={1=1}}"),
        ("(function() local c = cjson.new() c.decode_max_depth(2) return c.decode('[[[1]]]') end)()", "ERR user_script:1: Found too many nested data structures (3) at character 3"),
        ("(function() local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('[1]') end)()", "{1=1}"),
        ("(function() local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('0x10') end)()", "ERR user_script:1: Expected value but found invalid number at character 1"),
        ("(function() local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('[+1]') end)()", "ERR user_script:1: Expected value but found invalid token at character 2"),
        ("(function() local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('nan') end)()", "ERR user_script:1: Expected value but found invalid token at character 1"),
        ("(function() local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('-Inf') end)()", "ERR user_script:1: Expected value but found invalid number at character 1"),
        ("(function() local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('007') end)()", "ERR user_script:1: Expected value but found invalid number at character 1"),
        ("(function() local t = {} t[1] = t return pcall(cjson.encode, t) end)()", "false \"Cannot serialise, excessive nesting (1001)\""),
        ("(function() local a = {} for i = 1, 1001 do a = {a} end return pcall(cjson.encode, a) end)()", "false \"Cannot serialise, excessive nesting (1001)\""),
        ("(function() local a = {} for i = 1, 999 do a = {a} end return #cjson.encode(a) end)()", "2000"),
        ("cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]')", "{1=0,2=-5000,3=-1,4=0.0003,5=1023.2,6=0}"),
        ("table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')", "\"0 -5000 -1 0.0003 1023.2 0\""),
        ("cjson.decode('{\"keya\": \"a\", \"keyb\": \"b\"}')", "{\"keya\"=\"a\",\"keyb\"=\"b\"}"),
        ("cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}')", "{\"a\"={1=1,2=2,3={\"b\"=null}},\"c\"=true,\"d\"=false}"),
        ("cjson.decode('{\"a\":1,\"a\":2}')", "{\"a\"=2}"),
        ("cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t\\\\\"\\\\\\\\\"')", "\"\\195\\169\\240\\159\\152\\128/\\8\\12\\10\\13\\9\"\\\""),
        ("cjson.decode('\"\\\\u0000\\\\u007f\\\\u0080\\\\u07ff\\\\u0800\\\\uffff\"')", "\"\\0\\127\\194\\128\\223\\191\\224\\160\\128\\239\\191\\191\""),
        ("cjson.decode('\"\\\\uDBFF\\\\uDFFF\"')", "\"\\244\\143\\191\\191\""),
        ("cjson.decode('0x10')", "16"),
        ("cjson.decode('[+1, 007, -0x1p4]')", "{1=1,2=7,3=-16}"),
        ("cjson.decode('[inf, -Infinity, nan]')", "{1=inf,2=-inf,3=nan}"),
        ("cjson.decode('  123  ')", "123"),
        ("cjson.decode(' \\t\\r\\n[ 1 , 2 ] \\n')", "{1=1,2=2}"),
        ("cjson.decode(42)", "42"),
        ("cjson.decode('1e400')", "inf"),
        ("cjson.decode('-0')", "-0"),
        ("cjson.decode('[1.5e+2,2E-2]')", "{1=150,2=0.02}"),
        ("cjson.decode('123456789012345678901234567890')", "1.2345678901235e+29"),
        ("cjson.decode('0.1e')", "ERR user_script:1: Expected the end but found invalid token at character 4"),
        ("cjson.decode('[1, 2')", "ERR user_script:1: Expected comma or array end but found T_END at character 6"),
        ("cjson.decode('[1 2]')", "ERR user_script:1: Expected comma or array end but found T_NUMBER at character 4"),
        ("cjson.decode('{\"a\" 1}')", "ERR user_script:1: Expected colon but found T_NUMBER at character 6"),
        ("cjson.decode('{1:2}')", "ERR user_script:1: Expected object key string but found T_NUMBER at character 2"),
        ("cjson.decode('{\"a\":1,}')", "ERR user_script:1: Expected object key string but found T_OBJ_END at character 8"),
        ("cjson.decode('{\"a\":1 \"b\":2}')", "ERR user_script:1: Expected comma or object end but found T_STRING at character 8"),
        ("cjson.decode('[1,]')", "ERR user_script:1: Expected value but found T_ARR_END at character 4"),
        ("cjson.decode('')", "ERR user_script:1: Expected value but found T_END at character 1"),
        ("cjson.decode('   ')", "ERR user_script:1: Expected value but found T_END at character 4"),
        ("cjson.decode('[] x')", "ERR user_script:1: Expected the end but found invalid token at character 4"),
        ("cjson.decode('\"abc')", "ERR user_script:1: Expected value but found unexpected end of string at character 5"),
        ("cjson.decode('\"\\\\x\"')", "ERR user_script:1: Expected value but found invalid escape code at character 2"),
        ("cjson.decode('\"\\\\u12\"')", "ERR user_script:1: Expected value but found invalid unicode escape code at character 2"),
        ("cjson.decode('\"\\\\u12g4\"')", "ERR user_script:1: Expected value but found invalid unicode escape code at character 2"),
        ("cjson.decode('\"\\\\udc00\"')", "ERR user_script:1: Expected value but found invalid unicode escape code at character 2"),
        ("cjson.decode('\"\\\\ud800x\"')", "ERR user_script:1: Expected value but found invalid unicode escape code at character 2"),
        ("cjson.decode('\"\\\\ud800\\\\u0041\"')", "ERR user_script:1: Expected value but found invalid unicode escape code at character 2"),
        ("cjson.decode('tru')", "ERR user_script:1: Expected value but found invalid token at character 1"),
        ("cjson.decode('nul')", "ERR user_script:1: Expected value but found invalid token at character 1"),
        ("cjson.decode('falsey')", "ERR user_script:1: Expected the end but found invalid token at character 6"),
        ("cjson.decode('-')", "ERR user_script:1: Expected value but found invalid number at character 1"),
        ("cjson.decode('-x')", "ERR user_script:1: Expected value but found invalid number at character 1"),
        ("cjson.decode('+')", "ERR user_script:1: Expected value but found invalid number at character 1"),
        ("cjson.decode('.5')", "ERR user_script:1: Expected value but found invalid token at character 1"),
        ("cjson.decode('a\\0b')", "ERR user_script:1: JSON parser does not support UTF-16 or UTF-32"),
        ("cjson.decode('1\\0b')", "ERR user_script:1: JSON parser does not support UTF-16 or UTF-32"),
        ("cjson.decode('1\\0')", "ERR user_script:1: JSON parser does not support UTF-16 or UTF-32"),
        ("cjson.decode('[1e]')", "ERR user_script:1: Expected comma or array end but found invalid token at character 3"),
        ("cjson.decode()", "ERR user_script:1: bad argument #1 to 'decode' (expected 1 argument)"),
        ("cjson.decode({})", "ERR user_script:1: bad argument #1 to 'decode' (string expected, got table)"),
        ("cjson.decode('[1]', 2)", "ERR user_script:1: bad argument #1 to 'decode' (expected 1 argument)"),
        ("cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001))", "ERR user_script:1: Found too many nested data structures (1001) at character 1001"),
        ("cjson.decode('{\"a\":' .. string.rep('[', 1000) .. string.rep(']', 1000) .. '}')", "ERR user_script:1: Found too many nested data structures (1001) at character 1005"),
        ("cjson.decode('\"a\\0b\"')", "ERR user_script:1: Expected value but found unexpected end of string at character 3"),
        ("cjson.decode('nan')", "nan"),
        ("cjson.decode('-nan')", "-nan"),
        ("cjson.decode('Infinity')", "inf"),
        ("cjson.decode('NaN')", "nan"),
        ("cjson.decode('inferior')", "ERR user_script:1: Expected the end but found invalid token at character 4"),
        ("cjson.decode('\"\\\\u0000\"')", "\"\\0\""),
        ("cjson.decode('\"\\1\\2\\31\"')", "\"\\1\\2\\31\""),
        ("cjson.decode('{\"\":1}')", "{\"\"=1}"),
        ("cjson.decode('[[],{}]')", "{1={},2={}}"),
        ("cjson.decode('{\"a\":{}}').a", "{}"),
        ("cjson.decode('[null]')[1] == cjson.null", "true"),
        ("cjson.decode(cjson.encode({a={1,2,{b='x/y'}}, c='\\0'}))", "{\"a\"={1=1,2=2,3={\"b\"=\"x/y\"}},\"c\"=\"\\0\"}"),
];

#[test]
fn matches_redis() {
    check_cases(&lua(), REDIS_CASES);
}

/// Redis's own "EVAL - JSON smoke test" and the decoding tests of scripting.tcl.
#[test]
fn redis_suite() {
    let l = lua();
    let s = eval_bytes(
        &l,
        "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')",
    );
    assert_eq!(s, b"0 -5000 -1 0.0003 1023.2 0");
    let v: Vec<String> = eval(
        &l,
        "local decoded = cjson.decode('{\"keya\": \"a\", \"keyb\": \"b\"}')
         return {decoded.keya, decoded.keyb}",
    );
    assert_eq!(v, ["a", "b"]);
    let ok: bool = eval(
        &l,
        r#"
        local some_map = {s1="Some string", n1=100, a1={"Some","String","Array"}, nil1=nil,
                          b1=true, b2=false}
        local encoded = cjson.encode(some_map)
        local decoded = cjson.decode(encoded)
        assert(table.concat(some_map) == table.concat(decoded))
        cjson.encode_keep_buffer(false)
        encoded = cjson.encode(some_map)
        decoded = cjson.decode(encoded)
        assert(table.concat(some_map) == table.concat(decoded))
        local table1 = {one="one", [1]="one"}
        encoded = cjson.encode(table1)
        decoded = cjson.decode(encoded)
        assert(decoded["one"] == table1["one"])
        assert(decoded["1"] == table1[1])
        local array1 = {[1]="one", [2]="two"}
        encoded = cjson.encode(array1)
        decoded = cjson.decode(encoded)
        assert(table.concat(array1) == table.concat(decoded))
        local invalid_map = {}
        invalid_map[false] = "false"
        local ok, encoded = pcall(cjson.encode, invalid_map)
        assert(ok == false)
        cjson.encode_max_depth(1)
        ok, encoded = pcall(cjson.encode, some_map)
        assert(ok == false)
        cjson.decode_max_depth(1)
        ok, decoded = pcall(cjson.decode, '{"obj": {"array": [1,2,3,4]}}')
        assert(ok == false)
        ok, encoded = pcall(cjson.encode, {num1=0/0})
        assert(ok == false)
        cjson.encode_invalid_numbers(true)
        ok, encoded = pcall(cjson.encode, {num1=0/0})
        assert(ok == true)
        cjson.decode_max_depth(1000)
        cjson.encode_max_depth(1000)
        cjson.encode_invalid_numbers(false)
        return true
        "#,
    );
    assert!(ok);
}

/// Deep nesting is bounded by Lua's C stack limit like in C, without recursion in Rust.
#[test]
fn deep_nesting_with_raised_limits() {
    let l = lua();
    let e: String = eval(
        &l,
        "cjson.decode_max_depth(100000)
         local ok, e = pcall(cjson.decode, string.rep('[', 50000) .. string.rep(']', 50000))
         return e",
    );
    assert!(
        e.starts_with("Found too many nested data structures (7999)"),
        "{e}"
    );
    let e: String = eval(
        &l,
        "cjson.encode_max_depth(100000)
         local a = {} for i = 1, 50000 do a = {a} end
         local ok, e = pcall(cjson.encode, a) return e",
    );
    assert_eq!(e, "Cannot serialise, excessive nesting (7998)");
    // Objects hold a key too, so they stop at half the depth (values from Redis 7.0).
    let e: String = eval(
        &l,
        "local ok, e = pcall(cjson.decode, string.rep('{\"a\":', 50000) .. string.rep('}', 50000))
         return e",
    );
    assert_eq!(
        e,
        "Found too many nested data structures (4000) at character 19996"
    );
    let e: String = eval(
        &l,
        "local a = {} for i = 1, 50000 do a = {x=a} end
         local ok, e = pcall(cjson.encode, a) return e",
    );
    assert_eq!(e, "Cannot serialise, excessive nesting (4000)");
}

/// Big flat tables (like Redis's cmsgpack smoke test sizes) encode and decode.
#[test]
fn large_tables() {
    let l = lua();
    let n: i64 = eval(
        &l,
        "local m = {} for i = 1, 100000 do m[tostring(i)] = i end
         local a = {} for i = 1, 100000 do a[i] = 'v' .. i end
         local dm = cjson.decode(cjson.encode(m))
         local da = cjson.decode(cjson.encode(a))
         local c = 0 for k, v in pairs(dm) do assert(tostring(v) == k) c = c + 1 end
         assert(#da == 100000 and da[77777] == 'v77777')
         return c",
    );
    assert_eq!(n, 100000);
}

/// A JSON value generated for round trips: what cjson decodes and re-encodes unchanged.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        (-1_000_000i64..1_000_000).prop_map(|n| n.to_string()),
        "[a-zA-Z0-9 ]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::btree_map("[a-z]{1,6}", inner, 1..2).prop_map(|m| format!(
                "{{{}}}",
                m.into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// decode then encode gives the input back (arrays, single-key objects, scalars).
    #[test]
    fn decode_encode_round_trip(text in json_value()) {
        let l = lua();
        l.globals().set("input", text.as_str()).unwrap();
        let out = eval_bytes(&l, "return cjson.encode(cjson.decode(input))");
        prop_assert_eq!(String::from_utf8_lossy(&out), text);
    }

    /// Any byte string survives encode then decode.
    #[test]
    fn string_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let l = lua();
        l.globals().set("input", l.create_string(&bytes).unwrap()).unwrap();
        let ok: bool = eval(&l, "return cjson.decode(cjson.encode(input)) == input");
        prop_assert!(ok);
    }

    /// Numbers survive with 14 significant digits, as `%.14g` then `strtod` gives.
    #[test]
    fn number_round_trip(n in any::<f64>().prop_filter("finite", |n| n.is_finite())) {
        let l = lua();
        l.globals().set("input", n).unwrap();
        let ok: bool = eval(
            &l,
            "return cjson.decode(cjson.encode(input)) == tonumber(string.format('%.14g', input))",
        );
        prop_assert!(ok);
    }
}
