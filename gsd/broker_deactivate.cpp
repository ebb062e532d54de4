/* SPDX-License-Identifier: MIT */
/* Deactivate scripts between the engine and the runner: RunDeactivate and
 * StopDeactivate actions in, DeactivateFinished events out. */
#include "gsd/broker_impl.hpp"

#include "gsd/auth.hpp"

#include "ha_gs.h"

#include <spdlog/spdlog.h>

namespace gs {

void Broker::Impl::execute(const RunDeactivate &run)
{
    /* A script runs on its client's node, which submits its outcome. */
    if (!isLocal(run.client))
        return;
    const broker::Session *session = sessions.find(run.client);
    std::string error;
    if (!session || session->deactivateScript.empty()) {
        /* The engine asks only for live clients with a script. */
        error = "the client has no session or no script";
    } else {
        broker::DeactivateJob job;
        job.script = session->deactivateScript;
        job.uid = session->peer.uid;
        job.gid = session->peer.gid;
        job.groups = session->peer.groups; /* SO_PEERGROUPS, at connect time */
        job.clientPid = session->peer.pid;
        job.group = run.group;
        job.flag = run.flag;
        job.instance = run.provider.instance;
        job.node = run.provider.node;
        job.seconds = run.seconds;
        if (scripts.start(run.run, job, error)) {
            spdlog::info("deactivate script {} started for provider {}.{} of group {} (uid {}, "
                         "limit {} s)",
                         job.script, job.instance, job.node, job.group, job.uid, run.seconds);
            return;
        }
    }
    spdlog::warn("deactivate script of client {} for group {} not run: {}", run.client, run.group,
                 error);
    submit(Event{DeactivateFinished{run.run, HA_GS_DEACTIVATE_UNSUCCESSFUL}});
}

void Broker::Impl::execute(const StopDeactivate &stop)
{
    /* Only the node that runs it (its client's) knows the run. */
    if (!scripts.runs(stop.run))
        return;
    spdlog::info("deactivate script run {} exceeded its time limit: killing its process group",
                 stop.run);
    scripts.stop(stop.run);
}

void Broker::Impl::onScriptsFinished()
{
    for (const auto &end : scripts.finished()) {
        if (!end.refusal.empty())
            spdlog::info("deactivate script {} not run (run {}, unsuccessful): {}", end.script,
                         end.run, end.refusal);
        else
            spdlog::info("deactivate script run {} ended: {}", end.run,
                         end.outcome == HA_GS_DEACTIVATE_SUCCESSFUL ? "successful"
                                                                    : "unsuccessful");
        submit(Event{DeactivateFinished{end.run, end.outcome}});
    }
}

} // namespace gs
