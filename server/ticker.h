/* On the system clock, runs the writer's Tick every interval (what an
 * admin's `kasboek clock tick` does), so payout days close on time without
 * a cron. On the manual clock time moves only by SetClock, which ticks
 * itself, so no ticker runs. */
#ifndef KBD_TICKER_H
#define KBD_TICKER_H

#include <stdint.h>

#include "writer.h"

typedef struct kbd_ticker kbd_ticker;

/* NULL when interval_s is 0 (off) or the thread cannot start (logged). */
kbd_ticker *kbd_ticker_start(kbd_writer *w, uint32_t interval_s, bool quiet);
/* Stops the thread after the Tick in flight, if any, is answered. */
void kbd_ticker_stop(kbd_ticker *t);

#endif
