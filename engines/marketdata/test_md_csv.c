/* Tests for md_csv: exact parsing of good files (LF, CRLF, BOM, no final
 * newline, buffer refills), each bad-row case with its line and reason, the
 * reader continuing after bad rows, and refused headers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "md_csv.h"
#include "mesh_error.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_md_csv_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/trades.csv", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(md_csv, .init = setup, .fini = teardown);

static void write_file(const char *content, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(content, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static md_csv *open_ok(const char *content)
{
    md_csv *r = NULL;
    write_file(content, strlen(content));
    cr_assert_eq(md_csv_open(&r, path), 0, "open: %s", md_csv_error(NULL));
    return r;
}

static void expect_trade(md_csv *r, uint64_t line, uint64_t ts, const char *sym, double px,
                         double size)
{
    md_trade t;
    memset(&t, 0x55, sizeof t);
    int rc = md_csv_next(r, &t);
    cr_assert_eq(rc, 1, "line %llu: rc %d (%s)", (unsigned long long)line, rc, md_csv_error(r));
    cr_assert_eq(md_csv_line(r), line);
    cr_assert_eq(t.ts_ns, ts);
    cr_assert_str_eq(t.symbol, sym);
    cr_assert_eq(t.price, px, "line %llu: price %.17g", (unsigned long long)line, t.price);
    cr_assert_eq(t.size, size);
    cr_assert_eq(t.aggressor, 0);
}

/* The next row must be rejected at line with "<path>:<line>: " + a message
 * containing reason. */
static void expect_bad(md_csv *r, uint64_t line, const char *reason)
{
    md_trade t;
    char prefix[192];
    int rc = md_csv_next(r, &t);
    cr_assert_eq(rc, MESH_ECSV, "line %llu: rc %d", (unsigned long long)line, rc);
    cr_assert_eq(md_csv_line(r), line);
    snprintf(prefix, sizeof prefix, "%s:%llu: ", path, (unsigned long long)line);
    const char *msg = md_csv_error(r);
    cr_assert_eq(strncmp(msg, prefix, strlen(prefix)), 0, "'%s' lacks '%s'", msg, prefix);
    cr_assert_not_null(strstr(msg, reason), "'%s' lacks '%s'", msg, reason);
}

static void expect_eof(md_csv *r)
{
    md_trade t;
    cr_assert_eq(md_csv_next(r, &t), 0);
    cr_assert_eq(md_csv_next(r, &t), 0, "end of file stays end of file");
}

/* Values are the decimal literals of the file: the compiler's own conversion is
 * the reference (both must be the correctly rounded double). */
Test(md_csv, good_file_parsed_exactly)
{
    md_csv *r = open_ok("ts_ns,symbol,price,size\n"
                        "1704205800000000000,AAPL,187.15,100\n"
                        "1704205800000000001,MSFT,370.6,25\n"
                        "1704205800000000001,BRK.A,545000,1\n"
                        "1704205800500000000,X,0.0001,9007199254740992\n"
                        "1704205800500000000,LONGSYMBOL12345,1.5e2,7\n"
                        "1704205800600000000,Y,0.1234567890123456789,3\n"
                        "18446744073709551615,Z,.5,000042\n");
    cr_assert_str_eq(md_csv_error(r), "");
    expect_trade(r, 2, 1704205800000000000ull, "AAPL", 187.15, 100);
    expect_trade(r, 3, 1704205800000000001ull, "MSFT", 370.6, 25);
    expect_trade(r, 4, 1704205800000000001ull, "BRK.A", 545000, 1);
    expect_trade(r, 5, 1704205800500000000ull, "X", 0.0001, 9007199254740992.0); /* 2^53 */
    expect_trade(r, 6, 1704205800500000000ull, "LONGSYMBOL12345", 150, 7);
    expect_trade(r, 7, 1704205800600000000ull, "Y", 0.1234567890123456789, 3);
    expect_trade(r, 8, 18446744073709551615ull, "Z", 0.5, 42); /* UINT64_MAX */
    expect_eof(r);
    md_csv_close(r);
}

