/* Bridge sequencing: the receiver's verdicts and gap counts, the sender's
 * window of unacknowledged frames, and the receiver's ack queue. */
#include <criterion/criterion.h>
#include <string.h>

#include "bridge_seq.h"
#include "mesh_error.h"

static bridge_frame_hdr frame(uint64_t epoch, uint64_t prev, uint32_t sync, int is_sync)
{
    bridge_frame_hdr h = {.kind = BRIDGE_FRAME_DATA,
                          .flags = is_sync ? BRIDGE_FRAME_SYNC : 0,
                          .epoch = epoch,
                          .seq = prev,
                          .sync = sync};
    return h;
}

/* Applies records first..last (all present) the way the receiver does. */
static void apply(bridge_rxseq *s, uint64_t first, uint64_t last)
{
    for (uint64_t q = first; q <= last; q++) {
        uint64_t missing;
        cr_assert_eq(bridge_rxseq_record(s, q, &missing), 1, "seq %llu", (unsigned long long)q);
        bridge_rxseq_applied(s, q);
    }
}

Test(rxseq, drop_route_counts_records_missing_between_frames)
{
    bridge_rxseq s = {0};
    bridge_rx_decision d;
    bridge_frame_hdr h = frame(7, 0, 0, 0);
    bridge_rxseq_frame(&s, &h, 0, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert(d.new_stream, "first frame sets the baseline");
    apply(&s, 1, 10);
    /* next frame says the record before it was 15: 11..15 are missing = 5 */
    h = frame(7, 15, 0, 0);
    bridge_rxseq_frame(&s, &h, 0, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert_eq(d.gap, 5);
    cr_assert_eq(s.last, 15);
    cr_assert_not(d.new_stream);
}

Test(rxseq, a_forged_sequence_number_claims_at_most_2_to_the_32_missing)
{
    bridge_rxseq s = {.known = 1, .epoch = 7, .last = 10};
    bridge_rx_decision d;
    /* prev = 2^64 - 2: without a bound, 2^64 - 12 records would be "missing" */
    bridge_frame_hdr h = frame(7, UINT64_MAX - 1, 0, 0);
    bridge_rxseq_frame(&s, &h, 0, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert_eq(d.gap, 4294967296ull, "capped at 2^32");
    cr_assert(d.gap_capped);
    /* exactly 2^32 missing is not capped: 10 + 2^32 */
    bridge_rxseq t = {.known = 1, .epoch = 7, .last = 10};
    h = frame(7, 10 + 4294967296ull, 0, 0);
    bridge_rxseq_frame(&t, &h, 0, &d);
    cr_assert_eq(d.gap, 4294967296ull);
    cr_assert_not(d.gap_capped);
}

Test(rxseq, missing_records_inside_a_frame_are_counted_per_record)
{
    bridge_rxseq s = {.known = 1, .epoch = 7, .last = 10};
    uint64_t missing;
    cr_assert_eq(bridge_rxseq_record(&s, 11, &missing), 1);
    cr_assert_eq(missing, 0);
    bridge_rxseq_applied(&s, 11);
    /* 12, 13 and 14 missing before 15: 15 - 11 - 1 = 3 */
    cr_assert_eq(bridge_rxseq_record(&s, 15, &missing), 1);
    cr_assert_eq(missing, 3);
}

Test(rxseq, duplicates_are_skipped)
{
    bridge_rxseq s = {.known = 1, .epoch = 7, .last = 10};
    uint64_t missing = 99;
    cr_assert_eq(bridge_rxseq_record(&s, 10, &missing), 0);
    cr_assert_eq(missing, 0);
    cr_assert_eq(bridge_rxseq_record(&s, 3, &missing), 0);
}

Test(rxseq, wait_route_needs_a_sync_frame_to_start)
{
    bridge_rxseq s = {0};
    bridge_rx_decision d;
    bridge_frame_hdr h = frame(7, 0, 1, 0);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_NACK, "no baseline and no SYNC");
    h = frame(7, 40, 1, 1);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert(d.new_stream);
    cr_assert_eq(d.gap, 0, "a new stream starts at the sender's resume point: no gap");
    cr_assert_eq(s.last, 40);
    cr_assert(s.synced);
    cr_assert_eq(s.sync, 1);
}

Test(rxseq, wait_route_nacks_a_frame_after_a_lost_one)
{
    bridge_rxseq s = {.known = 1, .epoch = 7, .last = 100, .synced = 1, .sync = 2};
    bridge_rx_decision d;
    bridge_frame_hdr h = frame(7, 100, 2, 0);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY, "prev == last: in sequence");
    h = frame(7, 150, 2, 0);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_NACK, "101..150 never arrived");
    cr_assert_eq(s.last, 100, "a NACK changes nothing");
    /* the resend: SYNC frame of generation 3 resuming at 100 */
    h = frame(7, 100, 3, 1);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert_eq(d.gap, 0);
    cr_assert_eq(s.sync, 3);
    /* frames of generation 2 still in flight are stale, not NACKed again */
    h = frame(7, 180, 2, 0);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_STALE);
}

