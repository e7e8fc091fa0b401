/* JSON printer tests: exact expected lines for hand-built messages (every
 * expected string is written out here by hand from the format rules in
 * msg_json.h), escaping, base64, non-finite numbers, bounded output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "mesh_error.h"
#include "msg_codec.h"
#include "msg_json.h"

static char out[4096];

static Meshpb__Trade sample_trade(void)
{
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    t.symbol = "AAPL";
    t.ts_ns = 1700000000123456789ull;
    t.seq = 42;
    t.price = 189.25; /* 189 + 1/4: exact in binary, prints as 189.25 */
    t.size = 100;
    t.aggressor = MESHPB__SIDE__SIDE_BUY;
    t.venue = "XNAS";
    t.trade_id = 7;
    t.recv_ts_ns = 1700000000123460000ull;
    return t;
}

static const char trade_json[] =
    "{\"type\":\"trade\",\"symbol\":\"AAPL\",\"ts_ns\":1700000000123456789,\"seq\":42,"
    "\"price\":189.25,\"size\":100,\"aggressor\":\"SIDE_BUY\",\"venue\":\"XNAS\","
    "\"trade_id\":7,\"recv_ts_ns\":1700000000123460000}";

Test(msg_json, trade_prints_exactly)
{
    Meshpb__Trade t = sample_trade();
    int n = msg_json_write(&t.base, out, sizeof out);
    cr_assert_str_eq(out, trade_json);
    cr_assert_eq(n, (int)strlen(trade_json));
}

Test(msg_json, record_decodes_then_prints)
{
    Meshpb__Trade t = sample_trade();
    uint8_t buf[128];
    int n = msg_encode(&t.base, buf, sizeof buf);
    cr_assert_gt(n, 0);
    msg_arena *a;
    cr_assert_eq(msg_arena_open(&a, 4096), 0);
    cr_assert_eq(msg_json_record(MSG_TYPE_TRADE, buf, (size_t)n, a, out, sizeof out),
                 (int)strlen(trade_json));
    cr_assert_str_eq(out, trade_json);
    cr_assert_eq(msg_json_record(999, buf, (size_t)n, a, out, sizeof out), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_json_record(MSG_TYPE_TRADE, buf, (size_t)n - 1, a, out, sizeof out),
                 MESH_EPROTO);
    msg_arena_close(a);
}

Test(msg_json, fprint_writes_one_line)
{
    Meshpb__Trade t = sample_trade();
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    cr_assert_not_null(f);
    cr_assert_eq(msg_json_fprint(f, &t.base), 0);
    cr_assert_eq(msg_json_fprint(f, &t.base), 0);
    fclose(f);
    char expect[2 * sizeof trade_json + 2];
    snprintf(expect, sizeof expect, "%s\n%s\n", trade_json, trade_json);
    cr_assert_str_eq(mem, expect);
    free(mem);
}

Test(msg_json, doubles_round_trip_and_non_finite_is_null)
{
    Meshpb__FactorReturns r = MESHPB__FACTOR_RETURNS__INIT;
    /* 0.1: %.15g gives "0.1", which reads back as the same double.
     * 1/3: %.15g "0.333333333333333" is 3.3e-16 off, more than half the
     *   double spacing near 1/3 (2^-54 / 2 = 2.8e-17), so it does not read
     *   back; %.16g "0.3333333333333333" is 1.5e-17 off: it does.
     * 2^-1074 (smallest subnormal) needs only "4.94065645841247e-324".
     * 1e300 prints as "1e+300"; -0.0 as "-0". NaN, +Inf, -Inf: null. */
    double cov[] = {0.1, 1.0 / 3.0, 4.9406564584124654e-324, 1e300, -0.0, NAN, INFINITY, -INFINITY};
    r.covariance = cov;
    r.n_covariance = sizeof cov / sizeof cov[0];
    r.r_squared = 0.5;
    cr_assert_gt(msg_json_write(&r.base, out, sizeof out), 0);
    cr_assert_str_eq(out, "{\"type\":\"factor_returns\",\"ts_ns\":0,\"seq\":0,\"start_ts_ns\":0,"
                          "\"returns\":[],\"residuals\":[],\"covariance\":[0.1,"
                          "0.3333333333333333,4.94065645841247e-324,1e+300,-0,null,null,null],"
                          "\"r_squared\":0.5,\"n_assets\":0}");
    /* And each printed number parses back to the exact double. */
    cr_assert_eq(strtod("0.3333333333333333", NULL), 1.0 / 3.0);
}

