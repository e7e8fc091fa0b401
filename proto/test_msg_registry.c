/* Registry tests: ids are the stable wire contract, unique and complete;
 * lookups by id, name and descriptor agree. */
#include <ctype.h>
#include <string.h>
#include <criterion/criterion.h>

#include "mesh_error.h"
#include "msg_registry.h"

/* The published id table (ARCHITECTURE "Messages"; ids never change). This
 * list is written independently of MSG_TYPE_MAP: renumbering a type in the
 * map, or dropping one, fails here. */
static const struct {
    uint32_t id;
    const char *name;
    const char *full_name;
} expected[] = {
    {1, "trade", "meshpb.Trade"},
    {2, "quote", "meshpb.Quote"},
    {3, "bar", "meshpb.Bar"},
    {16, "features", "meshpb.FeatureVector"},
    {17, "vpin", "meshpb.VpinUpdate"},
    {18, "exposures", "meshpb.FactorExposures"},
    {19, "factor_returns", "meshpb.FactorReturns"},
    {20, "risk", "meshpb.RiskReport"},
    {21, "portfolio", "meshpb.PortfolioState"},
    {22, "weights", "meshpb.TargetWeights"},
    {23, "prediction", "meshpb.Prediction"},
    {24, "margin", "meshpb.MarginStatus"},
    {48, "order", "meshpb.Order"},
    {49, "pretrade", "meshpb.PreTradeDecision"},
    {50, "fill", "meshpb.Fill"},
    {64, "heartbeat", "meshpb.Heartbeat"},
    {65, "status", "meshpb.EngineStatus"},
    {66, "command", "meshpb.ControlCommand"},
};
#define N_EXPECTED (sizeof expected / sizeof expected[0])

Test(msg_registry, ids_match_the_published_table)
{
    cr_assert_eq(MSG_TYPE_COUNT, N_EXPECTED);
    for (size_t i = 0; i < N_EXPECTED; i++) {
        const msg_type_info *t;
        cr_assert_eq(msg_type_by_id(expected[i].id, &t), 0, "id %u", expected[i].id);
        cr_assert_eq(t->id, expected[i].id);
        cr_assert_str_eq(t->name, expected[i].name);
        cr_assert_str_eq(t->descriptor->name, expected[i].full_name);
    }
    cr_assert_eq(MSG_TYPE_TRADE, 1);
    cr_assert_eq(MSG_TYPE_VPIN, 17);
    cr_assert_eq(MSG_TYPE_CONTROL_COMMAND, 66);
}

Test(msg_registry, entries_are_unique_sorted_and_complete)
{
    uint32_t prev = 0;
    for (size_t i = 0; i < MSG_TYPE_COUNT; i++) {
        const msg_type_info *t = msg_type_at(i);
        cr_assert_not_null(t);
        cr_assert_gt(t->id, prev, "ids ascending and unique at index %zu", i);
        cr_assert_lt(t->id, 65536u, "ids fit a 16-bit record header field");
        prev = t->id;
        cr_assert_not_null(t->descriptor, "%s has a descriptor", t->name);
        cr_assert_eq(t->descriptor->magic, PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
        cr_assert_str_eq(t->descriptor->package_name, "meshpb");
        cr_assert_gt(t->descriptor->n_fields, 0);
        for (const char *c = t->name; *c; c++)
            cr_assert(islower((unsigned char)*c) || *c == '_', "%s is lower-case", t->name);
        for (size_t j = 0; j < i; j++) {
            const msg_type_info *u = msg_type_at(j);
            cr_assert_str_neq(t->name, u->name);
            cr_assert_neq(t->descriptor, u->descriptor, "%s and %s", t->name, u->name);
        }
    }
    cr_assert_null(msg_type_at(MSG_TYPE_COUNT));
}

/* Ids in MSG_TYPE_RETIRED must never come back into MSG_TYPE_MAP. */
#define RETIRED_CHECK(sym, id_, name_)                                                             \
    cr_assert_eq(msg_type_by_id(id_, &t), MESH_EUNKNOWNTYPE, "retired id %d reused", id_);

Test(msg_registry, retired_ids_stay_unknown)
{
    const msg_type_info *t;
    (void)t;
    MSG_TYPE_RETIRED(RETIRED_CHECK)
}

Test(msg_registry, lookups_agree)
{
    for (size_t i = 0; i < MSG_TYPE_COUNT; i++) {
        const msg_type_info *t = msg_type_at(i), *u;
        cr_assert_eq(msg_type_by_id(t->id, &u), 0);
        cr_assert_eq(u, t);
        cr_assert_eq(msg_type_by_name(t->name, &u), 0);
        cr_assert_eq(u, t);
        cr_assert_eq(msg_type_by_descriptor(t->descriptor, &u), 0);
        cr_assert_eq(u, t);
        cr_assert_eq(msg_type_by_name(t->descriptor->name, &u), 0);
        cr_assert_eq(u, t);
        cr_assert_eq(msg_type_by_name(t->descriptor->short_name, &u), 0);
        cr_assert_eq(u, t);
        cr_assert_str_eq(msg_type_name(t->id), t->name);
    }
}

Test(msg_registry, names_are_case_insensitive)
{
    const msg_type_info *t;
    cr_assert_eq(msg_type_by_name("TRADE", &t), 0);
    cr_assert_eq(t->id, 1);
    cr_assert_eq(msg_type_by_name("VpinUpdate", &t), 0);
    cr_assert_eq(t->id, 17);
    cr_assert_eq(msg_type_by_name("MESHPB.FILL", &t), 0);
    cr_assert_eq(t->id, 50);
    cr_assert_eq(msg_type_by_name("Features", &t), 0);
    cr_assert_eq(t->id, 16);
}

Test(msg_registry, unknown_ids_and_names_are_rejected)
{
    const msg_type_info *t = (const msg_type_info *)0x1;
    cr_assert_eq(msg_type_by_id(0, &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_type_by_id(4, &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_type_by_id(65535, &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_type_by_id(UINT32_MAX, &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_type_by_name("", &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_type_by_name("trades", &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_type_by_name("meshpb.NamedValue", &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_type_by_name(NULL, &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(msg_type_by_descriptor(&meshpb__named_value__descriptor, &t), MESH_EUNKNOWNTYPE);
    cr_assert_eq(t, (const msg_type_info *)0x1, "out untouched on error");
    cr_assert_null(msg_type_name(5));
}