Test(rxseq, wait_route_applies_an_overlapping_resend)
{
    bridge_rxseq s = {.known = 1, .epoch = 7, .last = 100, .synced = 1, .sync = 2};
    bridge_rx_decision d;
    bridge_frame_hdr h = frame(7, 80, 3, 1); /* sender rewound to 80 (its last ack) */
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert_eq(d.gap, 0);
    cr_assert_eq(s.last, 100, "what we have stays; 81..100 will be duplicates");
    uint64_t missing;
    cr_assert_eq(bridge_rxseq_record(&s, 81, &missing), 0);
    cr_assert_eq(bridge_rxseq_record(&s, 101, &missing), 1);
    cr_assert_eq(missing, 0);
}

Test(rxseq, receiver_restart_accepts_an_in_sequence_frame_without_sync)
{
    /* persisted position, not yet synced in this process */
    bridge_rxseq s = {.known = 1, .epoch = 7, .last = 100};
    bridge_rx_decision d;
    bridge_frame_hdr h = frame(7, 100, 4, 0);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert(s.synced);
    cr_assert_eq(s.sync, 4);
    bridge_rxseq s2 = {.known = 1, .epoch = 7, .last = 100};
    h = frame(7, 120, 4, 0);
    bridge_rxseq_frame(&s2, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_NACK, "records 101..120 were lost with the old process");
}

Test(rxseq, new_sender_epoch_restarts_the_stream)
{
    bridge_rxseq s = {.known = 1, .epoch = 7, .last = 5000, .synced = 1, .sync = 9};
    bridge_rx_decision d;
    bridge_frame_hdr h = frame(8, 0, 1, 0);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_NACK, "new epoch, no SYNC");
    h = frame(8, 0, 1, 1);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert(d.new_stream);
    cr_assert_eq(s.last, 0, "the recreated ring numbers from 1 again");
    cr_assert_eq(s.epoch, 8);
    /* drop route: a new epoch rebases too */
    bridge_rxseq t = {.known = 1, .epoch = 7, .last = 5000};
    h = frame(8, 0, 0, 0);
    bridge_rxseq_frame(&t, &h, 0, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert(d.new_stream);
    cr_assert_eq(d.gap, 0);
}

Test(rxseq, sync_frame_past_what_we_have_reports_the_gap)
{
    bridge_rxseq s = {.known = 1, .epoch = 7, .last = 100, .synced = 1, .sync = 2};
    bridge_rx_decision d;
    bridge_frame_hdr h = frame(7, 130, 3, 1);
    bridge_rxseq_frame(&s, &h, 1, &d);
    cr_assert_eq(d.verdict, BRIDGE_RX_APPLY);
    cr_assert_eq(d.gap, 30, "130 - 100");
    cr_assert_eq(s.last, 130);
}

