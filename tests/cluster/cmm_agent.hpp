/* SPDX-License-Identifier: MIT */
/*
 * A CMM application at one node of a test cluster, through cmm.h only: a
 * forked process (libcgha_cmm's connection and registration are per
 * process) that connects to its node's gsd, registers a callback at once
 * and then runs the commands the test sends it, while it records every
 * notification it dispatches.
 *
 * Lines, child to parent: "= <answer>" for each command, "! <KIND> <node>
 * <ms>" for each notification (KIND without the CMM_ prefix, ms on the
 * monotonic clock when the callback ran, comparable with nowMs()).
 */
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace cluster {

/* One notification as the agent's callback saw it. */
struct CmmNote {
    std::string kind; /* "MASTER_ELECTED", ... */
    unsigned node = 0;
    int64_t atMs = 0;
    std::string text() const { return kind + "(" + std::to_string(node) + ")"; }
};

class CmmAgent {
  public:
    /* Forks the agent at `endpoint` (a node's HA_GS_SOCKET) and waits until
     * it has registered; `ready()` says whether it did. */
    CmmAgent(std::string name, const std::string &endpoint);
    ~CmmAgent();
    CmmAgent(const CmmAgent &) = delete;
    CmmAgent &operator=(const CmmAgent &) = delete;

    const std::string &name() const { return name_; }
    bool ready() const { return ready_; }
    const std::string &registration() const { return registration_; }

    /* Runs one command, returns its answer ("" when the agent did not answer
     * within `timeoutMs`). Commands:
     *   view          "count=N members=[1:name:M 2:name:V 3:name:-]
     *                  master=1 vice=2" (a role's rc name when the query
     *                  fails, e.g. master=ENOCLUSTER; "getall=<rc>" when
     *                  cmm_member_getall fails); M master, V vice-master,
     *                  O out of the cluster, - none
     *   self          "me=N rc=<getinfo rc> flags=<M|V|O|->"
     *   potential N   "OK <name> <M|V|O|-> eligible|ineligible", or the rc
     *   release       the rc of cmm_mastership_release ("OK", "ECANCELED")
     *   remove        the rc of cmm_membership_remove
     *   qualify N / disqualify N   cmm_member_setqualif on node N
     *   seize         cmm_member_seizequalif
     *   reload        cmm_config_reload */
    std::string call(const std::string &command, int timeoutMs = 20000);

    /* Notifications so far, in dispatch order. */
    const std::vector<CmmNote> &notes();
    /* The texts ("KIND(node)") of the notifications from index `from`. */
    std::vector<std::string> texts(size_t from = 0);
    /* When the latest notification `text` ("KIND(node)") from index `from`
     * on was dispatched (monotonic ms), or -1. */
    int64_t when(const std::string &text, size_t from = 0);
    /* Waits until at least `count` notifications have arrived in total. */
    bool waitNotes(size_t count, int timeoutMs);
    /* Waits until no notification arrives for `quietMs`; returns the count. */
    size_t settle(int quietMs, int timeoutMs = 10000);
    /* Waits for `count` notifications in total, then `quietMs` for any that
     * should not come; returns the texts of all of them. */
    std::vector<std::string> waitTexts(size_t count, int quietMs = 1500, int timeoutMs = 20000);

  private:
    /* Reads what is there, waiting at most `waitMs`; false at EOF. */
    bool pump(int waitMs);

    std::string name_;
    pid_t pid_ = -1;
    int toChild_ = -1;
    int fromChild_ = -1;
    bool ready_ = false;
    std::string registration_;
    std::string buffer_;
    std::vector<std::string> answers_;
    std::vector<CmmNote> notes_;
};

/* "A(1) B(2)": for messages. */
std::string joined(const std::vector<std::string> &texts);

} // namespace cluster
