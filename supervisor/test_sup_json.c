/* Unit tests of the control protocol JSON: exact printer output, escaping,
 * and the reader on valid and invalid documents. */
#include "sup_json.h"

#include "mesh_error.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

Test(sup_json, printer_places_commas_and_escapes)
{
    sup_json j;
    sup_json_init(&j, 4096);
    sup_json_obj(&j);
    sup_json_kstr(&j, "name", "a\"b\\c\n\x01");
    sup_json_kint(&j, "neg", -42);
    sup_json_kuint(&j, "big", 18446744073709551615ull);
    sup_json_kbool(&j, "t", 1);
    sup_json_kdouble(&j, "nan", NAN);
    sup_json_key(&j, "list");
    sup_json_arr(&j);
    sup_json_int(&j, 1);
    sup_json_obj(&j);
    sup_json_obj_end(&j);
    sup_json_str(&j, NULL);
    sup_json_arr_end(&j);
    sup_json_obj_end(&j);
    cr_assert_eq(sup_json_error(&j), 0);
    cr_assert_str_eq(sup_json_text(&j, NULL),
                     "{\"name\":\"a\\\"b\\\\c\\n\\u0001\",\"neg\":-42,"
                     "\"big\":18446744073709551615,\"t\":true,\"nan\":null,"
                     "\"list\":[1,{},null]}");
    sup_json_free(&j);
}

Test(sup_json, printer_reports_the_size_limit)
{
    sup_json j;
    sup_json_init(&j, 8);
    sup_json_arr(&j);
    sup_json_str(&j, "more than eight bytes");
    sup_json_arr_end(&j);
    cr_assert_eq(sup_json_error(&j), MESH_EMSGSIZE);
    sup_json_free(&j);
}

Test(sup_json, reader_walks_a_status_like_document)
{
    const char *doc = "{\"ok\":true,\"engines\":[{\"name\":\"md\",\"pid\":12,"
                      "\"hist\":[{\"delay_ms\":100},{\"delay_ms\":200}]},"
                      "{\"name\":\"\\u00e9\\ud83d\\ude00\",\"x\":-1.5e2,\"n\":null}]}";
    sup_jval *v = NULL;
    char err[128];
    cr_assert_eq(sup_jval_parse(&v, doc, strlen(doc), err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sup_jval_gbool(v, "ok", 0), 1);
    const sup_jval *es = sup_jval_get(v, "engines");
    cr_assert_eq(sup_jval_len(es), 2u);
    const sup_jval *e0 = sup_jval_at(es, 0);
    cr_assert_str_eq(sup_jval_gstr(e0, "name", ""), "md");
    cr_assert_eq(sup_jval_gnum(e0, "pid", 0), 12.0);
    cr_assert_eq(sup_jval_gnum(sup_jval_at(sup_jval_get(e0, "hist"), 1), "delay_ms", 0), 200.0);
    const sup_jval *e1 = sup_jval_at(es, 1);
    /* U+00E9 = C3 A9; U+1F600 (surrogates D83D DE00) = F0 9F 98 80 */
    cr_assert_str_eq(sup_jval_gstr(e1, "name", ""), "\xc3\xa9\xf0\x9f\x98\x80");
    cr_assert_eq(sup_jval_gnum(e1, "x", 0), -150.0);
    cr_assert_eq(sup_jval_get(e1, "n")->type, SUP_J_NULL);
    cr_assert_null(sup_jval_at(es, 2));
    cr_assert_eq(sup_jval_gnum(e1, "missing", 7), 7.0);
    sup_jval_free(v);
}

Test(sup_json, reader_refuses_malformed_input_with_the_offset)
{
    const char *bad[] = {"{\"a\":}", "[1,2", "{\"a\" 1}", "\"\\ud800\"",
                         "tru",      "[1]x", "{1:2}",     "\"a\x01\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sup_jval *v = (sup_jval *)1;
        char err[128] = "";
        int rc = sup_jval_parse(&v, bad[i], strlen(bad[i]), err, sizeof(err));
        cr_assert_eq(rc, MESH_EPROTO, "%s", bad[i]);
        cr_assert_null(v);
        cr_assert(strncmp(err, "offset ", 7) == 0, "%s: %s", bad[i], err);
    }
}

Test(sup_json, printer_output_reads_back)
{
    sup_json j;
    sup_json_init(&j, 1 << 16);
    sup_json_obj(&j);
    sup_json_kstr(&j, "s", "tab\there \"q\" \\ / \x7f");
    sup_json_kdouble(&j, "d", 0.1);
    sup_json_obj_end(&j);
    size_t len;
    const char *t = sup_json_text(&j, &len);
    sup_jval *v = NULL;
    cr_assert_eq(sup_jval_parse(&v, t, len, NULL, 0), 0);
    cr_assert_str_eq(sup_jval_gstr(v, "s", ""), "tab\there \"q\" \\ / \x7f");
    cr_assert_eq(sup_jval_gnum(v, "d", 0), 0.1);
    sup_jval_free(v);
    sup_json_free(&j);
}
