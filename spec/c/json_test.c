/*
 * json_test.c — src/core/json.c and src/core/json_lua.c: conformance cases
 * in the manner of JSONTestSuite (y_: must accept, n_: must reject, i_:
 * the RFC leaves it open, the answer is ours, documented in json.h and
 * docs/gcp.md), every accepted case round-tripped through Lua, and the Lua
 * values of the choices (NUL in keys, big integers, duplicates, ...).
 */
#include "check.h"
#include "../fuzz/json_roundtrip.h"

#include <lualib.h>
#include <stdlib.h>

typedef struct {
    const char *name;
    const char *text;
    size_t len;
    int accept;
} jcase;

#define Y(name, text) {"y_" name, text, sizeof(text) - 1, 1}
#define N(name, text) {"n_" name, text, sizeof(text) - 1, 0}
#define I(name, text, accept) {"i_" name, text, sizeof(text) - 1, accept}

static const jcase cases[] = {
    Y("array_empty", "[]"),
    Y("array_empty-string", "[\"\"]"),
    Y("array_arraysWithSpaces", "[[]   ]"),
    Y("array_false", "[false]"),
    Y("array_heterogeneous", "[null, 1, \"1\", {}]"),
    Y("array_null", "[null]"),
    Y("array_with_leading_space", " [1]"),
    Y("array_with_trailing_space", "[2] "),
    Y("array_with_several_null", "[1,null,null,null,2]"),
    Y("number", "[123e65]"),
    Y("number_0e+1", "[0e+1]"),
    Y("number_0e1", "[0e1]"),
    Y("number_after_space", "[ 4]"),
    Y("number_double_close_to_zero", "[-0.0000000000000000000000000000000000000001]"),
    Y("number_int_with_exp", "[20e1]"),
    Y("number_minus_zero", "[-0]"),
    Y("number_negative_int", "[-123]"),
    Y("number_real_capital_e", "[1E22]"),
    Y("number_real_capital_e_neg_exp", "[1E-2]"),
    Y("number_real_capital_e_pos_exp", "[1E+2]"),
    Y("number_real_fraction_exponent", "[123.456e78]"),
    Y("number_simple_real", "[123.456789]"),
    Y("number_largest_double", "[1.7976931348623157e308]"),
    Y("object_basic", "{\"asd\":\"sdf\"}"),
    Y("object_duplicated_key", "{\"a\":\"b\",\"a\":\"c\"}"),
    Y("object_duplicated_key_and_value", "{\"a\":\"b\",\"a\":\"b\"}"),
    Y("object_empty", "{}"),
    Y("object_empty_key", "{\"\":0}"),
    Y("object_escaped_null_in_key", "{\"foo\\u0000bar\": 42}"),
    Y("object_extreme_numbers", "{ \"min\": -1.0e+28, \"max\": 1.0e+28 }"),
    Y("object_simple", "{\"a\":[]}"),
    Y("object_with_newlines", "{\n\"a\": \"b\"\n}"),
    Y("string_1_2_3_bytes_UTF-8_sequences", "[\"\\u0060\\u012a\\u12AB\"]"),
    Y("string_accepted_surrogate_pair", "[\"\\uD801\\udc37\"]"),
    Y("string_accepted_surrogate_pairs", "[\"\\ud83d\\ude39\\ud83d\\udc8d\"]"),
    Y("string_allowed_escapes", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"),
    Y("string_backslash_and_u_escaped_zero", "[\"\\\\u0000\"]"),
    Y("string_null_escape", "[\"\\u0000\"]"),
    Y("string_utf8", "[\"\xe2\x82\xac\xf0\x9d\x84\x9e\"]"),
    Y("string_unicode_escaped_double_quote", "[\"\\u0022\"]"),
    Y("string_nonCharacterInUTF-8_U+FFFF", "[\"\xef\xbf\xbf\"]"),
    Y("string_unescaped_char_delete", "[\"\x7f\"]"),
    Y("structure_lonely_false", "false"),
    Y("structure_lonely_int", "42"),
    Y("structure_lonely_negative_real", "-0.1"),
    Y("structure_lonely_null", "null"),
    Y("structure_lonely_string", "\"asd\""),
    Y("structure_lonely_true", "true"),
    Y("structure_string_empty", "\"\""),
    Y("structure_trailing_newline", "[\"a\"]\n"),
    Y("structure_whitespace_array", " [] "),

    N("array_1_true_without_comma", "[1 true]"),
    N("array_comma_after_close", "[\"\"],"),
    N("array_extra_comma", "[\"\",]"),
    N("array_incomplete", "[\"x\""),
    N("array_just_comma", "[,]"),
    N("array_missing_value", "[   , \"\"]"),
    N("array_unclosed", "[1"),
    N("array_unclosed_trailing_comma", "[1,"),
    N("incomplete_false", "[fals]"),
    N("incomplete_null", "[nul]"),
    N("incomplete_true", "[tru]"),
    N("number_++", "[++1234]"),
    N("number_+1", "[+1]"),
    N("number_-01", "[-01]"),
    N("number_-NaN", "[-NaN]"),
    N("number_.-1", "[.-1]"),
    N("number_.2e-3", "[.2e-3]"),
    N("number_.5", "[.5]"),
    N("number_0.e1", "[0.e1]"),
    N("number_01", "01"),
    N("number_1.", "[1.]"),
    N("number_1_000", "[1 000.0]"),
    N("number_1e", "[1e]"),
    N("number_1eE2", "[1eE2]"),
    N("number_Inf", "[Inf]"),
    N("number_NaN", "[NaN]"),
    N("number_hex", "[0x1]"),
    N("number_minus_space_1", "[- 1]"),
    N("number_neg_with_garbage_at_end", "[-1x]"),
    N("number_with_leading_zero", "[012]"),
    N("object_bad_value", "[\"x\", truth]"),
    N("object_comma_instead_of_colon", "{\"x\", null}"),
    N("object_missing_colon", "{\"a\" b}"),
    N("object_missing_key", "{:\"b\"}"),
    N("object_missing_value", "{\"a\":"),
    N("object_non_string_key", "{1:1}"),
    N("object_single_quote", "{'a':0}"),
    N("object_trailing_comma", "{\"id\":0,}"),
    N("object_unquoted_key", "{a: \"b\"}"),
    N("object_with_trailing_garbage", "{\"a\": true} \"x\""),
    N("single_space", " "),
    N("string_1_surrogate_then_escape", "[\"\\uD800\\\"]"),
    N("string_escape_x", "[\"\\x00\"]"),
    N("string_escaped_backslash_bad", "[\"\\\\\\\"]"),
    N("string_incomplete_escape", "[\"\\\"]"),
    N("string_incomplete_surrogate", "[\"\\uD834\\uDd\"]"),
    N("string_invalid_unicode_escape", "[\"\\uqqqq\"]"),
    N("string_single_quote", "['single quote']"),
    N("string_unescaped_newline", "[\"new\nline\"]"),
    N("string_unescaped_tab", "[\"\t\"]"),
    N("string_unescaped_nul", "[\"a\0b\"]"),
    N("string_no_quotes_with_bad_escape", "[\\n]"),
    N("structure_NUL_outside_string", "[\0]"),
    N("structure_comma_instead_of_closing_brace", "{\"x\": true,"),
    N("structure_double_array", "[][]"),
    N("structure_end_array", "]"),
    N("structure_no_data", ""),
    N("structure_object_with_comment", "{\"a\":/*comment*/\"b\"}"),
    N("structure_trailing_#", "{\"a\":\"b\"}#{}"),
    N("structure_unclosed_object", "{\"asd\":\"asd\""),
    N("structure_whitespace_formfeed", "[\f]"),
    N("structure_U+2060_word_joined", "[\xe2\x81\xa0]"),
    N("multidigit_number_then_00", "123\0"),
    N("truncated_object", "{\"a\":[1,2"),
    N("truncated_string", "\"abc"),
    N("truncated_literal", "tru"),

    I("number_huge_exp", "[0.4e0066999999999999999999999999999999999999999]", 0),
    I("number_neg_int_huge_exp", "[-1e+9999]", 0),
    I("number_pos_double_huge_exp", "[1.5e+9999]", 0),
    I("number_real_neg_overflow", "[-123123e100000]", 0),
    I("number_real_pos_overflow", "[123123e100000]", 0),
    I("number_1E400", "1E400", 0),
    I("number_real_underflow", "[123e-10000000]", 1),
    I("number_too_big_neg_int", "[-123123123123123123123123123123]", 1),
    I("number_too_big_pos_int", "[100000000000000000000]", 1),
    I("number_very_big_negative_int", "[-237462374673276894279832749832423479823246327846]", 1),
    I("object_key_lone_2nd_surrogate", "{\"\\uDFAA\":0}", 0),
    I("string_1st_surrogate_but_2nd_missing", "[\"\\uDADA\"]", 0),
    I("string_1st_valid_surrogate_2nd_invalid", "[\"\\uD888\\u1234\"]", 0),
    I("string_incomplete_surrogate_and_escape_valid", "[\"\\uD800\\n\"]", 0),
    I("string_incomplete_surrogate_pair", "[\"\\uDd1ea\"]", 0),
    I("string_incomplete_surrogates_escape_valid", "[\"\\uD800\\uD800\\n\"]", 0),
    I("string_invalid_lonely_surrogate", "[\"\\ud800\"]", 0),
    I("string_invalid_surrogate", "[\"\\ud800abc\"]", 0),
    I("string_inverted_surrogates_U+1D11E", "[\"\\uDd1e\\uD834\"]", 0),
    I("string_lone_second_surrogate", "[\"\\uDFAA\"]", 0),
    I("string_UTF-16LE_with_BOM", "\xff\xfe[\0\"\0\xe9\0\"\0]\0", 0),
    I("string_UTF-8_invalid_sequence", "[\"\xe6\x97\xa5\xd1\x88\xfa\"]", 1),
    I("string_invalid_utf-8", "[\"\xff\"]", 1),
    I("string_iso_latin_1", "[\"\xe9\"]", 1),
    I("string_lone_utf8_continuation_byte", "[\"\x81\"]", 1),
    I("string_not_in_unicode_range", "[\"\xf4\xbf\xbf\xbf\"]", 1),
    I("string_overlong_sequence_2_bytes", "[\"\xc0\xaf\"]", 1),
    I("string_truncated-utf-8", "[\"\xe0\xff\"]", 1),
    I("structure_UTF-8_BOM_empty_object", "\xef\xbb\xbf{}", 0),
};

static lua_State *L;

/* Parses text; if accepted, checks that it round-trips through Lua. */
static void check_case(const jcase *c)
{
    char why[512];
    int rc = rt_check(L, c->text, c->len, why, sizeof why);
    if (c->accept && rc < 0)
        check_fail(__FILE__, __LINE__, why);
    else if (!c->accept && rc >= 0)
        check_fail(__FILE__, __LINE__, "accepted");
    else if (rc == 0)
        check_fail(__FILE__, __LINE__, why);
    else if (rc < 0)
        CHECK(strncmp(why, "malformed JSON at byte ", 23) == 0);
}

/* Nesting: PD_JSON_MAX_DEPTH arrays (or objects) inside one another are
 * accepted, one more is not; 100,000 does not crash. */
static void check_depth(int depth, int object, int accept)
{
    size_t n = (size_t)depth;
    char *s = malloc(n * 6 + 2);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(s + k, object ? "{\"a\":" : "[");
    s[k++] = '1';
    for (size_t i = 0; i < n; i++)
        s[k++] = object ? '}' : ']';
    char why[512];
    int rc = rt_check(L, s, k, why, sizeof why);
    CHECK_INT(rc, accept ? 1 : -1);
    if (!accept)
        CHECK(strstr(why, "nested too deeply") != NULL);
    free(s);
}

static void test_depth(void)
{
    check_depth(PD_JSON_MAX_DEPTH, 0, 1);
    check_depth(PD_JSON_MAX_DEPTH, 1, 1);
    check_depth(PD_JSON_MAX_DEPTH + 1, 0, 0);
    check_depth(PD_JSON_MAX_DEPTH + 1, 1, 0);
    check_depth(500, 0, 0);
    check_depth(100000, 0, 0);
}

/* Decodes text (which must be accepted) onto the stack. */
static void decode(const char *text, size_t len)
{
    char err[256];
    if (rt_decode(L, text, len, err, sizeof err) != 0) {
        check_fail(__FILE__, __LINE__, err);
        lua_pushnil(L);
    }
}
#define DECODE(lit) decode(lit, sizeof(lit) - 1)

/* The string field `key` (of length klen) of the table on top. */
static int field(const char *key, size_t klen)
{
    lua_pushlstring(L, key, klen);
    return lua_rawget(L, -2);
}

static void test_nul_in_keys_and_strings(void)
{
    DECODE("{\"a\":1,\"a\\u0000b\":2,\"\\u0000\":3}");
    CHECK(field("a", 1) == LUA_TNUMBER && lua_tointeger(L, -1) == 1);
    lua_pop(L, 1);
    CHECK(field("a\0b", 3) == LUA_TNUMBER && lua_tointeger(L, -1) == 2);
    lua_pop(L, 1);
    CHECK(field("\0", 1) == LUA_TNUMBER && lua_tointeger(L, -1) == 3);
    lua_pop(L, 2);
    DECODE("[\"x\\u0000y\"]");
    lua_rawgeti(L, -1, 1);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    CHECK(n == 3 && memcmp(s, "x\0y", 3) == 0);
    lua_pop(L, 2);
}

/* C readers see the last of duplicate names and whole names. */
static void test_c_get(void)
{
    static const char text[] = "{\"k\":1,\"a\\u0000b\":2,\"k\":3}";
    pd_json_doc *doc = pd_json_parse(text, sizeof text - 1, NULL, 0);
    CHECK(doc != NULL);
    const pd_json *root = pd_json_root(doc);
    CHECK(pd_json_get_num(root, "k", 0) == 3);
    CHECK(pd_json_get(root, "a") == NULL);
    CHECK(pd_json_get(root, "zz") == NULL);
    CHECK_INT(root->count, 3);
    pd_json_free(doc);
}

static void test_duplicates_last_wins(void)
{
    DECODE("{\"a\":1,\"a\":2,\"b\":1,\"b\":null,\"c\":null,\"c\":\"x\"}");
    CHECK(field("a", 1) == LUA_TNUMBER && lua_tointeger(L, -1) == 2);
    lua_pop(L, 1);
    CHECK(field("b", 1) == LUA_TNIL);
    lua_pop(L, 1);
    CHECK(field("c", 1) == LUA_TSTRING);
    lua_pop(L, 2);
}

/* The Lua value of the only element of a one-element array. */
static void element(const char *text, size_t len)
{
    decode(text, len);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
}
#define ELEMENT(lit) element(lit, sizeof(lit) - 1)

static void test_numbers(void)
{
    ELEMENT("[9223372036854775807]");
    CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == LUA_MAXINTEGER);
    ELEMENT("[-9223372036854775808]");
    CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == LUA_MININTEGER);
    ELEMENT("[9007199254740993]");   /* 2^53 + 1: exact */
    CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == 9007199254740993LL);
    ELEMENT("[9223372036854775808]");
    CHECK(lua_type(L, -1) == LUA_TSTRING);
    CHECK_STR(lua_tostring(L, -1), "9223372036854775808");
    ELEMENT("[-123123123123123123123123123123]");
    CHECK_STR(lua_tostring(L, -1), "-123123123123123123123123123123");
    ELEMENT("[-0]");
    CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == 0);
    ELEMENT("[-0.0]");
    CHECK(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 0);
    ELEMENT("[1e-400]");
    CHECK(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 0);
    ELEMENT("[1.7976931348623157e308]");
    CHECK(lua_tonumber(L, -1) == 1.7976931348623157e308);
    lua_settop(L, 0);
    char err[256];
    CHECK(rt_decode(L, "[1e400]", 7, err, sizeof err) == -1);
    CHECK_STR(err, "malformed JSON at byte 6: number out of range");
    CHECK(rt_decode(L, "[-1E400]", 8, err, sizeof err) == -1);
}

