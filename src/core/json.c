/*
 * json.c — the JSON reader and buffer writer of include/pdlua/json.h.
 *
 * A recursive-descent parser over a bump arena: each document allocates
 * nodes and unescaped strings from a few large chunks, so parsing a
 * 500-item list page costs a handful of mallocs and freeing it one pass.
 * Strict RFC 8259 (no comments, no trailing commas); \u escapes, surrogate
 * pairs included, become UTF-8.
 */
#include "pdlua/heap.h"
#include "pdlua/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk {
    struct chunk *prev;
    size_t used, size;
    _Alignas(max_align_t) char data[];
} chunk;

struct pd_json_doc {
    chunk *chunks;
    pd_json *root;
};

typedef struct parser {
    pd_json_doc *doc;
    const char *p, *end, *start;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void fail(parser *ps, const char *what)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    if (ps->err)
        snprintf(ps->err, ps->errlen, "malformed JSON at byte %zu: %s",
                 (size_t)(ps->p - ps->start), what);
}

/* n bytes from the document's arena, or NULL after failing the parse. */
static void *arena_alloc(parser *ps, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    chunk *c = ps->doc->chunks;
    if (!c || c->size - c->used < n) {
        size_t size = n > 65536 ? n : 65536;
        chunk *nc = malloc(sizeof *nc + size);
        if (!nc) {
            fail(ps, "out of memory");
            return NULL;
        }
        nc->prev = c;
        nc->used = 0;
        nc->size = size;
        ps->doc->chunks = nc;
        c = nc;
    }
    void *r = c->data + c->used;
    c->used += n;
    return r;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static pd_json *new_node(parser *ps, pd_json_type t)
{
    pd_json *n = arena_alloc(ps, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->type = t;
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(ps->p[i]);
        if (h < 0)
            return 0;
        v = v * 16 + (unsigned)h;
    }
    ps->p += 4;
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string literal (at the opening quote); the unescaped text never
 * grows, so the raw length bounds the allocation. */
static const char *parse_string(parser *ps, size_t *len)
{
    ps->p++;
    const char *s = ps->p;
    while (s < ps->end && *s != '"') {
        if (*s == '\\')
            s++;
        s++;
    }
    if (s >= ps->end) {
        fail(ps, "unterminated string");
        return NULL;
    }
    char *out = arena_alloc(ps, (size_t)(s - ps->p) + 1);
    if (!out)
        return NULL;
    char *o = out;
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            fail(ps, "control character in string");
            return NULL;
        }
        if (c != '\\') {
            *o++ = (char)c;
            ps->p++;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end)
            break;
        char e = *ps->p++;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!read_hex4(ps, &cp)) {
                fail(ps, "bad \\u escape");
                return NULL;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                    fail(ps, "lone surrogate");
                    return NULL;
                }
                ps->p += 2;
                if (!read_hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    fail(ps, "bad surrogate pair");
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(ps, "lone surrogate");
                return NULL;
            }
            o += put_utf8(o, cp);
            break;
        }
        default:
            fail(ps, "bad escape");
            return NULL;
        }
    }
    if (ps->p >= ps->end) {
        fail(ps, "unterminated string");
        return NULL;
    }
    ps->p++;
    *o = 0;
    *len = (size_t)(o - out);
    return out;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Skips digits; returns whether there was one. */
static int digits(parser *ps)
{
    const char *s = ps->p;
    while (ps->p < ps->end && is_digit(*ps->p))
        ps->p++;
    return ps->p > s;
}

/* Whether the next byte is one of `set` (skipped if so). */
static int next_is(parser *ps, const char *set)
{
    if (ps->p >= ps->end || !*ps->p || !strchr(set, *ps->p))
        return 0;
    ps->p++;
    return 1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? */
static pd_json *parse_number(parser *ps)
{
    const char *s = ps->p;
    next_is(ps, "-");
    int ok = next_is(ps, "0") || digits(ps);
    if (ok && next_is(ps, "."))
        ok = digits(ps);
    if (ok && next_is(ps, "eE")) {
        next_is(ps, "+-");
        ok = digits(ps);
    }
    if (!ok) {
        fail(ps, "bad number");
        return NULL;
    }
    pd_json *n = new_node(ps, PD_JSON_NUMBER);
    if (!n)
        return NULL;
    size_t len = (size_t)(ps->p - s);
    char *t = arena_alloc(ps, len + 1);
    if (!t)
        return NULL;
    memcpy(t, s, len);
    t[len] = 0;
    if (isinf(strtod(t, NULL))) {
        fail(ps, "number out of range");
        return NULL;
    }
    n->str = t;
    n->len = len;
    return n;
}

static pd_json *parse_value(parser *ps, int depth);

static int literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return 0;
    ps->p += n;
    return 1;
}

