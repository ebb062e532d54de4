/* SPDX-License-Identifier: MIT */
/*
 * Deactivate scripts (ha_gs_expel): gsd forks a child that becomes the
 * expelled client's user and runs the script the client registered at
 * ha_gs_init. The runner never blocks: each child is watched through a
 * pidfd in one epoll set that the broker polls, and its end is reported as
 * an outcome the broker feeds to the engine (DeactivateFinished). The time
 * limit is the engine's: when it passes, the engine asks for the script to
 * be stopped, and the runner kills the script's process group.
 */
#pragma once

#include "engine/engine.hpp"
#include "gsd/unique_fd.hpp"

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

    /* Kills every running script (gsd is shutting down). */
    void stopAll();

    /* Runs that ended since the last call, each with its outcome
     * (HA_GS_DEACTIVATE_SUCCESSFUL or HA_GS_DEACTIVATE_UNSUCCESSFUL). */
    std::vector<std::pair<DeactivateId, uint32_t>> finished();

    size_t running() const { return children_.size(); }

  private:
    struct Child {
        pid_t pid = 0;
        UniqueFd pidfd;
        bool stopped = false; /* killed at the engine's request: not reported */
    };
    UniqueFd epoll_;
    std::map<DeactivateId, Child> children_;
};

/* Whether gsd may run a script as `uid`: it is root, or it is that user. */
bool canRunAs(uid_t uid);

} // namespace gs::broker
