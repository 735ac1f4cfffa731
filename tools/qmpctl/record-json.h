/*
 * JSON text for `qmpctl record`, kept exactly as it came: a stream is cut
 * into its top-level values without parsing them, and a value is checked
 * and pretty-printed from its text, so numbers (a uint64 above INT64_MAX,
 * 1.50, 1e3) and strings are written exactly as they were sent.
 */
#ifndef QMPCTL_RECORD_JSON_H
#define QMPCTL_RECORD_JSON_H

#include <stddef.h>

#include <glib.h>

/* Cuts a byte stream into top-level JSON objects and arrays. */
typedef struct json_splitter {
    GString *buf;     /* the value being collected */
    int depth;        /* 0: between values */
    int in_string, escape;
} json_splitter;

void json_splitter_init(json_splitter *s);
void json_splitter_clear(json_splitter *s);
/*
 * Feeds n bytes; calls done(text, len, user) for each value completed.
 * Bytes between values that cannot start one (whitespace, garbage) are
 * skipped.
 */
void json_splitter_feed(json_splitter *s, const char *data, size_t n,
                        void (*done)(const char *text, size_t len, void *user), void *user);

/* A member of a top-level object: where its key and value are in the text. */
typedef struct json_member {
    size_t key, key_len;      /* the key with its quotes */
    size_t value, value_len;  /* the value's text */
} json_member;

#define JSON_MAX_MEMBERS 32

/* A top-level object's members; n is -1 when the text is not one valid JSON object. */
typedef struct json_message {
    const char *text;
    size_t len;
    int n;
    json_member m[JSON_MAX_MEMBERS];
} json_message;

/* Checks text as one JSON object (at most JSON_MAX_MEMBERS members) and finds its members. */
void json_message_scan(json_message *msg, const char *text, size_t len);
/* The member whose key is `key` (plain, no escapes), or NULL. */
const json_member *json_message_get(const json_message *msg, const char *key);

/*
 * Appends msg pretty-printed (4 spaces an indent, "key": value, as
 * libvirt's .replies files) to out, with the member "id" replaced by (or,
 * when absent, followed by) "id": id when id is not NULL.
 */
void json_message_pretty(const json_message *msg, const char *id, GString *out);

#endif