Test(md_csv, crlf_bom_and_missing_final_newline)
{
    md_csv *r = open_ok("\xEF\xBB\xBFts_ns,symbol,price,size\r\n"
                        "10,AA,1.25,3\r\n"
                        "11,BB,2.5,4");
    expect_trade(r, 2, 10, "AA", 1.25, 3);
    expect_trade(r, 3, 11, "BB", 2.5, 4);
    expect_eof(r);
    md_csv_close(r);
}

/* Every bad-row case, each followed by the reader carrying on. */
Test(md_csv, bad_rows_report_line_and_reason_and_reader_continues)
{
    md_csv *r = open_ok("ts_ns,symbol,price,size\n"
                        "100,AAPL,1.5\n"                     /* 2 */
                        "100,AAPL,1.5,10,7\n"                /* 3 */
                        "100,,1.5,10\n"                      /* 4 */
                        "100,ABCDEFGHIJKLMNOP,1.5,10\n"      /* 5: 16 chars */
                        "100,AAPL,abc,10\n"                  /* 6 */
                        "100,AAPL,-1.5,10\n"                 /* 7 */
                        "100,AAPL,0,10\n"                    /* 8 */
                        "100,AAPL,nan,10\n"                  /* 9 */
                        "100,AAPL,1e999,10\n"                /* 10 */
                        "100,AAPL,1.5,0\n"                   /* 11 */
                        "100,AAPL,1.5,2.5\n"                 /* 12 */
                        "100,AAPL,1.5,-3\n"                  /* 13 */
                        "-5,AAPL,1.5,10\n"                   /* 14 */
                        "18446744073709551616,AAPL,1.5,10\n" /* 15: 2^64 */
                        "12x,AAPL,1.5,10\n"                  /* 16 */
                        "200,AAPL,1.5,10\n"                  /* 17: good */
                        "199,AAPL,1.5,10\n"                  /* 18: backwards */
                        "\n"                                 /* 19 */
                        "200,AA PL,1.5,10\n"                 /* 20 */
                        "200,AAPL, 1.5,10\n"                 /* 21 */
                        "200,AAPL,1.5,9007199254740993\n"    /* 22: 2^53 + 1 */
                        "201,AAPL,2.75,5\n");                /* 23: good */
    expect_bad(r, 2, "expected 4 fields (ts_ns,symbol,price,size), got 3");
    expect_bad(r, 3, "got 5");
    expect_bad(r, 4, "symbol is empty");
    expect_bad(r, 5, "symbol 'ABCDEFGHIJKLMNOP' is longer than 15");
    expect_bad(r, 6, "price 'abc' is not a number");
    expect_bad(r, 7, "price '-1.5' must be > 0");
    expect_bad(r, 8, "price '0' must be > 0");
    expect_bad(r, 9, "price 'nan' is not a number");
    expect_bad(r, 10, "price '1e999' is not finite");
    expect_bad(r, 11, "size '0' is not a positive integer");
    expect_bad(r, 12, "size '2.5' is not a positive integer");
    expect_bad(r, 13, "size '-3' is not a positive integer");
    expect_bad(r, 14, "ts_ns '-5' is not an unsigned 64-bit integer");
    expect_bad(r, 15, "ts_ns '18446744073709551616' is not an unsigned 64-bit integer");
    expect_bad(r, 16, "ts_ns '12x'");
    expect_trade(r, 17, 200, "AAPL", 1.5, 10);
    expect_bad(r, 18, "ts_ns 199 goes backwards (previous row had 200)");
    expect_bad(r, 19, "empty line");
    expect_bad(r, 20, "symbol 'AA PL' contains a space");
    expect_bad(r, 21, "price ' 1.5' is not a number");
    expect_bad(r, 22, "size '9007199254740993'");
    expect_trade(r, 23, 201, "AAPL", 2.75, 5);
    expect_eof(r);
    md_csv_close(r);
}

/* The backwards row is still decoded, so a caller may choose to keep it. */
Test(md_csv, backwards_row_is_reported_with_its_values)
{
    md_csv *r = open_ok("ts_ns,symbol,price,size\n50,A,1,1\n40,B,2,3\n45,C,4,5\n60,D,6,7\n");
    md_trade t;
    expect_trade(r, 2, 50, "A", 1, 1);
    cr_assert_eq(md_csv_next(r, &t), MESH_ECSV);
    cr_assert_eq(t.ts_ns, 40);
    cr_assert_str_eq(t.symbol, "B");
    cr_assert_eq(t.size, 3);
    expect_bad(r, 4, "ts_ns 45 goes backwards (previous row had 50)");
    expect_trade(r, 5, 60, "D", 6, 7);
    md_csv_close(r);
}