static void test_strings(void)
{
    ELEMENT("[\"\\ud83d\\ude00\"]");
    CHECK_STR(lua_tostring(L, -1), "\xf0\x9f\x98\x80");
    ELEMENT("[\"\\u00e9\\u20ac\"]");
    CHECK_STR(lua_tostring(L, -1), "\xc3\xa9\xe2\x82\xac");
    ELEMENT("[\"\xff\xfe\"]");   /* invalid UTF-8 is kept as it is */
    CHECK_STR(lua_tostring(L, -1), "\xff\xfe");
    lua_settop(L, 0);
}

static void test_nulls_and_empties(void)
{
    DECODE("{\"a\":null,\"b\":[null],\"c\":[],\"d\":{}}");
    CHECK(field("a", 1) == LUA_TNIL);
    lua_pop(L, 1);
    CHECK(field("b", 1) == LUA_TTABLE);
    CHECK(lua_rawgeti(L, -1, 1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == NULL);
    lua_pop(L, 2);
    CHECK(field("c", 1) == LUA_TTABLE && lua_getmetatable(L, -1));
    lua_settop(L, 1);
    CHECK(field("d", 1) == LUA_TTABLE && !lua_getmetatable(L, -1));
    lua_settop(L, 0);
}

int main(void)
{
    L = rt_state();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_begin(cases[i].name);
        check_case(&cases[i]);
        check_end();
    }
    RUN(test_depth);
    RUN(test_nul_in_keys_and_strings);
    RUN(test_c_get);
    RUN(test_duplicates_last_wins);
    RUN(test_numbers);
    RUN(test_strings);
    RUN(test_nulls_and_empties);
    lua_close(L);
    return check_summary("c/json");
}
