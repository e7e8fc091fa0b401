/* Market-data value types shared by the marketdata library, its tools and the
 * engines that read them (vpin, features): trades, quotes and time bars. */
#ifndef MD_TYPES_H
#define MD_TYPES_H

#include <stdint.h>

/* Longest symbol, excluding the terminating NUL. */
#define MD_SYMBOL_MAX 15

/* One trade print. Plain value type: callers own and copy it freely. */
typedef struct md_trade {
    uint64_t ts_ns;   /* ns since the Unix epoch */
    char symbol[16];  /* NUL-terminated, at most 15 chars */
    double price;     /* > 0 */
    double size;      /* > 0; integer-valued in CSV input */
    int8_t aggressor; /* +1 buyer-initiated, -1 seller-initiated, 0 unknown (CSV) */
} md_trade;

/* Top-of-book quote. Plain value type. */
typedef struct md_quote {
    uint64_t ts_ns;  /* ns since the Unix epoch */
    char symbol[16]; /* NUL-terminated, at most 15 chars */
    double bid, ask, bid_size, ask_size;
} md_quote;

/* One time bar [start_ts_ns, end_ts_ns) of one symbol. Plain value type. */
typedef struct md_bar {
    uint64_t start_ts_ns, end_ts_ns, last_trade_ts_ns;
    char symbol[16]; /* NUL-terminated, at most 15 chars */
    double open, high, low, close, volume, vwap;
    uint32_t trades;
} md_bar;

/* What an md_event carries. */
typedef enum md_event_kind { MD_EVENT_TRADE = 1, MD_EVENT_QUOTE = 2 } md_event_kind;

/* A trade or a quote from a feed (tagged union). symbol_index is the feed's
 * index of the symbol (0..n-1). Plain value type. */
typedef struct md_event {
    md_event_kind kind;
    uint32_t symbol_index;
    union {
        md_trade trade; /* kind == MD_EVENT_TRADE */
        md_quote quote; /* kind == MD_EVENT_QUOTE */
    };
} md_event;

#endif