static pd_json *parse_container(parser *ps, int depth, int object)
{
    if (depth >= PD_JSON_MAX_DEPTH) {
        fail(ps, "nested too deeply");
        return NULL;
    }
    pd_json *n = new_node(ps, object ? PD_JSON_OBJECT : PD_JSON_ARRAY);
    if (!n)
        return NULL;
    char close = object ? '}' : ']';
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return n;
    }
    pd_json **tail = &n->child;
    for (;;) {
        const char *key = NULL;
        size_t klen = 0;
        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a member name");
                return NULL;
            }
            key = parse_string(ps, &klen);
            if (!key)
                return NULL;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, "expected ':'");
                return NULL;
            }
            ps->p++;
        }
        pd_json *v = parse_value(ps, depth + 1);
        if (!v)
            return NULL;
        v->key = key;
        v->klen = klen;
        *tail = v;
        tail = &v->next;
        n->count++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return n;
        }
        fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        return NULL;
    }
}

static pd_json *parse_value(parser *ps, int depth)
{
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end of input");
        return NULL;
    }
    switch (*ps->p) {
    case '{': return parse_container(ps, depth, 1);
    case '[': return parse_container(ps, depth, 0);
    case '"': {
        pd_json *n = new_node(ps, PD_JSON_STRING);
        if (!n)
            return NULL;
        n->str = parse_string(ps, &n->len);
        return n->str ? n : NULL;
    }
    case 't':
        if (literal(ps, "true")) return new_node(ps, PD_JSON_TRUE);
        break;
    case 'f':
        if (literal(ps, "false")) return new_node(ps, PD_JSON_FALSE);
        break;
    case 'n':
        if (literal(ps, "null")) return new_node(ps, PD_JSON_NULL);
        break;
    default:
        if (*ps->p == '-' || is_digit(*ps->p))
            return parse_number(ps);
    }
    fail(ps, "unexpected character");
    return NULL;
}

pd_json_doc *pd_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    pd_json_doc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        if (err)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    parser ps = {doc, text, text + len, text, err, errlen, 0};
    doc->root = parse_value(&ps, 0);
    if (doc->root) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            fail(&ps, "trailing characters");
    }
    if (ps.failed || !doc->root) {
        pd_json_free(doc);
        return NULL;
    }
    return doc;
}

void pd_json_free(pd_json_doc *doc)
{
    if (!doc)
        return;
    chunk *c = doc->chunks;
    while (c) {
        chunk *prev = c->prev;
        free(c);
        c = prev;
    }
    free(doc);
}

const pd_json *pd_json_root(const pd_json_doc *doc) { return doc ? doc->root : NULL; }

const pd_json *pd_json_get(const pd_json *obj, const char *key)
{
    if (!obj || obj->type != PD_JSON_OBJECT)
        return NULL;
    size_t len = strlen(key);
    const pd_json *last = NULL;
    for (const pd_json *c = obj->child; c; c = c->next)
        if (c->klen == len && memcmp(c->key, key, len) == 0)
            last = c;
    return last;
}

const char *pd_json_get_str(const pd_json *obj, const char *key)
{
    const pd_json *v = pd_json_get(obj, key);
    return v && v->type == PD_JSON_STRING ? v->str : NULL;
}

double pd_json_get_num(const pd_json *obj, const char *key, double dflt)
{
    const pd_json *v = pd_json_get(obj, key);
    if (!v || (v->type != PD_JSON_NUMBER && v->type != PD_JSON_STRING))
        return dflt;
    char *end;
    double d = strtod(v->str, &end);
    return end != v->str ? d : dflt;
}

const pd_json *pd_json_at(const pd_json *arr, size_t i)
{
    if (!arr || arr->type != PD_JSON_ARRAY)
        return NULL;
    const pd_json *c = arr->child;
    while (c && i--)
        c = c->next;
    return c;
}

/* ---- buffers ---- */

static int buf_reserve(pd_buf *b, size_t extra)
{
    if (!b->oom && pd_grow(&b->data, &b->cap, b->len + extra + 1, 1) != 0)
        b->oom = 1;
    return !b->oom;
}

void pd_buf_add(pd_buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void pd_buf_adds(pd_buf *b, const char *s) { pd_buf_add(b, s, strlen(s)); }

void pd_buf_addf(pd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void pd_buf_add_json_string(pd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    pd_buf_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = 0;
                esc = u;
            }
        }
        if (esc) {
            pd_buf_add(b, s + i - run, run);
            run = 0;
            pd_buf_adds(b, esc);
        } else {
            run++;
        }
    }
    pd_buf_add(b, s + n - run, run);
    pd_buf_add(b, "\"", 1);
}

void pd_buf_add_urlencoded(pd_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~') {
            pd_buf_add(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            pd_buf_add(b, e, 3);
        }
    }
}

void pd_buf_free(pd_buf *b)
{
    if (b->data) {
        /* buffers may have held credentials (form bodies, auth headers) */
        explicit_bzero(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
