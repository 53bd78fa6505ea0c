#!/usr/bin/env python3
"""Prints Rust `(expression, expected)` test tuples recorded from a real Redis.

Usage: gen_redis_cases.py PORT CASES_FILE
CASES_FILE has one Lua expression per line ('#' starts a comment). Each expression is run as
`EVAL "<src/test_harness.lua> <expression> end))" 0` against the Redis on 127.0.0.1:PORT, and the
harness's one-line rendering of its results (or `ERR <message>`) becomes the expected string.
The tests run the same harness on our Lua, so both sides are compared byte for byte.
Start a throwaway server for this (`redis-server --port PORT --save ''`): some cases change the
generator state of math.random, which persists in the server.
"""
import os
import subprocess
import sys

port, cases = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
harness = open(os.path.join(here, '..', 'src', 'test_harness.lua')).read().strip()


def rust_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


for line in open(cases):
    expr = line.rstrip('\n')
    if not expr.strip() or expr.startswith('#'):
        continue
    script = harness + ' ' + expr + ' end))'
    out = subprocess.run(['redis-cli', '-h', '127.0.0.1', '-p', port, '--raw', 'eval', script, '0'],
                         capture_output=True).stdout.decode('latin1').rstrip('\n')
    print('        (' + rust_str(expr) + ', ' + rust_str(out) + '),')