Test(msg_json, nested_and_repeated_messages)
{
    Meshpb__AssetExposures a1 = MESHPB__ASSET_EXPOSURES__INIT, a2 = MESHPB__ASSET_EXPOSURES__INIT;
    double v1[] = {1.5, -0.25}, v2[] = {0, 2};
    a1.symbol = "AAPL";
    a1.sector = "tech";
    a1.values = v1;
    a1.n_values = 2;
    a2.symbol = "XOM";
    a2.sector = "energy";
    a2.values = v2;
    a2.n_values = 2;
    Meshpb__AssetExposures *assets[] = {&a1, &a2};
    char *factors[] = {"momentum", "size"};
    Meshpb__FactorExposures e = MESHPB__FACTOR_EXPOSURES__INIT;
    e.ts_ns = 5;
    e.seq = 6;
    e.factors = factors;
    e.n_factors = 2;
    e.assets = assets;
    e.n_assets = 2;
    cr_assert_gt(msg_json_write(&e.base, out, sizeof out), 0);
    cr_assert_str_eq(out, "{\"type\":\"exposures\",\"ts_ns\":5,\"seq\":6,"
                          "\"factors\":[\"momentum\",\"size\"],\"assets\":["
                          "{\"symbol\":\"AAPL\",\"sector\":\"tech\",\"values\":[1.5,-0.25]},"
                          "{\"symbol\":\"XOM\",\"sector\":\"energy\",\"values\":[0,2]}]}");
}

Test(msg_json, absent_submessage_is_omitted_and_bools_print)
{
    Meshpb__FeatureVector f = MESHPB__FEATURE_VECTOR__INIT;
    f.symbol = "X";
    f.rsi = 70;
    f.rsi_ready = 1;
    cr_assert_gt(msg_json_write(&f.base, out, sizeof out), 0);
    cr_assert_str_eq(
        out, "{\"type\":\"features\",\"symbol\":\"X\",\"ts_ns\":0,\"seq\":0,\"source_seq\":0,"
             "\"price\":0,\"sma\":0,\"ema\":0,\"rsi\":70,\"macd\":0,\"macd_signal\":0,"
             "\"macd_hist\":0,\"bb_upper\":0,\"bb_middle\":0,\"bb_lower\":0,\"atr\":0,"
             "\"vwap\":0,\"realized_vol\":0,\"log_return\":0,\"sma_ready\":false,"
             "\"ema_ready\":false,\"rsi_ready\":true,\"macd_ready\":false,\"bb_ready\":false,"
             "\"atr_ready\":false,\"vwap_ready\":false,\"vol_ready\":false,"
             "\"return_ready\":false,\"source\":\"FEATURE_SOURCE_UNSPECIFIED\","
             "\"bar_interval_ns\":0}");
}

Test(msg_json, feature_source_and_bar_interval_print)
{
    Meshpb__FeatureVector f = MESHPB__FEATURE_VECTOR__INIT;
    f.symbol = "X";
    f.source = MESHPB__FEATURE_SOURCE__FEATURE_SOURCE_BAR;
    f.bar_interval_ns = 60000000000ull;
    cr_assert_gt(msg_json_write(&f.base, out, sizeof out), 0);
    cr_assert_not_null(
        strstr(out, ",\"source\":\"FEATURE_SOURCE_BAR\",\"bar_interval_ns\":60000000000}"), "%s",
        out);
    f.source = MESHPB__FEATURE_SOURCE__FEATURE_SOURCE_TRADE;
    cr_assert_gt(msg_json_write(&f.base, out, sizeof out), 0);
    cr_assert_not_null(strstr(out, ",\"source\":\"FEATURE_SOURCE_TRADE\","), "%s", out);
}

