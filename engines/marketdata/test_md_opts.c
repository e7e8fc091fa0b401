/* Tests of mesh-marketdata's command line: every value is taken exactly or
 * refused with an error naming the option (nothing truncated or clamped);
 * expected values are the literal arguments. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "md_opts.h"
#include "mesh_error.h"

#define S 1000000000ull

static md_opts o;
static char err[256];

/* Parses the words of `line` (space-separated) after a program name, over
 * the defaults. Returns md_opts_parse's result. */
static int parse(const char *line)
{
    static char buf[512];
    char *argv[32] = {"mesh-marketdata"};
    int argc = 1;
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *w = strtok(buf, " "); w && argc < 31; w = strtok(NULL, " "))
        argv[argc++] = w;
    md_opts_default(&o, 7 * S);
    err[0] = '\0';
    return md_opts_parse(&o, argc, argv, err, sizeof(err));
}

/* line is refused, and the error contains each of the phrases. */
static void refused(const char *line, const char *phrase1, const char *phrase2)
{
    cr_assert_eq(parse(line), MESH_EINVAL, "'%s' accepted", line);
    cr_assert(strstr(err, phrase1) != NULL, "'%s': error '%s' lacks '%s'", line, err, phrase1);
    cr_assert(strstr(err, phrase2) != NULL, "'%s': error '%s' lacks '%s'", line, err, phrase2);
}

Test(md_opts, no_options_give_the_documented_defaults)
{
    cr_assert_eq(parse(""), 0, "%s", err);
    cr_assert_eq(o.ckpt_ms, 20);
    cr_assert_eq(o.bar_ns, S);
    cr_assert_eq(o.quotes, 1);
    cr_assert_eq(o.feed.kind, MD_FEED_SYNTHETIC);
    cr_assert_eq(o.feed.speed, 1.0);
    cr_assert_eq(o.feed.synth.start_ts_ns, 7 * S);
}

Test(md_opts, checkpoint_ms_takes_whole_milliseconds_up_to_an_hour)
{
    cr_assert_eq(parse("--checkpoint-ms 0"), 0, "%s", err);
    cr_assert_eq(o.ckpt_ms, 0);
    cr_assert_eq(parse("--checkpoint-ms 3600000"), 0, "%s", err);
    cr_assert_eq(o.ckpt_ms, 3600000);
    cr_assert_eq(parse("--checkpoint-ms=250"), 0, "%s", err);
    cr_assert_eq(o.ckpt_ms, 250);
    /* 0.5 used to become 0: checkpoints silently off */
    refused("--checkpoint-ms 0.5", "--checkpoint-ms '0.5'", "0..3600000");
    refused("--checkpoint-ms x", "--checkpoint-ms 'x'", "whole number");
    refused("--checkpoint-ms 3600001", "--checkpoint-ms", "0..3600000");
    refused("--checkpoint-ms -1", "--checkpoint-ms '-1'", "0..3600000");
    refused("--checkpoint-ms 1e3", "--checkpoint-ms '1e3'", "whole number");
    refused("--checkpoint-ms", "--checkpoint-ms", "value is missing");
}

Test(md_opts, whole_number_options_refuse_fractions_naming_the_option)
{
    cr_assert_eq(parse("--symbols 4096 --seed 18446744073709551615"), 0, "%s", err);
    cr_assert_eq(o.feed.synth.n_symbols, 4096);
    /* exact: a double would have made it 2^64, past the type */
    cr_assert_eq(o.feed.synth.seed, 18446744073709551615ull);
    cr_assert_eq(parse("--seed 9007199254740993"), 0, "%s", err); /* 2^53 + 1 */
    cr_assert_eq(o.feed.synth.seed, 9007199254740993ull);
    refused("--symbols 2.5", "--symbols '2.5'", "whole number 1..4096");
    refused("--symbols 0", "--symbols '0'", "1..4096");
    refused("--symbols 4097", "--symbols '4097'", "1..4096");
    refused("--seed x", "--seed 'x'", "whole number");
    refused("--seed -3", "--seed '-3'", "whole number");
    refused("--seed 18446744073709551616", "--seed", "whole number");
    refused("--start-ts 1.5", "--start-ts '1.5'", "whole number");
}

Test(md_opts, durations_in_seconds_become_ns_and_bad_ones_name_the_option)
{
    cr_assert_eq(parse("--episode-first 2.5 --episode-len 0.3 --episode-period 10 "
                       "--episode-stagger 0 --bar-seconds 0.25"),
                 0, "%s", err);
    cr_assert_eq(o.feed.synth.episode.first_ns, 2500000000ull);
    cr_assert_eq(o.feed.synth.episode.len_ns, 300000000ull, "0.3 s, not 299999999 ns");
    cr_assert_eq(o.feed.synth.episode.period_ns, 10 * S);
    cr_assert_eq(o.feed.synth.episode_stagger_ns, 0);
    cr_assert_eq(o.bar_ns, 250000000ull);
    refused("--episode-len abc", "--episode-len 'abc'", "number");
    refused("--episode-first -1", "--episode-first '-1'", "number");
    refused("--episode-period 1e30", "--episode-period '1e30'", "number");
    refused("--episode-stagger nan", "--episode-stagger 'nan'", "number");
    refused("--bar-seconds 0.0001", "--bar-seconds '0.0001'", "0.001");
}

Test(md_opts, numbers_and_words_out_of_range_name_the_option)
{
    cr_assert_eq(parse("--speed 0 --rate 10 --quote-rate 0 --informed 1 --episode-move 0.01"), 0,
                 "%s", err);
    cr_assert_eq(o.feed.speed, 0.0);
    cr_assert_eq(o.feed.synth.trade_rate_hz, 10.0);
    cr_assert_eq(o.feed.synth.informed_fraction, 1.0);
    refused("--speed -1", "--speed '-1'", ">= 0");
    refused("--rate 0", "--rate '0'", "number");
    refused("--quote-rate q", "--quote-rate 'q'", "number");
    refused("--informed 0.4", "--informed '0.4'", "[0.5, 1]");
    refused("--informed 1.5", "--informed '1.5'", "[0.5, 1]");
    refused("--episode-move inf", "--episode-move 'inf'", "number");
    refused("--feed tcp", "--feed 'tcp'", "synthetic or csv");
    refused("--csv-errors ignore", "--csv-errors 'ignore'", "skip or stop");
    refused("--feed csv", "--feed csv needs --csv FILE", "--csv");
    refused("--bogus 1", "'--bogus'", "unknown");
    refused("--no-quotes extra", "unexpected argument 'extra'", "--help");
}

Test(md_opts, a_csv_replay_takes_its_file_and_policy)
{
    cr_assert_eq(parse("--csv /data/t.csv --csv-errors stop --no-quotes"), 0, "%s", err);
    cr_assert_eq(o.feed.kind, MD_FEED_CSV);
    cr_assert_str_eq(o.feed.csv_path, "/data/t.csv");
    cr_assert_eq(o.feed.csv_policy, MD_CSV_STOP);
    cr_assert_eq(o.quotes, 0);
}
