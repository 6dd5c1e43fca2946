/*
 * json.h — a small JSON reader and writer for the Compute Engine client.
 *
 * The client needs JSON on both sides of the interpreter lock: token
 * responses, credential files and error bodies are read by C code running
 * without the lock (retry decisions, token refresh), and API responses are
 * parsed there too so that only the cheap tree-to-table conversion happens
 * under the lock. One parser serves both. A document owns all its nodes and
 * strings in one arena, freed at once.
 *
 * What it accepts (RFC 8259, strictly; spec/c/json_test.c holds the cases):
 *   - nesting: at most PD_JSON_MAX_DEPTH arrays and objects inside one
 *     another; deeper input is malformed (hostile input cannot exhaust the
 *     C stack);
 *   - strings: \u escapes become UTF-8, a surrogate pair one code point; a
 *     lone or mismatched surrogate is malformed; \u0000 is kept, in values
 *     and in member names (strings carry their length); other bytes are
 *     kept as they are, invalid UTF-8 included;
 *   - numbers keep their text, so integers stay exact; a number too large
 *     for a double (1e400, which would be inf) is malformed;
 *   - no byte order mark, nothing after the value but white space;
 *   - duplicate member names are kept in order; pd_json_get returns the
 *     last, as the Lua tables made from a document keep the last.
 */
#ifndef PDLUA_JSON_H
#define PDLUA_JSON_H

#include <stddef.h>

#define PD_JSON_MAX_DEPTH 200

typedef enum {
    PD_JSON_NULL,
    PD_JSON_FALSE,
    PD_JSON_TRUE,
    PD_JSON_NUMBER,
    PD_JSON_STRING,
    PD_JSON_ARRAY,
    PD_JSON_OBJECT,
} pd_json_type;

typedef struct pd_json pd_json;
struct pd_json {
    pd_json_type type;
    const char *key;      /* member name inside an object, else NULL */
    size_t klen;          /* length of key */
    const char *str;      /* string value, or a number's text; NUL-ended */
    size_t len;           /* length of str */
    pd_json *child;       /* first element or member */
    pd_json *next;        /* next sibling */
    size_t count;         /* number of children */
};

typedef struct pd_json_doc pd_json_doc;

/* Parses `len` bytes. Returns NULL on malformed input with a message in
 * err ("malformed JSON at byte N: ..."). */
pd_json_doc *pd_json_parse(const char *text, size_t len, char *err, size_t errlen);
void pd_json_free(pd_json_doc *doc);
const pd_json *pd_json_root(const pd_json_doc *doc);

/* Member `key` of an object, the last of that name (NULL if absent or `obj`
 * is not an object). */
const pd_json *pd_json_get(const pd_json *obj, const char *key);
/* The string value of member `key`, or NULL. */
const char *pd_json_get_str(const pd_json *obj, const char *key);
/* A number (or numeric string) member as a double; `dflt` if absent. */
double pd_json_get_num(const pd_json *obj, const char *key, double dflt);
/* Element i of an array, or NULL. */
const pd_json *pd_json_at(const pd_json *arr, size_t i);

/* A growable byte buffer (used to write JSON and to build form bodies). */
typedef struct pd_buf {
    char *data;
    size_t len, cap;
    int oom;              /* set once an allocation failed */
} pd_buf;

void pd_buf_add(pd_buf *b, const char *s, size_t n);
void pd_buf_adds(pd_buf *b, const char *s);
void pd_buf_addf(pd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void pd_buf_add_json_string(pd_buf *b, const char *s, size_t n);
/* Appends s percent-encoded for a URL query or form body. */
void pd_buf_add_urlencoded(pd_buf *b, const char *s);
void pd_buf_free(pd_buf *b);

#endif
