/* Trade CSV reader: reads the file in large blocks with read(2), splits lines
 * with memchr and parses each field by hand, so it streams at millions of rows/s. */
#include "md_csv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "md_ser.h"
#include "mesh_error.h"

#define MD_CSV_BUF     (1u << 20) /* read block; must exceed MD_CSV_MAX_LINE + 2 */
#define MD_CSV_ERR_MAX 512
#define MD_CSV_HEADER  "ts_ns,symbol,price,size"
#define MD_CSV_QUOTE   40 /* longest field value quoted in an error message */
#define MD_CSV_TAG     MD_TAG('M', 'D', 'C', 'V')
#define MD_CSV_VERSION 1u
#define MD_CSV_CHECK   256 /* bytes before a saved position that must be unchanged */

_Static_assert(MD_CSV_BUF > MD_CSV_MAX_LINE + 2, "read block must hold a whole line");

struct md_csv {
    int fd;
    bool eof;
    bool have_last;   /* last_ts is valid */
    size_t start;     /* first unread byte in buf */
    size_t end;       /* one past the last valid byte in buf */
    uint64_t buf_off; /* file offset of buf[0] */
    uint64_t line;    /* number of the line last returned */
    uint64_t last_ts;
    int read_errno; /* errno of the last failed read(2) */
    char *path;
    char *buf;
    char err[MD_CSV_ERR_MAX];
};

/* Message of this thread's last failed md_csv_open. */
static _Thread_local char md_csv_open_err[MD_CSV_ERR_MAX];

/* Status of md_csv_getline beyond "a line" (1) and "end of file" (0). */
#define MD_LINE_TOO_LONG 2

static void md_csv_fail(md_csv *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats "<path>:<line>: <reason>" into r->err. */
static void md_csv_fail(md_csv *r, const char *fmt, ...)
{
    int n = snprintf(r->err, sizeof r->err, "%s:%llu: ", r->path, (unsigned long long)r->line);
    if (n < 0 || (size_t)n >= sizeof r->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Copies a field value for an error message: at most MD_CSV_QUOTE bytes, with
 * control bytes shown as '?', and "..." when shortened. dst holds 64 bytes. */
static const char *md_csv_quote(char dst[64], const char *s, size_t len)
{
    size_t n = len > MD_CSV_QUOTE ? MD_CSV_QUOTE : len;
    for (size_t i = 0; i < n; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n < len)
        memcpy(dst + n, "...", 4);
    else
        dst[n] = '\0';
    return dst;
}

/* Reads more bytes into buf after moving the unread tail to the front.
 * Returns 0 (r->eof set at end of file) or MESH_EIO-style code. */
static int md_csv_fill(md_csv *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->buf_off += r->start;
        r->start = 0;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, MD_CSV_BUF - r->end);
        if (n > 0) {
            r->end += (size_t)n;
            return 0;
        }
        if (n == 0) {
            r->eof = true;
            return 0;
        }
        if (errno != EINTR) {
            r->read_errno = errno;
            return mesh_err_from_errno(errno);
        }
    }
}

/* Discards the rest of an over-long line up to and including its '\n'. */
static int md_csv_skip_line(md_csv *r)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            r->start = (size_t)(nl - r->buf) + 1;
            return 0;
        }
        r->buf_off += r->end;
        r->start = r->end = 0;
        if (r->eof)
            return 0;
        int rc = md_csv_fill(r);
        if (rc < 0)
            return rc;
    }
}

/* Next line without its "\n" or "\r\n". Returns 1 (*line, *len set), 0 at end
 * of file, MD_LINE_TOO_LONG (line skipped), or a negative MESH_E* code. */
