-- JSON in the client (src/gcp/json.c, src/gcp/json_lua.c): what API
-- answers decode to, what request bodies encode to, and malformed input.
describe("gcp JSON", function()
  local dec, enc = gcp.json_decode, gcp.json_encode

  it("keeps integers as integers and strings as strings", function()
    local v = dec('{"sizeGb":"100","progress":100,"ratio":0.5,"neg":-7}')
    assert.equal("100", v.sizeGb)
    assert.equal("integer", math.type(v.progress))
    assert.equal(100, v.progress)
    assert.equal(0.5, v.ratio)
    assert.equal(-7, v.neg)
  end)

  it("keeps integers beyond int64 exact, as strings of their digits", function()
    assert.equal("123456789012345678901", dec("[123456789012345678901]")[1])
    assert.equal("-9223372036854775809", dec("[-9223372036854775809]")[1])
    assert.equal(math.maxinteger, dec("[9223372036854775807]")[1])
    assert.equal(9007199254740993, dec("[9007199254740993]")[1])
  end)

  it("rejects numbers that would be infinite, and keeps the whole of every key", function()
    for _, bad in ipairs {"1e400", "[-1E400]", "[1.5e99999]"} do
      local ok, err = pcall(dec, bad)
      assert.is_false(ok, bad)
      assert.matches("number out of range", err.message)
    end
    local v = dec('{"a":1,"a\\u0000b":2,"c":1,"c":3,"d":1,"d":null}')
    assert.equal(1, v.a)
    assert.equal(2, v["a\0b"])
    assert.equal(3, v.c)
    assert.is_nil(v.d)
  end)

  it("drops null members and keeps null elements as gcp.null", function()
    local v = dec('{"a":null,"b":[1,null,2]}')
    assert.is_nil(v.a)
    assert.equal(3, #v.b)
    assert.equal(gcp.null, v.b[2])
  end)

  it("decodes escapes and surrogate pairs to UTF-8", function()
    assert.equal("é😀\n\"/", dec('"\\u00e9\\ud83d\\ude00\\n\\"\\/"'))
  end)

  it("round-trips empty arrays as arrays and empty objects as objects", function()
    local v = dec('{"users":[],"labels":{}}')
    assert.equal('[]', enc(v.users))
    assert.equal('{}', enc(v.labels))
    assert.equal('[]', enc(gcp.array()))
    assert.equal('{}', enc({}))
  end)

  it("encodes sequences as arrays, escapes strings, keeps integers exact", function()
    assert.equal('[1,2,3]', enc({1, 2, 3}))
    assert.equal('"a\\"b\\\\c\\n\\u0001"', enc('a"b\\c\n\1'))
    assert.equal('9007199254740993', enc(9007199254740993))
    assert.equal('true', enc(true))
    local round = dec(enc({name = "d", sizeGb = "10", labels = {env = "prod"}}))
    assert.same({name = "d", sizeGb = "10", labels = {env = "prod"}}, round)
  end)

  it("refuses what JSON cannot say", function()
    for _, bad in ipairs {{1, x = 2}, {[3] = 1}, function() end, 0/0, math.huge} do
      local ok, err = pcall(enc, bad)
      assert.is_false(ok)
      assert.equal("invalidArgument", err.reason)
    end
    local cyc = {}
    cyc.self = cyc
    local ok, err = pcall(enc, cyc)
    assert.is_false(ok)
    assert.matches("nested too deeply", err.message)
  end)

  it("rejects malformed JSON with the byte offset", function()
    for _, bad in ipairs {"", "{", "[1,]", "{'a':1}", '{"a" 1}', "nul", '"abc', "[1] x",
                          '"\\ud800"', "01x", "\"a\tb\""} do
      local ok, err = pcall(dec, bad)
      assert.is_false(ok, bad)
      assert.is_true(pd.is_error(err))
      assert.equal("malformedResponse", err.reason)
      assert.matches("malformed JSON at byte %d+", err.message)
    end
  end)

  it("refuses nesting deep enough to hurt, without crashing", function()
    local deep = string.rep("[", 100000) .. string.rep("]", 100000)
    local ok, err = pcall(dec, deep)
    assert.is_false(ok)
    assert.matches("nested too deeply", err.message)
    assert.same({{{}}}, dec("[[[]]]"))
  end)
end)
