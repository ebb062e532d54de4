/* SPDX-License-Identifier: MIT */
/* gsctl: what gsd is doing, for the people who run it. Each command is one
 * query of an admin session (docs/wire-protocol.md, "Admin sessions"); the
 * answer is printed as a table, or as gsd's JSON with --json. */
#include "common/endpoint.hpp"
#include "tools/gsctl/admin_client.hpp"
#include "tools/gsctl/render.hpp"

#include "ha_gs.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace {

using gs::gsctl::AdminClient;
using gs::gsctl::Failure;
using nlohmann::json;

volatile std::sig_atomic_t interrupted = 0;

extern "C" void onInterrupt(int)
{
    interrupted = 1;
}

struct Options {
    std::string endpoint;
    bool json = false;
    double timeout = 5;
    std::string group;
    long count = 0;
    double duration = 0;
};

/* The answer to one query: its document, or a Failure. */
std::string query(AdminClient &client, const Options &options, const std::string &what,
                  const std::optional<std::string> &group)
{
    const auto deadline = AdminClient::Clock::now() +
                          std::chrono::milliseconds(static_cast<long>(options.timeout * 1000));
    const gs::wire::AdminReply reply = client.ask(what, group, deadline);
    if (reply.rc == HA_GS_UNKNOWN_GROUP)
        throw Failure(gs::gsctl::kExitNoSuchGroup, reply.text);
    if (reply.rc != HA_GS_OK)
        throw Failure(gs::gsctl::kExitRefused, "gsd refused '" + what + "': " + reply.text);
    return reply.text;
}

void print(const std::string &text)
{
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
        throw Failure(gs::gsctl::kExitUnreachable,
                      std::string("cannot write the answer: ") + std::strerror(errno));
}

/* Prints the events of the stream until --count, --duration or Ctrl-C. */
void follow(AdminClient &client, const Options &options)
{
    const auto until =
        options.duration > 0
            ? AdminClient::Clock::now() +
                  std::chrono::milliseconds(static_cast<long>(options.duration * 1000))
            : AdminClient::Clock::time_point::max();
    long seen = 0;
    client.follow(
        [&](const std::string &event) {
            print(options.json ? event + "\n" : gs::gsctl::renderEvent(json::parse(event)) + "\n");
            return options.count == 0 || ++seen < options.count;
        },
        until);
}

int run(const std::string &command, const Options &options)
{
    const auto deadline = AdminClient::Clock::now() +
                          std::chrono::milliseconds(static_cast<long>(options.timeout * 1000));
    AdminClient client(options.endpoint, deadline, [] { return interrupted != 0; });
    if (command == "events") {
        const std::optional<std::string> group =
            options.group.empty() ? std::nullopt : std::optional(options.group);
        query(client, options, "events", group);
        try {
            follow(client, options);
        } catch (const Failure &failure) {
            /* Ctrl-C is how a stream ends. */
            if (failure.status != gs::gsctl::kExitInterrupted)
                throw;
        }
        return 0;
    }
    if (command == "metrics") {
        const std::string text = query(client, options, "metrics", std::nullopt);
        print(options.json ? gs::gsctl::parseMetrics(text).dump() + "\n" : text);
        return 0;
    }
    const std::optional<std::string> group =
        command == "group" ? std::optional(options.group) : std::nullopt;
    const std::string text = query(client, options, command, group);
    if (options.json) {
        print(text + "\n");
        return 0;
    }
    const json doc = json::parse(text);
    if (command == "groups")
        print(gs::gsctl::renderGroups(doc));
    else if (command == "group")
        print(gs::gsctl::renderGroup(doc));
    else if (command == "clients")
        print(gs::gsctl::renderClients(doc));
    else if (command == "nodes")
        print(gs::gsctl::renderNodes(doc));
    else
        print(gs::gsctl::renderStats(doc));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    Options options;
    CLI::App app{"gsctl - look into a running gsd (Group Services): its groups, protocols, "
                 "clients, nodes, events and counters"};
    app.set_version_flag("--version", "gsctl " HA_GS_VERSION);
    app.add_option("--socket", options.endpoint,
                   "gsd's ipc:// endpoint (default: $HA_GS_SOCKET, else " + gs::defaultEndpoint() +
                       ")")
        ->type_name("ENDPOINT");
    app.add_flag("--json", options.json,
                 "print gsd's JSON document instead of a table (events: one object per line)");
    app.add_option("--timeout", options.timeout,
                   "seconds to wait for gsd's answer (0.1 to 3600; default 5)")
        ->type_name("SECONDS")
        ->check(CLI::Range(0.1, 3600.0).description(""));
    app.require_subcommand(1);
    /* The global options after the command too: gsctl events --json. */
    app.fallthrough();
    app.footer("Only root, gsd's own user and members of gsd's admin group (gsd --admin-group, "
               "default hagsadmin) may use gsctl.\n"
               "Exit status: 0 done; 1 gsd not reachable, gone or silent; 3 not authorized; "
               "4 no such group; 5 gsd refused the query; 130 interrupted.\nSee gsctl(8).");

    app.add_subcommand("groups", "the groups: providers, subscribers, the protocol running");
    auto *group = app.add_subcommand(
        "group", "one group: providers (instance, node, pid, local name), subscribers by node, "
                 "state value, attributes, the running protocol with its phase, time left and "
                 "the providers that have not voted yet, queued changes");
    group->add_option("NAME", options.group, "the group's name")->type_name("")->required();
    app.add_subcommand("clients",
                       "this gsd's sessions (pid, uid, tokens, bytes queued for them), and the "
                       "GSAPI clients of other nodes");
    app.add_subcommand("nodes", "the domain: its nodes, quorum, who holds the state, CMM roles");
    auto *events = app.add_subcommand(
        "events", "follow what happens (protocols, phases, votes, time limits, outcomes, "
                  "clients and nodes gone, sync), one line or JSON object per event, until "
                  "interrupted");
    events->add_option("--group", options.group, "only the events of this group")
        ->type_name("NAME");
    events->add_option("--count", options.count, "stop after this many events")
        ->type_name("N")
        ->check(CLI::PositiveNumber.description(""));
    events->add_option("--duration", options.duration, "stop after this many seconds")
        ->type_name("SECONDS")
        ->check(CLI::PositiveNumber.description(""));
    app.add_subcommand("stats", "counters since gsd started and the values of the moment");
    app.add_subcommand("metrics",
                       "the same in Prometheus' text format (for node_exporter's textfile "
                       "collector or a scrape); with --json as a list of samples");
    CLI11_PARSE(app, argc, argv);

    if (options.endpoint.empty())
        options.endpoint = gs::resolveEndpoint();
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    /* SIGPIPE fatal, whatever the parent left: `gsctl events | head -1`
     * ends with head. */
    std::signal(SIGPIPE, SIG_DFL);
    try {
        return run(app.get_subcommands().front()->get_name(), options);
    } catch (const Failure &failure) {
        std::fprintf(stderr, "gsctl: %s\n", gs::gsctl::printable(failure.what()).c_str());
        return failure.status;
    } catch (const std::exception &error) {
        std::fprintf(stderr, "gsctl: %s\n", error.what());
        return 1;
    }
}