static int md_csv_getline(md_csv *r, const char **line, size_t *len)
{
    for (;;) {
        size_t avail = r->end - r->start;
        char *p = r->buf + r->start;
        char *nl = memchr(p, '\n', avail > MD_CSV_MAX_LINE + 2 ? MD_CSV_MAX_LINE + 2 : avail);
        size_t n;
        if (nl) {
            n = (size_t)(nl - p);
            r->start += n + 1;
        } else if (avail > MD_CSV_MAX_LINE + 1) {
            r->line++;
            int rc = md_csv_skip_line(r);
            return rc < 0 ? rc : MD_LINE_TOO_LONG;
        } else if (!r->eof) {
            int rc = md_csv_fill(r);
            if (rc < 0)
                return rc;
            continue;
        } else if (avail == 0) {
            return 0;
        } else {
            n = avail; /* last line has no '\n' */
            r->start = r->end;
        }
        r->line++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > MD_CSV_MAX_LINE)
            return MD_LINE_TOO_LONG;
        *line = p;
        *len = n;
        return 1;
    }
}

/* Parses a non-empty run of decimal digits into *v; false on any other byte or
 * on overflow of uint64_t. */
static bool md_parse_u64(const char *s, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

static const double md_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Parses a decimal number. Fast path (Clinger): "digits[.digits]" with at most
 * 15 significant digits is an exact integer divided by an exact power of ten,
 * one correctly rounded division. Anything else that looks numeric goes to
 * strtod. Returns false if the field is not a number (nan, inf, hex excluded). */
static bool md_parse_double(const char *s, size_t len, double *v)
{
    uint64_t m = 0;
    int sig = 0, frac = 0, ndig = 0;
    bool dot = false;
    size_t i = 0;
    for (; i < len && sig <= 15; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d <= 9) {
            ndig++;
            m = m * 10 + d;
            sig += m != 0;
            frac += dot;
        } else if (s[i] == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (i == len && ndig > 0 && sig <= 15 && frac <= 22) {
        *v = (double)m / md_pow10[frac];
        return true;
    }
    char tmp[64];
    if (len == 0 || len >= sizeof tmp)
        return false;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
            return false;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    *v = strtod(tmp, &end);
    return end == tmp + len && end != tmp;
}

/* Checks a symbol: 1..MD_SYMBOL_MAX printable, non-space ASCII bytes. */
static bool md_csv_symbol(md_csv *r, const char *s, size_t len, char out[16])
{
    char q[64];
    if (len == 0) {
        md_csv_fail(r, "symbol is empty");
        return false;
    }
    if (len > MD_SYMBOL_MAX) {
        md_csv_fail(r, "symbol '%s' is longer than %d characters", md_csv_quote(q, s, len),
                    MD_SYMBOL_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"') {
            md_csv_fail(r, "symbol '%s' contains a space, quote or non-printable byte",
                        md_csv_quote(q, s, len));
            return false;
        }
    }
    memcpy(out, s, len);
    memset(out + len, 0, 16 - len);
    return true;
}

/* Validates one row split into its four fields and fills *t. Returns true if
 * the row is well formed (monotonicity is checked by the caller). */
static bool md_csv_row(md_csv *r, const char *const f[4], const size_t n[4], md_trade *t)
{
    char q[64];
    if (!md_parse_u64(f[0], n[0], &t->ts_ns)) {
        md_csv_fail(r, "ts_ns '%s' is not an unsigned 64-bit integer", md_csv_quote(q, f[0], n[0]));
        return false;
    }
    if (!md_csv_symbol(r, f[1], n[1], t->symbol))
        return false;
    if (!md_parse_double(f[2], n[2], &t->price)) {
        md_csv_fail(r, "price '%s' is not a number", md_csv_quote(q, f[2], n[2]));
        return false;
    }
    if (!isfinite(t->price)) {
        md_csv_fail(r, "price '%s' is not finite", md_csv_quote(q, f[2], n[2]));
        return false;
    }
    if (!(t->price > 0)) {
        md_csv_fail(r, "price '%s' must be > 0", md_csv_quote(q, f[2], n[2]));
        return false;
    }
    uint64_t size;
    if (!md_parse_u64(f[3], n[3], &size) || size == 0 || size > (1ull << 53)) {
        md_csv_fail(r, "size '%s' is not a positive integer (1..2^53)",
                    md_csv_quote(q, f[3], n[3]));
        return false;
    }
    t->size = (double)size;
    t->aggressor = 0;
    return true;
}

/* Splits a line at commas into exactly four fields; false if the count differs. */
static bool md_csv_split(md_csv *r, const char *line, size_t len, const char *f[4], size_t n[4])
{
    const char *p = line, *end = line + len;
    int k = 0;
    for (;;) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *stop = c ? c : end;
        if (k < 4) {
            f[k] = p;
            n[k] = (size_t)(stop - p);
        }
        k++;
        if (!c)
            break;
        p = c + 1;
    }
    if (k != 4) {
        if (len == 0)
            md_csv_fail(r, "empty line (expected ts_ns,symbol,price,size)");
        else
            md_csv_fail(r, "expected 4 fields (ts_ns,symbol,price,size), got %d", k);
        return false;
    }
    return true;
}

int md_csv_next(md_csv *r, md_trade *out)
{
    const char *line = NULL, *f[4];
    size_t len = 0, n[4];
    r->err[0] = '\0';
    int rc = md_csv_getline(r, &line, &len);
    if (rc == 0)
        return 0;
    if (rc < 0) {
        snprintf(r->err, sizeof r->err, "%s: read error after line %llu: %s", r->path,
                 (unsigned long long)r->line, strerror(r->read_errno));
        return rc;
    }
    if (rc == MD_LINE_TOO_LONG) {
        md_csv_fail(r, "line longer than %d bytes", MD_CSV_MAX_LINE);
        return MESH_ECSV;
    }
    if (!md_csv_split(r, line, len, f, n) || !md_csv_row(r, f, n, out))
        return MESH_ECSV;
    if (r->have_last && out->ts_ns < r->last_ts) {
        md_csv_fail(r, "ts_ns %llu goes backwards (previous row had %llu)",
                    (unsigned long long)out->ts_ns, (unsigned long long)r->last_ts);
        return MESH_ECSV;
    }
    r->last_ts = out->ts_ns;
    r->have_last = true;
    return 1;
}

/* Reads line 1 and checks it is the header (a UTF-8 byte-order mark is allowed). */
static int md_csv_header(md_csv *r)
{
    const char *line = NULL;
    size_t len = 0;
    char q[64];
    int rc = md_csv_getline(r, &line, &len);
    if (rc < 0) {
        snprintf(r->err, sizeof r->err, "%s: read error: %s", r->path, strerror(r->read_errno));
        return rc;
    }
    if (rc == 0) {
        r->line = 1;
        md_csv_fail(r, "empty file: expected the header '" MD_CSV_HEADER "'");
        return MESH_ECSV;
    }
    if (rc == MD_LINE_TOO_LONG) {
        md_csv_fail(r, "header line longer than %d bytes", MD_CSV_MAX_LINE);
        return MESH_ECSV;
    }
    if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3;
        len -= 3;
    }
    if (len != strlen(MD_CSV_HEADER) || memcmp(line, MD_CSV_HEADER, len) != 0) {
        md_csv_fail(r, "header must be '" MD_CSV_HEADER "', got '%s'", md_csv_quote(q, line, len));
        return MESH_ECSV;
    }
    return 0;
}