/* A line of MD_CSV_MAX_LINE bytes is accepted (padded with leading zeros in
 * ts_ns), one byte more is refused whole, and the next line is read normally. */
Test(md_csv, long_lines_rejected_not_truncated)
{
    size_t cap = 4 * MD_CSV_MAX_LINE + 256, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    n += (size_t)sprintf(buf + n, "ts_ns,symbol,price,size\n");
    const char *tail = "7,OK,1.5,2";               /* 10 bytes */
    size_t zeros = MD_CSV_MAX_LINE - strlen(tail); /* line = zeros + tail */
    for (int pass = 0; pass < 2; pass++) {         /* 4096 bytes, then 4097 */
        memset(buf + n, '0', zeros + (size_t)pass);
        n += zeros + (size_t)pass;
        n += (size_t)sprintf(buf + n, "%s%s", tail, pass ? "\r\n" : "\n");
    }
    memset(buf + n, 'x', 2 * MD_CSV_MAX_LINE); /* 8192 bytes, no commas at all */
    n += 2 * MD_CSV_MAX_LINE;
    n += (size_t)sprintf(buf + n, "\n8,NEXT,3.5,4\n");
    write_file(buf, n);
    free(buf);
    md_csv *r = NULL;
    cr_assert_eq(md_csv_open(&r, path), 0);
    expect_trade(r, 2, 7, "OK", 1.5, 2);
    expect_bad(r, 3, "line longer than 4096 bytes");
    expect_bad(r, 4, "line longer than 4096 bytes");
    expect_trade(r, 5, 8, "NEXT", 3.5, 4);
    expect_eof(r);
    md_csv_close(r);
}

/* A file several times the reader's 1 MiB block, rows known in closed form:
 * row i (line i + 2) = ts 1000 + i, symbol S<i % 7>, price (i % 1000) + 0.25,
 * size i % 50 + 1. */
Test(md_csv, large_file_crosses_read_blocks)
{
    const int rows = 200000;
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("ts_ns,symbol,price,size\n", f);
    for (int i = 0; i < rows; i++)
        fprintf(f, "%d,S%d,%d.25,%d\n", 1000 + i, i % 7, i % 1000, i % 50 + 1);
    cr_assert_eq(fclose(f), 0);
    md_csv *r = NULL;
    md_trade t;
    char sym[16];
    cr_assert_eq(md_csv_open(&r, path), 0);
    for (int i = 0; i < rows; i++) {
        cr_assert_eq(md_csv_next(r, &t), 1, "row %d: %s", i, md_csv_error(r));
        snprintf(sym, sizeof sym, "S%d", i % 7);
        if (t.ts_ns != (uint64_t)(1000 + i) || strcmp(t.symbol, sym) != 0 ||
            t.price != (i % 1000) + 0.25 || t.size != i % 50 + 1)
            cr_assert_fail("row %d differs: %llu %s %.17g %g", i, (unsigned long long)t.ts_ns,
                           t.symbol, t.price, t.size);
    }
    cr_assert_eq(md_csv_line(r), (uint64_t)rows + 1);
    expect_eof(r);
    md_csv_close(r);
}

static void expect_refused(const char *content, size_t len, int code, const char *reason)
{
    md_csv *r = (md_csv *)1;
    write_file(content, len);
    cr_assert_eq(md_csv_open(&r, path), code);
    cr_assert_null(r);
    const char *msg = md_csv_error(NULL);
    cr_assert_eq(strncmp(msg, path, strlen(path)), 0, "'%s' does not name the file", msg);
    cr_assert_not_null(strstr(msg, reason), "'%s' lacks '%s'", msg, reason);
}

Test(md_csv, wrong_header_refused)
{
    expect_refused("ts,symbol,price,size\n1,A,1,1\n", 29, MESH_ECSV,
                   ":1: header must be 'ts_ns,symbol,price,size', got 'ts,symbol,price,size'");
    expect_refused("1,A,1,1\n", 8, MESH_ECSV, ":1: header must be");
    expect_refused("ts_ns,symbol,price,size,side\n", 29, MESH_ECSV,
                   "got 'ts_ns,symbol,price,size,side'");
    expect_refused("ts_ns,symbol,price\n", 19, MESH_ECSV, ":1: header must be");
    expect_refused("", 0, MESH_ECSV, ":1: empty file");
}