Test(msg_json, risk_report_prints_its_currency)
{
    Meshpb__RiskReport r = MESHPB__RISK_REPORT__INIT;
    r.ts_ns = 1;
    r.seq = 2;
    r.portfolio = "main";
    r.confidence = 0.99;
    r.horizon_days = 1;
    r.var_historical = 1250.5; /* 1250 + 1/2: exact in binary */
    r.base_currency = "EUR";
    cr_assert_gt(msg_json_write(&r.base, out, sizeof out), 0);
    cr_assert_str_eq(out, "{\"type\":\"risk\",\"ts_ns\":1,\"seq\":2,\"portfolio\":\"main\","
                          "\"confidence\":0.99,\"horizon_days\":1,\"var_historical\":1250.5,"
                          "\"es_historical\":0,\"var_parametric\":0,\"es_parametric\":0,"
                          "\"var_monte_carlo\":0,\"es_monte_carlo\":0,\"gross_exposure\":0,"
                          "\"net_exposure\":0,\"limits\":[],\"factor_var\":[],\"mc_paths\":0,"
                          "\"base_currency\":\"EUR\"}");
}

Test(msg_json, oneof_prints_only_the_set_member)
{
    Meshpb__ControlCommand c = MESHPB__CONTROL_COMMAND__INIT;
    Meshpb__ParamValue p = MESHPB__PARAM_VALUE__INIT;
    c.command_id = 9;
    c.target = "vpin";
    c.kind = MESHPB__COMMAND_KIND__COMMAND_KIND_SET_PARAM;
    p.key = "vpin.alert_threshold";
    p.value = "0.99";
    c.args_case = MESHPB__CONTROL_COMMAND__ARGS_PARAM;
    c.param = &p;
    cr_assert_gt(msg_json_write(&c.base, out, sizeof out), 0);
    cr_assert_str_eq(out, "{\"type\":\"command\",\"command_id\":9,\"ts_ns\":0,\"seq\":0,"
                          "\"target\":\"vpin\",\"kind\":\"COMMAND_KIND_SET_PARAM\","
                          "\"issued_by\":\"\",\"param\":{\"key\":\"vpin.alert_threshold\","
                          "\"value\":\"0.99\"},\"timeout_ns\":0}");
    c.args_case = MESHPB__CONTROL_COMMAND__ARGS__NOT_SET;
    cr_assert_gt(msg_json_write(&c.base, out, sizeof out), 0);
    cr_assert_null(strstr(out, "param"), "unset oneof prints nothing");
}

/* RFC 4648 section 10 test vectors, and 00 FF 10 worked by hand:
 * 00000000 11111111 00010000 -> 000000 001111 111100 010000 = 0 15 60 16
 * = "A" "P" "8" "Q". */
Test(msg_json, bytes_are_base64)
{
    static const struct {
        const char *in;
        size_t len;
        const char *b64;
    } v[] = {{"", 0, ""},
             {"f", 1, "Zg=="},
             {"fo", 2, "Zm8="},
             {"foo", 3, "Zm9v"},
             {"foob", 4, "Zm9vYg=="},
             {"fooba", 5, "Zm9vYmE="},
             {"foobar", 6, "Zm9vYmFy"},
             {"\x00\xff\x10", 3, "AP8Q"}};
    Meshpb__ControlCommand c = MESHPB__CONTROL_COMMAND__INIT;
    c.args_case = MESHPB__CONTROL_COMMAND__ARGS_OPAQUE;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        c.opaque.data = (uint8_t *)v[i].in;
        c.opaque.len = v[i].len;
        cr_assert_gt(msg_json_write(&c.base, out, sizeof out), 0);
        char want[64];
        snprintf(want, sizeof want, "\"opaque\":\"%s\"", v[i].b64);
        cr_assert_not_null(strstr(out, want), "%s in %s", want, out);
    }
}

