/* SPDX-License-Identifier: MIT */
/* gsctl across a domain: any node shows the same groups, protocols and
 * domain view; what only a client's node knows (pid, local name) is there
 * and null elsewhere; every node's event stream lists the domain's group
 * events in the same order. */
#include "../support/gsctl_json.hpp"
#include "../support/notify_socket.hpp"
#include "domain.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>

using namespace cluster;
using nlohmann::json;
using test_support::gsctlPath;
using test_support::providerOf;
using namespace std::chrono_literals;

namespace {

/* gsctl --json ARGS against node k's gsd. */
json ask(Cluster &c, int node, std::vector<std::string> args, int timeoutMs = 10000)
{
    std::vector<std::string> argv{gsctlPath(), "--socket", c.endpoint(node), "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    const Run run = c.runIn(node, argv, timeoutMs);
    INFO("gsctl at node " << node << ": " << run.output);
    REQUIRE(run.ok());
    return json::parse(run.output);
}

/* An event reduced to what the domain decides (no time, latency, pid). */
std::string shape(const json &e)
{
    std::string text = e.at("event").get<std::string>();
    const auto instances = [](const json &list) {
        std::string out;
        for (const auto &p : list)
            out += (out.empty() ? "" : ",") + p.at("instance").dump() + "@" + p.at("node").dump();
        return "[" + out + "]";
    };
    if (e.contains("protocol"))
        text += " " + e.at("protocol").get<std::string>();
    if (e.contains("phase"))
        text += " phase=" + e.at("phase").dump();
    if (e.contains("voters"))
        text += " voters=" + instances(e.at("voters"));
    if (e.contains("provider"))
        text += " " + instances(json::array({e.at("provider")})) + " " +
                e.at("vote").get<std::string>();
    if (e.contains("changing"))
        text += " changing=" + instances(e.at("changing"));
    return text;
}

} // namespace

TEST_CASE("cluster: gsctl shows the domain from any node, and the same events everywhere")
{
    Cluster c;
    startDomain(c, {1, 2, 3});
    /* Node 3 streams the group's events from before its first join. */
    Run streamed;
    std::thread stream([&] {
        streamed = c.runIn(3,
                           {gsctlPath(), "--socket", c.endpoint(3), "--json", "events", "--group",
                            "g", "--count", "13"},
                           60000);
    });
    const auto streaming = [&] {
        const json clients = ask(c, 3, {"clients"});
        for (const auto &s : clients.at("sessions"))
            if (s.at("streaming").get<bool>())
                return true;
        return false;
    };
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!streaming() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);

    auto p1 = clientAt(c, 1, "p1");
    auto p2 = clientAt(c, 2, "p2");
    REQUIRE(p1->rc("autovote g approve") == "HA_GS_OK");
    REQUIRE(p1->rc("join g 1 phases=n tl=30 local=alpha") == "HA_GS_OK");
    p1->waitFor({"g: approved JOIN"});
    REQUIRE(p1->rc("autovote g none") == "HA_GS_OK");
    /* p2 joins; p1 votes, then p2 (each vote answered, so ordered). */
    REQUIRE(p2->rc("join g 2 phases=n tl=30 local=beta") == "HA_GS_OK");
    p1->waitFor({"g: nphase JOIN"});
    p2->waitFor({"g: nphase JOIN"});
    REQUIRE(p1->rc("vote g approve") == "HA_GS_OK");
    REQUIRE(p2->rc("vote g approve") == "HA_GS_OK");
    p1->waitFor({"g: approved JOIN"});
    /* A state change p2 never votes on. */
    REQUIRE(p1->rc("state g v2 phases=n tl=30") == "HA_GS_OK");
    p1->waitFor({"g: nphase STATE_VALUE_CHANGE"});
    REQUIRE(p1->rc("vote g approve") == "HA_GS_OK");

    stream.join();
    INFO(streamed.output);
    CHECK(streamed.ok());
    std::vector<std::string> seen;
    size_t start = 0;
    for (size_t end; (end = streamed.output.find('\n', start)) != std::string::npos;
         start = end + 1) {
        const json e = json::parse(streamed.output.substr(start, end - start));
        CHECK(e.at("node") == 3);
        seen.push_back(shape(e));
    }
    const std::vector<std::string> expected{
        "group_created",
        "protocol_proposed HA_GS_JOIN changing=[1@1]",
        "phase_opened HA_GS_JOIN phase=1 voters=[1@1]",
        "vote phase=1 [1@1] HA_GS_VOTE_APPROVE",
        "protocol_approved HA_GS_JOIN changing=[1@1]",
        "protocol_proposed HA_GS_JOIN changing=[2@2]",
        "phase_opened HA_GS_JOIN phase=1 voters=[1@1,2@2]",
        "vote phase=1 [1@1] HA_GS_VOTE_APPROVE",
        "vote phase=1 [2@2] HA_GS_VOTE_APPROVE",
        "protocol_approved HA_GS_JOIN changing=[2@2]",
        "protocol_proposed HA_GS_STATE_VALUE_CHANGE changing=[]",
        "phase_opened HA_GS_STATE_VALUE_CHANGE phase=1 voters=[1@1,2@2]",
        "vote phase=1 [1@1] HA_GS_VOTE_APPROVE",
    };
    CHECK(seen == expected);

