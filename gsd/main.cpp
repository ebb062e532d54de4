/* SPDX-License-Identifier: MIT */
/* gsd: the Group Services daemon. Parses options, sets up logging and
 * signals, and runs one Broker in the foreground. */
#include "common/endpoint.hpp"
#include "gsd/broker.hpp"
#include "gsd/broker_error.hpp"
#include "gsd/corosync_info.hpp"
#include "gsd/cpg_order.hpp"
#include "gsd/log_setup.hpp"
#include "gsd/service_notify.hpp"
#include "gsd/timeout_budget.hpp"
#include "ha_gs.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <sys/resource.h>

namespace {

std::atomic<gs::Broker *> runningBroker{nullptr};

extern "C" void onStopSignal(int)
{
    if (gs::Broker *broker = runningBroker.load())
        broker->stop();
}

extern "C" void onReloadSignal(int)
{
    if (gs::Broker *broker = runningBroker.load())
        broker->reloadCmm();
}

extern "C" void onDumpSignal(int)
{
    if (gs::Broker *broker = runningBroker.load())
        broker->dumpState();
}

void handle(int signal, void (*handler)(int))
{
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(signal, &action, nullptr);
}

/* The usual signals of a daemon; none of them may kill gsd without its
 * clients being told and its socket and lock removed. */
void installSignalHandlers()
{
    for (int stop : {SIGTERM, SIGINT, SIGQUIT})
        handle(stop, onStopSignal);
    handle(SIGHUP, onReloadSignal);
    for (int dump : {SIGUSR1, SIGUSR2})
        handle(dump, onDumpSignal);
    std::signal(SIGPIPE, SIG_IGN);
}

/* The CMM node table of a domain without --cmm-nodes: Corosync's nodelist,
 * every node master-eligible, named by its `name` (else its ring0_addr). */
gs::cmm::NodeTable cmmTableFromNodelist(const std::vector<gs::CorosyncNode> &nodes)
{
    gs::cmm::NodeTable table;
    for (const gs::CorosyncNode &node : nodes) {
        gs::cmm::NodeConfig row;
        row.id = static_cast<cmm_nodeid_t>(node.nodeId);
        row.name = node.name.empty() ? node.ring0Addr : node.name;
        row.address = node.ring0Addr;
        row.domain = 1;
        row.eligible = true;
        table.push_back(std::move(row));
    }
    return table;
}

/* gsd --cluster: the order of the domain over the local Corosync, this
 * node's number from it, the timeouts fitted to its totem settings and,
 * without --cmm-nodes, the CMM node table from its nodelist. Throws
 * BrokerError saying why gsd cannot start. */
std::unique_ptr<gs::Order> joinDomain(gs::BrokerConfig &config, bool nodeNumberGiven,
                                      bool allowSlowTotem)
{
    using gs::BrokerError;
    if (config.cmmIneligible)
        throw BrokerError(BrokerError::Kind::Config,
                          "--cmm-ineligible changes this node's row only, and the CMM node table "
                          "is the domain's: with --cluster, mark the node in a --cmm-nodes table "
                          "(the same on every node)");
    auto order = std::make_unique<gs::CpgOrder>(gs::CpgOrderConfig{config.domain});
    const int16_t node = order->nodeId();
    if (nodeNumberGiven && node != config.nodeNumber)
        throw BrokerError(BrokerError::Kind::Config,
                          fmt::format("--node-number {} differs from Corosync's node id {} of this "
                                      "node: with --cluster the node number is Corosync's (leave "
                                      "--node-number out, or fix nodeid in corosync.conf)",
                                      config.nodeNumber, node));
    config.nodeNumber = node;

    const gs::CorosyncInfo corosync = gs::readCorosyncInfo();
    const gs::broker::TotemTimes totem{std::chrono::milliseconds(corosync.tokenMs),
                                       std::chrono::milliseconds(corosync.consensusMs)};
    const gs::broker::TimeoutPlan plan = gs::broker::planTimeouts(totem);
    for (const std::string &problem : plan.problems) {
        const std::string line = fmt::format(
            "Corosync's totem token {} ms + consensus {} ms (+ {} ms to re-sync) is too "
            "slow for the clients: {}",
            totem.token.count(), totem.consensus.count(), gs::broker::kSyncAllowance.count(),
            problem);
        if (!allowSlowTotem)
            throw BrokerError(BrokerError::Kind::Config,
                              line + " (docs/cluster.md, \"Tuning\"; --allow-slow-totem starts "
                                     "anyway)");
        spdlog::warn("{}; starting anyway (--allow-slow-totem): while the domain re-forms, "
                     "clients may time out and take gsd for dead",
                     line);
    }
    config.orderWait = plan.orderWait;
    spdlog::info("domain '{}': node {}; totem token {} ms, consensus {} ms; requests not ordered "
                 "within {} ms are answered at once",
                 config.domain, node, totem.token.count(), totem.consensus.count(),
                 plan.orderWait.count());
    if (config.cmmNodesFile.empty())
        config.cmmNodeSource = [] { return cmmTableFromNodelist(gs::readCorosyncInfo().nodes); };
    return order;
}

/* Every client costs descriptors (its connection and its pidfd). */
void raiseFileLimit()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
            spdlog::warn("cannot raise the open file limit to {}", limit.rlim_max);
    }
}

} // namespace