Test(msg_json, strings_are_escaped_and_utf8_checked)
{
    Meshpb__EngineStatus s = MESHPB__ENGINE_STATUS__INIT;
    /* quote, backslash, newline, tab, U+0001, CR, BS, FF, U+00E9 (C3 A9, valid),
     * U+20AC (E2 82 AC, valid), then invalid: lone FF, truncated C3
     * before 'x', overlong C0 AF, UTF-16 surrogate ED A0 80 (3 bytes). */
    s.last_error = "a\"b\\c\nd\te\x01\r\b\f\xc3\xa9\xe2\x82\xac\xff\xc3x\xc0\xaf\xed\xa0\x80";
    cr_assert_gt(msg_json_write(&s.base, out, sizeof out), 0);
    const char *want = "\"last_error\":\"a\\\"b\\\\c\\nd\\te\\u0001\\r\\b\\f\xc3\xa9\xe2\x82\xac"
                       "\\ufffd\\ufffdx\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"";
    cr_assert_not_null(strstr(out, want), "got %s", out);
}

Test(msg_json, unknown_enum_values_print_as_numbers)
{
    Meshpb__Trade t = MESHPB__TRADE__INIT;
    t.aggressor = (Meshpb__Side)7;
    cr_assert_gt(msg_json_write(&t.base, out, sizeof out), 0);
    cr_assert_not_null(strstr(out, "\"aggressor\":7,"), "got %s", out);
}

Test(msg_json, negative_and_extreme_integers)
{
    Meshpb__EngineStatus s = MESHPB__ENGINE_STATUS__INIT;
    s.cpu = -1;
    s.last_exit_code = INT32_MIN;
    s.rss_bytes = UINT64_MAX;
    cr_assert_gt(msg_json_write(&s.base, out, sizeof out), 0);
    cr_assert_not_null(strstr(out, "\"cpu\":-1,"));
    cr_assert_not_null(strstr(out, "\"last_exit_code\":-2147483648}"), "got %s", out);
    cr_assert_not_null(strstr(out, "\"rss_bytes\":18446744073709551615,"));
}

Test(msg_json, small_buffer_gives_emsgsize_and_a_terminated_prefix)
{
    Meshpb__Trade t = sample_trade();
    char small[17];
    memset(small, 'Z', sizeof small);
    cr_assert_eq(msg_json_write(&t.base, small, sizeof small), MESH_EMSGSIZE);
    cr_assert_str_eq(small, "{\"type\":\"trade\",");
    char exact[sizeof trade_json];
    cr_assert_eq(msg_json_write(&t.base, exact, sizeof exact), (int)strlen(trade_json));
    cr_assert_eq(msg_json_write(&t.base, exact, sizeof exact - 1), MESH_EMSGSIZE);
    cr_assert_eq(msg_json_write(&t.base, small, 0), MESH_EMSGSIZE);
    cr_assert_eq(msg_json_write(NULL, small, sizeof small), MESH_EINVAL);
    cr_assert_eq(msg_json_fprint(NULL, &t.base), MESH_EINVAL);
}

Test(msg_json, unregistered_message_uses_its_full_name)
{
    Meshpb__NamedValue v = MESHPB__NAMED_VALUE__INIT;
    v.name = "beta";
    v.value = -1.25;
    cr_assert_gt(msg_json_write(&v.base, out, sizeof out), 0);
    cr_assert_str_eq(out, "{\"type\":\"meshpb.NamedValue\",\"name\":\"beta\",\"value\":-1.25}");
}