Test(txwin, acks_free_whole_frames_only)
{
    static bridge_txwin w;
    bridge_txwin_clear(&w);
    cr_assert_eq(bridge_txwin_push(&w, 10, 880), 0);
    cr_assert_eq(bridge_txwin_push(&w, 25, 1320), 0);
    cr_assert_eq(bridge_txwin_push(&w, 30, 440), 0);
    cr_assert_eq(w.total, 880 + 1320 + 440);
    uint64_t to = 0;
    cr_assert_eq(bridge_txwin_ack(&w, 9, &to), 0, "frame ending at 10 not complete");
    cr_assert_eq(bridge_txwin_ack(&w, 26, &to), 2, "frames ending at 10 and 25");
    cr_assert_eq(to, 25);
    cr_assert_eq(w.total, 440);
    cr_assert_eq(bridge_txwin_ack(&w, 30, &to), 1);
    cr_assert_eq(to, 30);
    cr_assert_eq(w.n, 0);
    cr_assert_eq(w.total, 0);
}

Test(txwin, is_bounded)
{
    static bridge_txwin w;
    bridge_txwin_clear(&w);
    for (unsigned i = 0; i < BRIDGE_TXWIN_MARKS; i++)
        cr_assert_eq(bridge_txwin_push(&w, i + 1, 1), 0);
    cr_assert_eq(bridge_txwin_push(&w, BRIDGE_TXWIN_MARKS + 1, 1), MESH_ENOSPC);
    uint64_t to;
    cr_assert_eq(bridge_txwin_ack(&w, 3, &to), 3);
    cr_assert_eq(bridge_txwin_push(&w, BRIDGE_TXWIN_MARKS + 1, 1), 0, "wraps around");
    /* 1024 pushed, 3 acked, 1 more pushed: 1022 outstanding */
    cr_assert_eq(bridge_txwin_ack(&w, UINT64_MAX, &to), BRIDGE_TXWIN_MARKS - 2);
    cr_assert_eq(to, BRIDGE_TXWIN_MARKS + 1);
}

Test(ackq, acknowledges_what_the_consumer_passed)
{
    bridge_ackq q;
    cr_assert_eq(bridge_ackq_init(&q, 16), 0);
    bridge_ackq_push(&q, 1000, 10);
    bridge_ackq_push(&q, 2000, 20);
    uint64_t seq = 0;
    cr_assert_eq(bridge_ackq_consumed(&q, 999, &seq), 0);
    cr_assert_eq(bridge_ackq_consumed(&q, 1500, &seq), 1);
    cr_assert_eq(seq, 10);
    cr_assert_eq(bridge_ackq_consumed(&q, 2000, &seq), 1);
    cr_assert_eq(seq, 20);
    cr_assert_eq(q.n, 0);
    bridge_ackq_free(&q);
}

Test(ackq, when_full_the_newest_entry_moves_forward)
{
    bridge_ackq q;
    cr_assert_eq(bridge_ackq_init(&q, 8), 0);
    for (unsigned i = 1; i <= 8 + 5; i++)
        bridge_ackq_push(&q, i * 100, i);
    cr_assert_eq(q.n, 8);
    uint64_t seq = 0;
    /* entries 1..7 are intact; the eighth became (1300, 13) */
    cr_assert_eq(bridge_ackq_consumed(&q, 700, &seq), 1);
    cr_assert_eq(seq, 7);
    cr_assert_eq(bridge_ackq_consumed(&q, 800, &seq), 0,
                 "seq 8 is not acked before position 1300: conservative");
    cr_assert_eq(bridge_ackq_consumed(&q, 1300, &seq), 1);
    cr_assert_eq(seq, 13);
    bridge_ackq_free(&q);
}

Test(ackq, rejects_bad_sizes)
{
    bridge_ackq q;
    cr_assert_eq(bridge_ackq_init(&q, 0), MESH_EINVAL);
    cr_assert_eq(bridge_ackq_init(&q, BRIDGE_ACKQ_MAX + 1), MESH_EINVAL);
    bridge_ackq_free(&q); /* zeroed by the failed init: safe */
}
