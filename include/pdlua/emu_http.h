/*
 * emu_http.h — pdlua-emu's HTTP front end: libmicrohttpd with one thread
 * per connection, every request handed to one Lua function.
 *
 * Why a thread per connection: the emulator's heaviest clients are
 * long-polling operations.wait calls (hundreds at once); a thread that
 * sleeps with the interpreter lock released costs a stack and nothing else,
 * and keeps the request path linear (no suspend/resume state machine).
 *
 * The Lua handler is called under the interpreter lock, in a coroutine of
 * its own per request, so a handler that sleeps (pd.sleep releases the
 * lock) lets every other connection go on. It is called as
 *   handler(method, path, query, headers, body)
 * with query and headers as tables (header names lower-cased), and returns
 *   status, body, content_type, extra_headers_table_or_nil, action_or_nil
 * where action "reset" drops the connection with a TCP reset instead of
 * answering (used by fault injection).
 */
#ifndef PDLUA_EMU_HTTP_H
#define PDLUA_EMU_HTTP_H

#include <stddef.h>

typedef struct pd_emu_http pd_emu_http;

/* Starts listening on 127.0.0.1:port (0 picks a free port) and serving.
 * `handler_ref` is a registry reference to the Lua handler (the caller keeps
 * it alive). Returns NULL and fills `err` on failure. Call without the
 * interpreter lock held once it returns: connection threads take it. */
pd_emu_http *pd_emu_http_start(int port, int handler_ref, size_t max_body,
                               char *err, size_t errlen);

/* The port actually bound. */
int pd_emu_http_port(const pd_emu_http *h);

/* Stops accepting, waits for every connection thread to finish (callers
 * first wake sleeping handlers, e.g. by cancelling the root interrupt), and
 * frees the server. Call without the interpreter lock held. */
void pd_emu_http_stop(pd_emu_http *h);

#endif
