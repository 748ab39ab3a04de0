/*
 * vi-nlp/vn_utf8.h — strict UTF-8 validation for untrusted, length-carrying input.
 */
#ifndef VN_UTF8_H
#define VN_UTF8_H

#include <stddef.h>

/* Returns 1 when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF),
 * else 0 and *bad_off (if not NULL) = byte offset of the first bad byte (the lead byte of
 * an ill-formed or truncated sequence, or a stray byte). NUL bytes are
 * allowed as data. s may be NULL when len is 0. */
int vn_utf8_valid(const char *s, size_t len, size_t *bad_off);

/* Number of code points in a valid UTF-8 string (counts lead bytes; on invalid input the
 * result is only an estimate). */
size_t vn_utf8_count(const char *s, size_t len);

#endif
