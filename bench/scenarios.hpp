// SPDX-License-Identifier: MIT
/* scenarios - the measurements bench_gs runs, one function per scenario.
 * Each starts its own gsd and prints result lines (harness.hpp). */
#pragma once

#include "harness.hpp"

#include <ha_gs.h>

#include <string>
#include <vector>

namespace bench {

struct Config {
    std::string gsd;   /* path of the gsd to start */
    int iterations;    /* timed samples of the cheapest latency scenarios */
    int warmup;        /* untimed iterations before them */
    int fanoutBudget;  /* subscriber notifications per fan-out run */
    int failureRounds; /* providers killed in the failure scenario */
    int scaleGroups;   /* groups of the scale scenario */
    /* Subscriber counts of the fan-out scenarios, and provider counts of
     * fanout-parallel (each provider pushes in a group of its own). */
    std::vector<int> fanoutSubscribers;
    std::vector<int> fanoutProviders;
};

void runLatency(const Config &config);
void runNPhase(const Config &config);
void runFanout(const Config &config);
void runFanoutParallel(const Config &config);
void runFailure(const Config &config);
void runScale(const Config &config);

/* Scenario building blocks (scenario_common.cpp). */

/* Waits for `count` reports with a kind in `kinds`, running this process's
 * callbacks meanwhile (its providers may have to vote); returns the latest
 * report time among them. */
int64_t awaitReports(ReportPipe &pipe, size_t count, std::initializer_list<int32_t> kinds);

/* Starts `count` children in `role` (indices 0 to count-1), in batches of
 * 50, and waits until each reported Ready. */
std::vector<pid_t> startReadyChildren(ReportPipe &pipe, int count, const std::string &role,
                                      const std::vector<std::string> &args);

/* Starts `count` subscriber children on `group` and waits until each is
 * subscribed. `extra` goes to the role ("--each" or "--count K"). */
std::vector<pid_t> startSubscribers(ReportPipe &pipe, int count, const std::string &group,
                                    ha_gs_subscription_ctrl_t flags,
                                    const std::vector<std::string> &extra);

/* Latency of a one-phase join into `group` until the approved callback, in
 * microseconds; the provider says goodbye after it (untimed). `round`
 * picks the instance number. */
double timeOneJoin(const std::string &group, int round);
Summary measureJoin(const std::string &group, int warmup, int iterations);

/* Times of warmup + iterations state changes by `token`, the warm-up
 * dropped: until the approved callback and, with a pipe, until the last of
 * `subscribers` subscriber children reported its STATE notification
 * (without one, lastSubscriberUs repeats approvedUs). */
struct Samples {
    std::vector<double> approvedUs;
    std::vector<double> lastSubscriberUs;
};
Samples measureStateChanges(ha_gs_token_t token, ha_gs_num_phases_t phases, ReportPipe *pipe,
                            int subscribers, int warmup, int iterations);

/* Scales an iteration count, keeping a floor so that p99 means something. */
int fraction(int iterations, int divisor, int floor);

} // namespace bench
