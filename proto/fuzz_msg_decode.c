/* libFuzzer target for msg_decode and the JSON printer. The first input
 * byte picks a registered type (an id outside the table 1 time in 16), the
 * rest is the payload. Anything that decodes must print, re-encode and
 * decode again to the same bytes, and the hand-written Trade decoder must
 * agree with protobuf-c whenever it accepts; a violation aborts so
 * libFuzzer keeps the input. Built only with clang, on request:
 *   CC=clang meson setup build-fuzz && ninja -C build-fuzz proto/fuzz_msg_decode
 *   mkdir corpus && MESH_FUZZ_SEEDS=corpus build-fuzz/proto/fuzz_msg_decode -runs=0
 *   build-fuzz/proto/fuzz_msg_decode -max_total_time=60 corpus
 * (MESH_FUZZ_SEEDS=dir writes one valid record per type and variant there.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_error.h"
#include "msg_codec.h"
#include "msg_fast.h"
#include "msg_json.h"
#include "msg_testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static msg_arena *arena, *arena2;
static uint8_t again[1 << 17], again2[1 << 17];
static char json[1 << 18];

/* Writes seed inputs (type byte + valid payload) into $MESH_FUZZ_SEEDS. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("MESH_FUZZ_SEEDS");
    msg_arena *a;
    if (dir == NULL || msg_arena_open(&a, 1 << 20) < 0)
        return 0;
    for (size_t i = 0; i < MSG_TYPE_COUNT; i++) {
        for (unsigned v = 0; v < 3; v++) {
            msg_arena_reset(a);
            ProtobufCMessage *m = tu_fill(msg_type_at(i)->descriptor, a, v);
            again[0] = (uint8_t)i;
            int n = m != NULL ? msg_encode(m, again + 1, sizeof again - 1) : -1;
            char path[4096];
            snprintf(path, sizeof path, "%s/seed-%s-%u", dir, msg_type_at(i)->name, v);
            FILE *f = n >= 0 ? fopen(path, "wb") : NULL;
            if (f != NULL) {
                fwrite(again, 1, (size_t)n + 1, f);
                fclose(f);
            }
        }
    }
    msg_arena_close(a);
    return 0;
}

/* Trade payloads: the fast decoder either declines or agrees with protobuf-c. */
static void trade_differential(const uint8_t *data, size_t size)
{
    Meshpb__Trade *f;
    msg_arena_reset(arena);
    msg_arena_reset(arena2);
    if (msg_fast_trade_decode(data, size, arena, &f) != 0)
        return;
    ProtobufCMessage *r = protobuf_c_message_unpack(&meshpb__trade__descriptor,
                                                    msg_arena_allocator(arena2), size, data);
    char why[256];
    if (r == NULL || !tu_equal(&f->base, r, why, sizeof why))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (arena == NULL &&
        (msg_arena_open(&arena, 1 << 20) < 0 || msg_arena_open(&arena2, 1 << 20) < 0))
        abort();
    if (size < 1)
        return 0;
    uint32_t type_id = data[0] % 16 == 15 ? data[0] : msg_type_at(data[0] % MSG_TYPE_COUNT)->id;
    if (type_id == MSG_TYPE_TRADE)
        trade_differential(data + 1, size - 1);
    ProtobufCMessage *m;
    if (msg_decode(type_id, data + 1, size - 1, arena, &m) != 0)
        return 0;
    int j = msg_json_write(m, json, sizeof json);
    if (j <= 0 && j != MESH_EMSGSIZE)
        abort();
    int n = msg_encode(m, again, sizeof again);
    if (n < 0)
        return 0; /* larger than the scratch buffer: not an error */
    ProtobufCMessage *m2;
    if (msg_decode(type_id, again, (size_t)n, arena2, &m2) != 0)
        abort();
    int n2 = msg_encode(m2, again2, sizeof again2);
    if (n2 != n || memcmp(again, again2, (size_t)n) != 0)
        abort();
    return 0;
}
