/* Input checks shared by every aggregate and the server. Pure functions. */
#ifndef KB_VALIDATE_H
#define KB_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* An id: 1..KB_ID_LEN_MAX chars of [A-Za-z0-9_-]. */
bool kb_id_valid(const char *s);

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF) of len
 * bytes. U+0000 is well-formed: a caller keeping C strings checks for NUL
 * itself. s may be NULL only when len is 0. */
bool kb_utf8_valid(const char *s, size_t len);

/* True when s contains something that looks like a full card number: a run
 * of 13..19 digits, where single spaces or dashes may separate digit groups,
 * that passes the Luhn check. Any such sub-run counts, e.g. a 16-digit PAN
 * inside a longer text ("card 4111 1111 1111 1111 exp"), and each window of
 * 13..19 digits of a longer digit run is checked. */
bool kb_contains_card_number(const char *s, size_t len);

/* A plausible e-mail address: 3..KB_EMAIL_LEN_MAX printable ASCII, exactly
 * one '@' with non-empty local part and a domain containing a '.', no
 * spaces. The domain's labels are non-empty: no leading, trailing or double
 * '.' ("a@.b", "a@b.", "a@b..c" are rejected). */
bool kb_email_valid(const char *s);

/* An idempotency key: 1..KB_IDEMPOTENCY_KEY_LEN_MAX printable ASCII
 * (0x21..0x7e). */
bool kb_idempotency_key_valid(const char *s);

#endif