int md_csv_open(md_csv **out, const char *path)
{
    int rc;
    md_csv *r;
    *out = NULL;
    md_csv_open_err[0] = '\0';
    r = calloc(1, sizeof *r);
    if (!r) {
        rc = MESH_ENOMEM;
        goto fail;
    }
    r->fd = -1;
    r->path = strdup(path);
    r->buf = malloc(MD_CSV_BUF);
    if (!r->path || !r->buf) {
        rc = MESH_ENOMEM;
        goto fail_free;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = mesh_err_from_errno(errno);
        snprintf(md_csv_open_err, sizeof md_csv_open_err, "%s: cannot open: %s", path,
                 mesh_strerror(rc));
        goto fail_free;
    }
    (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    rc = md_csv_header(r);
    if (rc < 0) {
        memcpy(md_csv_open_err, r->err, sizeof md_csv_open_err);
        goto fail_close;
    }
    r->err[0] = '\0';
    *out = r;
    return 0;

fail_close:
    close(r->fd);
fail_free:
    free(r->buf);
    free(r->path);
    free(r);
fail:
    if (md_csv_open_err[0] == '\0')
        snprintf(md_csv_open_err, sizeof md_csv_open_err, "%s: %s", path, mesh_strerror(rc));
    return rc;
}

/* Hash of the (up to MD_CSV_CHECK) bytes of the file before offset. */
static int md_csv_check(const md_csv *r, uint64_t offset, uint32_t *n, uint64_t *hash)
{
    unsigned char tmp[MD_CSV_CHECK];
    *n = offset < MD_CSV_CHECK ? (uint32_t)offset : MD_CSV_CHECK;
    ssize_t got;
    do
        got = pread(r->fd, tmp, *n, (off_t)(offset - *n));
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)*n)
        return got < 0 ? mesh_err_from_errno(errno) : MESH_EINVAL;
    *hash = md_fnv64(MD_FNV_INIT, tmp, *n);
    return 0;
}

