/* SPDX-License-Identifier: MIT */
/*
 * Deactivate scripts (ha_gs_expel): gsd forks a child that becomes the
 * expelled client's user and runs the script the client registered at
 * ha_gs_init. The runner never blocks: each child is watched through a
 * pidfd in one epoll set that the broker polls, and its end is reported as
 * an outcome the broker submits to the order (DeactivateFinished). The time
 * limit is the engine's: when it passes, the engine asks for the script to
 * be stopped, and the runner kills the script's process group. The script
 * is its own session and process group; the outcome is its first process's
 * exit status, and whatever it leaves behind is killed with the group when
 * the limit passes (or at once when the group is found empty, it is let go).
 *
 * Before it executes anything, the child, already the client's user, opens
 * the script without following a final symbolic link and checks the file
 * and every directory above it (see docs/security.md); it then executes
 * that very file (fexecve). A refused script reports why through a pipe.
 */
#pragma once

#include "engine/engine.hpp"
#include "gsd/unique_fd.hpp"

#include <chrono>
#include <map>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace gs::broker {

/* What one run needs; see ha_gs_expel in ha_gs.h for argv and environment. */
struct DeactivateJob {
    std::string script; /* absolute path */
    uid_t uid = 0;      /* the client's credentials */
    gid_t gid = 0;
    std::vector<gid_t> groups; /* supplementary groups */
    pid_t clientPid = 0;
    std::string group;
    std::string flag;
    int instance = 0;
    int node = 0;
    int seconds = 0; /* the expel's time limit */
};

/* One run that ended: its outcome, and why the script was not executed
 * (empty when it was). */
struct DeactivateEnd {
    DeactivateId run = 0;
    uint32_t outcome = 0; /* HA_GS_DEACTIVATE_SUCCESSFUL or _UNSUCCESSFUL */
    std::string script;
    std::string refusal;
    bool operator==(const DeactivateEnd &) const = default;
};

class DeactivateRunner {
  public:
    DeactivateRunner(); /* throws std::system_error */
    ~DeactivateRunner();
    DeactivateRunner(const DeactivateRunner &) = delete;
    DeactivateRunner &operator=(const DeactivateRunner &) = delete;

    /* The epoll descriptor to poll for readability. */
    int fd() const { return epoll_.get(); }

    /* Starts the script. False, with the reason in `error`, when it cannot
     * start at all (gsd may not become the client's user, fork failed);
     * a script that cannot be executed starts and fails (exit status 127). */
    bool start(DeactivateId run, const DeactivateJob &job, std::string &error);

    /* Kills the run's process group; its end is not reported. */
    void stop(DeactivateId run);

    /* Kills every script and what it left behind (gsd is shutting down). */
    void stopAll();

    /* Runs whose first process ended since the last call, each with its
     * outcome; also kills the groups whose limit passed and lets go of
     * the groups found empty. */
    std::vector<DeactivateEnd> finished();

    /* Runs whose process group gsd still watches. */
    size_t running() const { return runs_.size(); }
    /* Whether gsd still watches the run's process group. */
    bool runs(DeactivateId run) const { return runs_.count(run) != 0; }

  private:
    using Clock = std::chrono::steady_clock;
    struct Run {
        pid_t pid = 0;       /* the first process, also the group's id */
        bool reaped = false; /* the first process ended and was reaped */
        UniqueFd pidfd;
        UniqueFd refusal;     /* read end: why the child did not execute the script */
        bool stopped = false; /* killed at the engine's request: not reported */
        Clock::time_point deadline;
        std::string script;
        uid_t uid = 0;
    };
    void killGroup(const Run &run);
    void sweep(); /* kills expired groups, forgets empty ones */
    void armSweep();
    UniqueFd epoll_;
    UniqueFd sweepTimer_;
    std::map<DeactivateId, Run> runs_;
};

/* Whether gsd may run a script as `uid`: it is root, or it is that user. */
bool canRunAs(uid_t uid);

} // namespace gs::broker