int main(int argc, char **argv)
{
    gs::BrokerConfig config;
    int nodeNumber = 1;
    std::string logLevel = "info";
    bool cluster = false;
    bool allowSlowTotem = false;

    CLI::App app{"gsd - the Group Services broker (GSAPI, ha_gs.h; CMM, cmm.h)"};
    app.set_version_flag("--version", "gsd " HA_GS_VERSION);
    app.add_option("--socket", config.endpoint,
                   "ZeroMQ ipc:// endpoint to serve (default: $HA_GS_SOCKET, else " +
                       gs::defaultEndpoint() + ")")
        ->type_name("ENDPOINT");
    auto *nodeNumberOption =
        app.add_option("--node-number", nodeNumber,
                       "this node's number (with --cluster: Corosync's node id, which it must "
                       "equal if given)")
            ->check(CLI::Range(1, 32767))
            ->capture_default_str();
    app.add_option("--domain", config.domain,
                   "domain name clients may ask for (with --cluster: the CPG group is "
                   "ha_gs.NAME)")
        ->capture_default_str();
    app.add_flag("--cluster", cluster,
                 "form one domain with the gsd of every node through the local Corosync (CPG); "
                 "GSAPI clients are served once this gsd holds the domain's state");
    app.add_flag("--allow-slow-totem", allowSlowTotem,
                 "with --cluster: start even when Corosync's token + consensus do not fit the "
                 "client libraries' timeouts (a warning; clients may then time out while the "
                 "domain re-forms)");
    app.add_option("--auth-group", config.authGroup,
                   "Unix group whose members may connect (besides root and gsd's user)")
        ->capture_default_str();
    app.add_option("--admin-group", config.adminGroup,
                   "Unix group whose members may use gsctl (besides root and gsd's user)")
        ->capture_default_str();
    app.add_option("--max-clients", config.limits.maxClients,
                   "most clients one node serves at once (fewer when its open file limit is "
                   "too low)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--max-groups-per-client", config.limits.maxGroupsPerClient,
                   "most groups one client may be in")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--max-providers-per-group", config.limits.maxProvidersPerGroup,
                   "most providers in one group")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--max-tokens", config.limits.maxTokens,
                   "most groups joined and subscribed to, all clients together")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--max-state-memory", config.limits.maxStateMemory,
                   "bytes of group data gsd holds, all groups together: state values, and "
                   "what n-phase proposals and votes carry until their protocols end")
        ->capture_default_str();
    app.add_option("--send-queue-limit", config.sendHighWaterMark,
                   "messages queued for one client before it counts as a slow consumer and "
                   "loses its session")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--send-queue-bytes", config.sendQueueBytes,
                   "bytes queued for one client and not yet read by it before it counts as a "
                   "slow consumer and loses its session (at least 65536)")
        ->check(CLI::Range(gs::BrokerConfig::kMinSendQueueBytes, uint64_t{1} << 40))
        ->capture_default_str();
    app.add_option("--max-request-rate", config.maxRequestRate,
                   "requests per second one client may make (votes exempt); beyond, requests "
                   "get HA_GS_NO_MEMORY (CMM: CMM_EBUSY); 0: unlimited")
        ->capture_default_str();
    app.add_option("--request-burst", config.requestBurst,
                   "requests one client may make at once after being idle (0: the rate)")
        ->capture_default_str();
    app.add_option("--cmm-nodes", config.cmmNodesFile,
                   "CMM node table: rows 'NodeId Domain_id Name Attributes' (attributes '-' or "
                   "eligible,frozen,excluded,disqualified,synchro_needed,addr=A,swload=S; "
                   "cmm-nodes(5)); default: this node alone, domain id 1, named after the host, "
                   "eligible; with --cluster, Corosync's nodelist: every node, named by its name "
                   "(else ring0_addr), all eligible")
        ->type_name("FILE");
    app.add_flag("--cmm-ineligible", config.cmmIneligible,
                 "this node may not be CMM master or vice-master (not with --cluster: mark the "
                 "node in the --cmm-nodes table instead)");
    app.add_option("--cmm-max-registrations", config.cmmMaxRegistrations,
                   "most CMM clients registered for notifications at once "
                   "(cmm_cmc_register answers CMM_ENOENT beyond)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--log-level", logLevel, "trace, debug, info, warn, error, critical or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
    /* The same options from a file, one "name = value" line each (the long
     * name without its dashes; INI or TOML syntax); the command line wins.
     * A missing default file is no error; a named one must exist, and an
     * unknown key is an error rather than a silently ignored typo. */
    app.set_config("--config", HA_GS_CONFIG_FILE,
                   "read options from this file (default: " HA_GS_CONFIG_FILE " if it exists)")
        ->type_name("FILE");
    app.allow_config_extras(CLI::config_extras_mode::error);
    CLI11_PARSE(app, argc, argv);

    gs::setUpLogging(spdlog::level::from_str(logLevel));

    config.nodeNumber = static_cast<int16_t>(nodeNumber);
    if (config.endpoint.empty())
        config.endpoint = gs::resolveEndpoint();
    raiseFileLimit();

    try {
        std::unique_ptr<gs::Order> order;
        if (cluster)
            order = joinDomain(config, nodeNumberOption->count() > 0, allowSlowTotem);
        else if (allowSlowTotem)
            spdlog::warn("--allow-slow-totem means nothing without --cluster");
        if (!order)
            order = std::make_unique<gs::LocalOrder>();
        /* READY=1 once GSAPI clients are served: at once for a domain of
         * one, in a domain once this gsd holds the domain's state; later
         * changes only change the status line. */
        config.serviceStatus = [told = false](bool serving, const std::string &status) mutable {
            if (serving && !told) {
                told = true;
                gs::notifyReady(status);
            } else {
                gs::notifyStatus(status);
            }
        };
        gs::Broker broker(config, std::move(order));
        runningBroker = &broker;
        installSignalHandlers();
        const std::string serving = fmt::format(
            "serving {} as node {} of domain '{}'{}", config.endpoint, config.nodeNumber,
            config.domain, cluster ? " (GSAPI clients once it holds the domain's state)" : "");
        spdlog::info("{}", serving);
        broker.run();
        runningBroker = nullptr;
        gs::notifyStopping("stopped serving " + config.endpoint);
        spdlog::info("stopped");
    } catch (const gs::BrokerError &error) {
        spdlog::critical("{}", error.what());
        gs::notifyStatus(std::string("failed: ") + error.what());
        return error.kind() == gs::BrokerError::Kind::InUse ? 2 : 1;
    } catch (const std::exception &error) {
        spdlog::critical("{}", error.what());
        gs::notifyStatus(std::string("failed: ") + error.what());
        return 1;
    }
    return EXIT_SUCCESS;
}
