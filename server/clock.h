/* The server's clock source: the system clock, or a manual clock that moves
 * only by admin command (tests and demos). Readings never go backwards. */
#ifndef KBD_CLOCK_H
#define KBD_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct kbd_clock kbd_clock;

/* start_us: the first reading of a manual clock; for the system clock, a
 * floor its readings never go below (the newest event's time). */
kbd_clock *kbd_clock_new(bool manual, int64_t start_us);
void kbd_clock_free(kbd_clock *c);
bool kbd_clock_manual(const kbd_clock *c);

/* Microseconds since the epoch, UTC; never less than an earlier reading. */
int64_t kbd_clock_now(kbd_clock *c);

/* Manual clock only: moves to now (>= current). false if now is earlier. */
bool kbd_clock_set(kbd_clock *c, int64_t now);

/* Monotonic milliseconds for timeouts (not a ledger time). */
int64_t kbd_monotonic_ms(void);

#endif