int md_csv_save(md_csv *r, void *buf, size_t cap, size_t *len)
{
    uint64_t offset = r->buf_off + r->start;
    uint32_t n = 0;
    uint64_t hash = 0;
    int rc = md_csv_check(r, offset, &n, &hash);
    if (rc < 0) {
        snprintf(r->err, sizeof r->err,
                 "%s: position not saved: cannot read the %u bytes before offset %llu (after "
                 "line %llu): %s",
                 r->path, n, (unsigned long long)offset, (unsigned long long)r->line,
                 rc == MESH_EINVAL ? "the file is shorter now (truncated?)" : mesh_strerror(rc));
        return rc == MESH_EINVAL ? MESH_EIO : rc;
    }
    md_wr w;
    md_wr_init(&w, buf, cap);
    md_put_tag(&w, MD_CSV_TAG, MD_CSV_VERSION);
    md_put_u64(&w, offset);
    md_put_u64(&w, r->line);
    md_put_u32(&w, r->have_last);
    md_put_u64(&w, r->last_ts);
    md_put_u32(&w, n);
    md_put_u64(&w, hash);
    return md_wr_end(&w, len);
}

int md_csv_restore(md_csv *r, const void *buf, size_t len)
{
    md_rd rd;
    md_rd_init(&rd, buf, len);
    int rc = md_get_tag(&rd, MD_CSV_TAG, MD_CSV_VERSION);
    if (rc < 0)
        return rc;
    uint64_t offset = md_get_u64(&rd), line = md_get_u64(&rd);
    uint32_t have_last = md_get_u32(&rd);
    uint64_t last_ts = md_get_u64(&rd);
    uint32_t n = md_get_u32(&rd);
    uint64_t hash = md_get_u64(&rd);
    if ((rc = md_rd_end(&rd)) < 0 || have_last > 1 || n > MD_CSV_CHECK ||
        n != (offset < MD_CSV_CHECK ? offset : MD_CSV_CHECK) || line == 0)
        return MESH_ECORRUPT;
    uint32_t got_n = 0;
    uint64_t got = 0;
    rc = md_csv_check(r, offset, &got_n, &got);
    if (rc == MESH_EINVAL || (rc == 0 && got != hash)) {
        snprintf(r->err, sizeof r->err,
                 "%s: the file changed: it no longer holds the bytes read before offset %llu "
                 "(line %llu)",
                 r->path, (unsigned long long)offset, (unsigned long long)line);
        return MESH_EINVAL;
    }
    if (rc < 0)
        return rc;
    if (lseek(r->fd, (off_t)offset, SEEK_SET) < 0)
        return mesh_err_from_errno(errno);
    r->buf_off = offset;
    r->start = r->end = 0;
    r->eof = false;
    r->line = line;
    r->have_last = have_last;
    r->last_ts = last_ts;
    r->err[0] = '\0';
    return 0;
}

const char *md_csv_error(const md_csv *r)
{
    return r ? r->err : md_csv_open_err;
}

uint64_t md_csv_line(const md_csv *r)
{
    return r->line;
}

void md_csv_close(md_csv *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->buf);
    free(r->path);
    free(r);
}