Test(md_csv, missing_file)
{
    md_csv *r = (md_csv *)1;
    cr_assert_eq(md_csv_open(&r, "/nonexistent/dir/trades.csv"), MESH_ENOENT);
    cr_assert_null(r);
    cr_assert_not_null(strstr(md_csv_error(NULL), "/nonexistent/dir/trades.csv: cannot open"));
    md_csv_close(NULL);
}

/* Deterministic fuzzing: a valid header followed by mutated rows (random bytes
 * replaced by separators, line breaks, NULs, digits, high bytes, plus long
 * runs). Properties: every call returns 1, 0 or MESH_ECSV; the line numbers
 * are exactly 2, 3, ... up to the number of lines in the file; every returned
 * trade satisfies the documented invariants. */
static uint64_t fuzz_state = 0x9e3779b97f4a7c15ull;

static uint32_t fuzz_rand(void)
{
    fuzz_state = fuzz_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(fuzz_state >> 33);
}

Test(md_csv, fuzzed_input_never_crashes_and_counts_lines)
{
    static const char alphabet[] = {',', '\n', '\r', '\0', '.', '-', 'e', '9', '0', ' ', '\xff'};
    static char buf[3 * MD_CSV_MAX_LINE + 4096];
    const char *e = getenv("MESH_TEST_SCALE");
    int iters = (int)(400 * (e && atof(e) > 0 ? atof(e) : 1.0)) + 20;
    for (int it = 0; it < iters; it++) {
        size_t n = (size_t)sprintf(buf, "ts_ns,symbol,price,size\n");
        size_t body = n;
        for (int row = 0; row < 40; row++)
            n += (size_t)sprintf(buf + n, "%u,SYM%u,%u.%02u,%u\n", 1000 + row, fuzz_rand() % 9,
                                 fuzz_rand() % 500, fuzz_rand() % 100, 1 + fuzz_rand() % 900);
        for (int k = 0, muts = 1 + (int)(fuzz_rand() % 12); k < muts; k++) {
            size_t at = body + fuzz_rand() % (n - body);
            if (fuzz_rand() % 16 == 0 && n + MD_CSV_MAX_LINE + 8 < sizeof buf) {
                memmove(buf + at + MD_CSV_MAX_LINE, buf + at, n - at); /* long run */
                memset(buf + at, '7', MD_CSV_MAX_LINE);
                n += MD_CSV_MAX_LINE;
            } else {
                buf[at] = alphabet[fuzz_rand() % sizeof alphabet];
            }
        }
        if (fuzz_rand() % 2)
            n -= 1 + fuzz_rand() % 8; /* maybe cut the last line short */
        uint64_t lines = 1;
        for (size_t i = body; i < n; i++)
            lines += buf[i] == '\n';
        if (n > body && buf[n - 1] != '\n')
            lines++;
        write_file(buf, n);
        md_csv *r = NULL;
        md_trade t;
        int rc;
        uint64_t expect_line = 2;
        cr_assert_eq(md_csv_open(&r, path), 0, "iteration %d: %s", it, md_csv_error(NULL));
        while ((rc = md_csv_next(r, &t)) != 0) {
            cr_assert(rc == 1 || rc == MESH_ECSV, "iteration %d: rc %d", it, rc);
            cr_assert_eq(md_csv_line(r), expect_line, "iteration %d", it);
            expect_line++;
            if (rc == MESH_ECSV) {
                cr_assert_gt(strlen(md_csv_error(r)), strlen(path));
                continue;
            }
            size_t sl = strlen(t.symbol);
            cr_assert(sl >= 1 && sl <= 15, "iteration %d: symbol length %zu", it, sl);
            cr_assert(isfinite(t.price) && t.price > 0, "iteration %d", it);
            cr_assert(t.size >= 1 && t.size == floor(t.size), "iteration %d", it);
        }
        cr_assert_eq(expect_line - 1, lines, "iteration %d: read %llu lines of %llu", it,
                     (unsigned long long)(expect_line - 1), (unsigned long long)lines);
        md_csv_close(r);
    }
}
