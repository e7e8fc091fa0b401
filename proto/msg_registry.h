/* Message type registry: the one table of stable numeric type ids, each
 * mapped to its protobuf-c descriptor and a short name ("trade", "vpin"). */
#ifndef MSG_REGISTRY_H
#define MSG_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "market.pb-c.h"
#include "analytics.pb-c.h"
#include "orders.pb-c.h"
#include "control.pb-c.h"

/* The type ids. Each id is carried in every ring record header and on the
 * nng bridge, so an id is NEVER renumbered or reused: to retire a type,
 * move its line to MSG_TYPE_RETIRED (the tests reject any reuse). Ids fit
 * in 16 bits; ranges group areas: 1-15 market data, 16-47 analytics, 48-63
 * order path, 64-79 control.
 *   X(ENUM_SUFFIX, id, "short name", C type, descriptor) */
#define MSG_TYPE_MAP(X)                                                                            \
    X(TRADE, 1, "trade", Meshpb__Trade, meshpb__trade__descriptor)                                 \
    X(QUOTE, 2, "quote", Meshpb__Quote, meshpb__quote__descriptor)                                 \
    X(BAR, 3, "bar", Meshpb__Bar, meshpb__bar__descriptor)                                         \
    X(FEATURES, 16, "features", Meshpb__FeatureVector, meshpb__feature_vector__descriptor)         \
    X(VPIN, 17, "vpin", Meshpb__VpinUpdate, meshpb__vpin_update__descriptor)                       \
    X(FACTOR_EXPOSURES, 18, "exposures", Meshpb__FactorExposures,                                  \
      meshpb__factor_exposures__descriptor)                                                        \
    X(FACTOR_RETURNS, 19, "factor_returns", Meshpb__FactorReturns,                                 \
      meshpb__factor_returns__descriptor)                                                          \
    X(RISK_REPORT, 20, "risk", Meshpb__RiskReport, meshpb__risk_report__descriptor)                \
    X(PORTFOLIO_STATE, 21, "portfolio", Meshpb__PortfolioState,                                    \
      meshpb__portfolio_state__descriptor)                                                         \
    X(TARGET_WEIGHTS, 22, "weights", Meshpb__TargetWeights, meshpb__target_weights__descriptor)    \
    X(PREDICTION, 23, "prediction", Meshpb__Prediction, meshpb__prediction__descriptor)            \
    X(MARGIN_STATUS, 24, "margin", Meshpb__MarginStatus, meshpb__margin_status__descriptor)        \
    X(ORDER, 48, "order", Meshpb__Order, meshpb__order__descriptor)                                \
    X(PRETRADE_DECISION, 49, "pretrade", Meshpb__PreTradeDecision,                                 \
      meshpb__pre_trade_decision__descriptor)                                                      \
    X(FILL, 50, "fill", Meshpb__Fill, meshpb__fill__descriptor)                                    \
    X(HEARTBEAT, 64, "heartbeat", Meshpb__Heartbeat, meshpb__heartbeat__descriptor)                \
    X(ENGINE_STATUS, 65, "status", Meshpb__EngineStatus, meshpb__engine_status__descriptor)        \
    X(CONTROL_COMMAND, 66, "command", Meshpb__ControlCommand, meshpb__control_command__descriptor)

/* Ids once used and now retired: never to be used again.
 *   X(ENUM_SUFFIX, id, "old short name") */
#define MSG_TYPE_RETIRED(X)

/* MSG_TYPE_TRADE = 1, ... 0 is never a valid type id. */
enum msg_type_id {
    MSG_TYPE_NONE = 0,
#define MSG_TYPE_ENUM(sym, id, name, ctype, desc) MSG_TYPE_##sym = id,
    MSG_TYPE_MAP(MSG_TYPE_ENUM)
#undef MSG_TYPE_ENUM
};

/* Number of registered types. */
#define MSG_TYPE_COUNT                                 (0 MSG_TYPE_MAP(MSG_TYPE_PLUS_ONE_))
#define MSG_TYPE_PLUS_ONE_(sym, id, name, ctype, desc) +1

/* One registry entry. Entries are static and immutable. */
typedef struct msg_type_info {
    uint32_t id;                                  /* stable type id */
    const char *name;                             /* short name, lower case */
    const ProtobufCMessageDescriptor *descriptor; /* protobuf-c descriptor */
} msg_type_info;

/* Looks up a type id. Returns 0 and *out, or MESH_EUNKNOWNTYPE (*out
 * untouched). Thread-safe (reads a constant table). */
int msg_type_by_id(uint32_t id, const msg_type_info **out);

/* Looks up a type by name, case-insensitively: the short name ("trade"),
 * the message name ("Trade", "VpinUpdate") or the full name
 * ("meshpb.Trade"). Returns 0 and *out, or MESH_EUNKNOWNTYPE (also for
 * NULL). Thread-safe. */
int msg_type_by_name(const char *name, const msg_type_info **out);

/* Looks up the registered type whose descriptor is `desc`. Returns 0 and
 * *out, or MESH_EUNKNOWNTYPE. Thread-safe. */
int msg_type_by_descriptor(const ProtobufCMessageDescriptor *desc, const msg_type_info **out);

/* The registered types in id order: i in [0, MSG_TYPE_COUNT); NULL beyond.
 * Thread-safe. */
const msg_type_info *msg_type_at(size_t i);

/* Short name of a type id, or NULL when unknown. Thread-safe. */
const char *msg_type_name(uint32_t id);

#endif