    /* The stuck protocol, from node 3 (no client there): the missing
     * voter by instance and node, its pid only where it runs. */
    const json at3 = ask(c, 3, {"group", "g"});
    INFO(at3.dump(2));
    const json &protocol = at3.at("protocol");
    CHECK(protocol.at("type") == "HA_GS_STATE_VALUE_CHANGE");
    REQUIRE(protocol.at("not_voted").size() == 1);
    CHECK(protocol.at("not_voted")[0].at("instance") == 2);
    CHECK(protocol.at("not_voted")[0].at("node") == 2);
    CHECK(protocol.at("not_voted")[0].at("pid").is_null());
    CHECK(protocol.at("time_left_ms").get<int64_t>() > 0);
    CHECK(protocol.at("time_left_ms").get<int64_t>() <= 30000);
    CHECK(providerOf(at3.at("providers"), 1).at("local_name").is_null());
    const json at2 = ask(c, 2, {"group", "g"});
    CHECK(at2.at("protocol").at("not_voted")[0].at("pid") == p2->pid());
    CHECK(providerOf(at2.at("providers"), 2).at("local_name") == "beta");
    const json at1 = ask(c, 1, {"group", "g"});
    CHECK(providerOf(at1.at("providers"), 1).at("local_name") == "alpha");
    CHECK(providerOf(at1.at("providers"), 1).at("pid") == p1->pid());
    /* The replica's part is the same everywhere. */
    for (const json *view : {&at1, &at2}) {
        CHECK(view->at("state") == at3.at("state"));
        CHECK(view->at("attributes") == at3.at("attributes"));
        CHECK(view->at("protocol").at("phase") == protocol.at("phase"));
        CHECK(view->at("protocol").at("voters").size() == protocol.at("voters").size());
    }

    /* The domain as node 3 sees it. */
    const json nodes = ask(c, 3, {"nodes"});
    CHECK(nodes.at("node") == 3);
    CHECK(nodes.at("cluster") == true);
    CHECK(nodes.at("synced") == true);
    CHECK(nodes.at("domain").at("quorate") == true);
    CHECK(nodes.at("domain").at("members") == json::array({1, 2, 3}));
    CHECK(nodes.at("domain").at("synced") == json::array({1, 2, 3}));
    CHECK(nodes.at("hosts") == json::array({1, 2, 3}));
    CHECK(nodes.at("cmm").at("nodes").size() == 3);
    CHECK_FALSE(nodes.at("cmm").at("master").is_null());
    const json clients = ask(c, 3, {"clients"});
    std::vector<int> remoteNodes;
    for (const auto &r : clients.at("other_nodes"))
        remoteNodes.push_back(r.at("node").get<int>());
    std::sort(remoteNodes.begin(), remoteNodes.end());
    CHECK(remoteNodes == std::vector<int>{1, 2});

    /* Node 2's gsd dies: node 3 shows it gone from the domain. */
    c.killGsd(2, SIGKILL);
    REQUIRE(c.waitGsdExit(2, 5000).has_value());
    json after;
    const auto gone = std::chrono::steady_clock::now() + 20s;
    do {
        std::this_thread::sleep_for(100ms);
        after = ask(c, 3, {"nodes"});
    } while (after.at("hosts") != json::array({1, 3}) && std::chrono::steady_clock::now() < gone);
    CHECK(after.at("hosts") == json::array({1, 3}));
    CHECK(after.at("domain").at("members") == json::array({1, 3}));
    const json stats = ask(c, 3, {"stats"});
    CHECK(stats.at("nodes_gone") == 1);
}

#ifdef HA_GS_HAVE_LIBSYSTEMD
TEST_CASE("cluster: gsd --cluster tells its service manager READY=1 only once it holds the "
          "domain's state")
{
    Cluster c;
    startDomain(c, {1, 2});
    /* Node 3's Corosync is cut off: its gsd starts, serves its socket, but
     * cannot sync. */
    c.cut(3);
    REQUIRE(c.waitInquorate(3));
    test_support::NotifySocket manager(c.socketPath(3) + ".notify");
    REQUIRE(setenv("NOTIFY_SOCKET", (c.socketPath(3) + ".notify").c_str(), 1) == 0);
    c.startGsd(3);
    unsetenv("NOTIFY_SOCKET");
    /* Serving its socket, not the domain: no READY=1 yet. */
    CHECK(c.probeInit(3) == HA_GS_CONNECT_FAILED);
    const std::string early = manager.receive(1500);
    CHECK(early.find("READY=1") == std::string::npos);
    c.heal(3);
    std::string ready = early;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (ready.find("READY=1") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
        ready = manager.receive(1000);
    INFO(c.describe());
    REQUIRE(ready.find("READY=1") != std::string::npos);
    CHECK(ready.find("STATUS=serving ") != std::string::npos);
    /* Ready means clients are served. */
    CHECK(c.probeInit(3) == HA_GS_OK);
}
#endif
